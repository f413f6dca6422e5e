// Smoke: the home page shows the release version.
import { check, get } from './stage-client.js';

const home = await get('/');
check(home.status === 200, `GET / answers 200 (got ${home.status})`);
check(
  home.body.includes(`<b id="version">${process.env.SLUICE_RELEASE_VERSION}</b>`),
  'home page shows the release version',
);
