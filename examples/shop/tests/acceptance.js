// Acceptance: what a customer does works: the cart adds up.
import { check, get } from './stage-client.js';

const cases = [
  ['tea:2', 900],
  ['tea:1,mug:1', 1650],
  ['pot:2,mug:3', 11400],
];
for (const [items, want] of cases) {
  const res = await get(`/api/cart/total?items=${items}`);
  const got = JSON.parse(res.body).total;
  check(res.status === 200 && got === want, `cart ${items} totals ${want} (got ${got})`);
}
