import { createServer } from 'node:http';
import { cartTotal, products } from './catalog.js';
import { flag } from './flags.js';
import { feeLine } from './payments.js';

const port = Number(process.env.PORT ?? 3000);
const version = process.env.SLUICE_RELEASE_VERSION ?? 'dev';
const stage = process.env.SLUICE_STAGE ?? 'local';
const greeting = process.env.GREETING ?? 'Welcome';

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'x-shop-version': version });
  res.end(body);
}

// A shopper keeps one id (the router's sticky cookie), so a percentage rollout shows them the same page every time.
function shopperOf(req) {
  return /(?:^|;\s*)sluice_key=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? 'anonymous';
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://shop');
  if (url.pathname === '/healthz') return send(res, 200, 'application/json', JSON.stringify({ ok: true, version }));
  if (url.pathname === '/api/products') return send(res, 200, 'application/json', JSON.stringify(products));
  if (url.pathname === '/api/cart/total') {
    // ?items=tea:2,mug:1
    try {
      const items = (url.searchParams.get('items') ?? '')
        .split(',')
        .filter(Boolean)
        .map((part) => {
          const [sku, qty] = part.split(':');
          return { sku, qty: Number(qty ?? 1) };
        });
      return send(res, 200, 'application/json', JSON.stringify({ total: cartTotal(items) }));
    } catch (e) {
      return send(res, 400, 'application/json', JSON.stringify({ error: e.message }));
    }
  }
  if (url.pathname === '/') {
    const rows = products.map((p) => `<li>${p.name}: ${(p.price / 100).toFixed(2)}</li>`).join('');
    const context = { targetingKey: shopperOf(req), marketplace: url.searchParams.get('marketplace') ?? 'US' };
    const banner = (await flag('winter-sale', false, context)) ? '<p id="banner">Winter sale: 20% off tea</p>' : '';
    const fee = await feeLine(process.env.PAYMENTS_URL, cartTotal([{ sku: products[0].sku, qty: 2 }]));
    return send(
      res,
      200,
      'text/html; charset=utf-8',
      `<!doctype html><title>Shop ${version}</title><h1>${greeting} to the shop</h1><p>Release <b id="version">${version}</b> on ${stage}</p>${banner}<ul>${rows}</ul>${fee}`,
    );
  }
  send(res, 404, 'text/plain', 'not found');
});

server.listen(port, '127.0.0.1', () => console.log(`shop ${version} listening on ${port} (${stage})`));

// Graceful stop: finish in-flight requests, then exit.
process.on('SIGTERM', () => {
  console.log('SIGTERM: draining');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
