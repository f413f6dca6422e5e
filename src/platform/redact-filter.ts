// Copies stdin to stdout with the values of the environment variables named in argv replaced by `[secret NAME]`.
// Durable runs pipe a workload's output through it when the workload has secrets: its log never holds a value, and
// the values reach this process only through its environment (the workload's own), never a file.
import { StringDecoder } from 'node:string_decoder';
import { StreamRedactor } from '../kernel/redact.js';

const values: Record<string, string> = {};
for (const name of process.argv.slice(2)) {
  const v = process.env[name];
  if (v !== undefined) values[name] = v;
}
const redactor = new StreamRedactor(values);
const decoder = new StringDecoder('utf8');
// A stop of the workload's process group reaches this filter too: it ends with its input instead, so that the
// workload's last words are written.
process.on('SIGTERM', () => {});
process.on('SIGINT', () => {});
process.stdin.on('data', (d: Buffer) => {
  const out = redactor.push(decoder.write(d));
  if (out) process.stdout.write(out);
});
process.stdin.on('end', () => {
  process.stdout.write(redactor.push(decoder.end()) + redactor.end());
});
