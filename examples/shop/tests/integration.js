// Integration: the service is up, healthy and runs the release Sluice deployed.
import { check, get } from './stage-client.js';

const expected = process.env.SLUICE_RELEASE_VERSION;
const health = await get('/healthz');
check(health.status === 200, `GET /healthz answers 200 (got ${health.status})`);
check(JSON.parse(health.body).version === expected, `health reports version ${expected}`);
const products = await get('/api/products');
check(products.status === 200 && JSON.parse(products.body).length > 0, 'GET /api/products lists products');
