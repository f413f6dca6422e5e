// The payments service of the same stage (sluice.yaml's services: gives PAYMENTS_URL); an environment calls staging's.
import { request } from 'node:http';

// Names under .localhost are loopback (RFC 6761): browsers and curl know it, but the system resolver may not, so the
// shop connects to 127.0.0.1 itself and names the host in the Host header, which is what Sluice's router routes by.
function get(url, timeoutMs) {
  const u = new URL(url);
  const loopback = u.hostname === 'localhost' || u.hostname.endsWith('.localhost');
  return new Promise((resolve, reject) => {
    const req = request(
      { host: loopback ? '127.0.0.1' : u.hostname, port: u.port || 80, path: `${u.pathname}${u.search}`, headers: { host: u.host }, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The card fee on `amount` cents as a line of the page; the shop still serves when payments does not answer. */
export async function feeLine(paymentsUrl, amount) {
  if (!paymentsUrl) return '';
  try {
    const q = await get(`${paymentsUrl.replace(/\/$/, '')}/fee?amount=${amount}`, 500);
    return `<p id="payments">Card fee on ${(amount / 100).toFixed(2)}: ${(q.fee / 100).toFixed(2)} (payments ${q.version} on ${q.stage})</p>`;
  } catch (e) {
    return `<p id="payments">Payments unavailable at ${paymentsUrl} (${e.code ?? e.message})</p>`;
  }
}
