// A tiny HTTP client for tests that run against SLUICE_STAGE_URL.
// Hosts under .localhost are sent to 127.0.0.1 with the Host header kept, as browsers do.
import { request } from 'node:http';

const base = new URL(process.env.SLUICE_STAGE_URL ?? 'http://127.0.0.1:3000');

export function get(path) {
  const local = base.hostname.endsWith('.localhost');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: local ? '127.0.0.1' : base.hostname,
        port: base.port || 80,
        path,
        headers: { host: base.host },
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export function check(cond, message) {
  if (!cond) {
    console.error(`FAIL ${message}`);
    process.exit(1);
  }
  console.log(`ok   ${message}`);
}
