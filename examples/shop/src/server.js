import { createServer } from 'node:http';
import { cartTotal, products } from './catalog.js';
import { flag } from './flags.js';
import { closeOrders, placeOrder, recentOrders } from './orders.js';
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
  if (url.pathname === '/api/orders' && req.method === 'POST') {
    // ?sku=tea&qty=2
    const sku = url.searchParams.get('sku') ?? '';
    const qty = Number(url.searchParams.get('qty') ?? 1);
    if (!products.some((p) => p.sku === sku) || !Number.isInteger(qty) || qty < 1 || qty > 100)
      return send(res, 400, 'application/json', JSON.stringify({ error: `sku: one of ${products.map((p) => p.sku).join(', ')}; qty: 1 to 100` }));
    try {
      return send(res, 201, 'application/json', JSON.stringify({ id: await placeOrder(sku, qty) }));
    } catch (e) {
      return send(res, 503, 'application/json', JSON.stringify({ error: e.message }));
    }
  }
  if (url.pathname === '/api/orders') {
    const orders = await recentOrders().catch((e) => ({ error: e.message }));
    return send(res, orders ? 200 : 404, 'application/json', JSON.stringify(orders ?? { error: 'this stage keeps no orders' }));
  }
  if (url.pathname === '/') {
    const rows = products.map((p) => `<li>${p.name}: ${(p.price / 100).toFixed(2)}</li>`).join('');
    const context = { targetingKey: shopperOf(req), marketplace: url.searchParams.get('marketplace') ?? 'US' };
    const banner = (await flag('winter-sale', false, context)) ? '<p id="banner">Winter sale: 20% off tea</p>' : '';
    const orders = await recentOrders().catch((e) => ({ error: e.message }));
    const ordersLine = !orders ? '' : orders.error ? `<p id="orders">Orders unavailable: ${orders.error}</p>` : `<p id="orders">${orders.count} order${orders.count === 1 ? '' : 's'}</p>`;
    const fee = await feeLine(process.env.PAYMENTS_URL, cartTotal([{ sku: products[0].sku, qty: 2 }]));
    return send(
      res,
      200,
      'text/html; charset=utf-8',
      `<!doctype html><title>Shop ${version}</title><h1>${greeting} to the shop</h1><p>Release <b id="version">${version}</b> on ${stage}</p>${banner}<ul>${rows}</ul>${fee}${ordersLine}`,
    );
  }
  send(res, 404, 'text/plain', 'not found');
});

server.listen(port, '127.0.0.1', () => console.log(`shop ${version} listening on ${port} (${stage})`));

// Graceful stop: finish in-flight requests, then exit.
process.on('SIGTERM', () => {
  console.log('SIGTERM: draining');
  server.close(() => closeOrders().finally(() => process.exit(0)));
  server.closeIdleConnections();
});
