import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 3100);
const version = process.env.SLUICE_RELEASE_VERSION ?? 'dev';
const stage = process.env.SLUICE_STAGE ?? 'local';

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-payments-version': version });
  res.end(JSON.stringify(body));
}

// GET /fee?amount=1234 (cents): the card fee, 1.5% + 25 cents, rounded up.
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://payments');
  if (url.pathname === '/healthz') return send(res, 200, { ok: true, version, stage });
  if (url.pathname === '/fee') {
    const amount = Number(url.searchParams.get('amount'));
    if (!Number.isInteger(amount) || amount < 0 || amount > 100_000_000) return send(res, 400, { error: 'amount: whole cents, 0 to 100000000' });
    return send(res, 200, { amount, fee: Math.ceil(amount * 0.015) + 25, version, stage });
  }
  send(res, 404, { error: 'not found' });
});

server.listen(port, '127.0.0.1', () => console.log(`payments ${version} listening on ${port} (${stage})`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
