import { type Command, EXIT } from '../command.js';
import { secretsApi } from '../../http/contract/secrets.js';

/**
 * A secret's value from stdin, never from argv (where `ps` and shell history would show it). From a terminal it is
 * read without echo; piped in, one trailing line break is dropped (`echo "$V" | sluice secret set prod NAME`).
 */
async function readValue(ctx: { err: (s: string) => void }, name: string): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    ctx.err(`value of ${name} (not shown; Enter ends it): `);
    stdin.setRawMode(true);
    try {
      return await new Promise<string>((resolve, reject) => {
        let v = '';
        const onData = (d: Buffer) => {
          for (const ch of d.toString('utf8')) {
            if (ch === '\r' || ch === '\n' || ch === '\u0004') {
              stdin.off('data', onData);
              stdin.pause();
              return resolve(v);
            }
            if (ch === '\u0003') {
              stdin.off('data', onData);
              stdin.pause();
              return reject(new Error('cancelled'));
            }
            if (ch === '\u007f' || ch === '\b') v = [...v].slice(0, -1).join('');
            else v += ch;
          }
        };
        stdin.on('data', onData);
        stdin.resume();
      });
    } finally {
      stdin.setRawMode(false);
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export const secretCommands: Command[] = [
  {
    name: 'secret set',
    args: '<stage> <NAME>',
    summary: "set a secret the stage declares (value from stdin, never from the command line; encrypted at rest, given only to that stage's workloads)",
    min: 2,
    max: 2,
    async run(ctx, [stage, name]) {
      const value = await readValue(ctx, name!);
      if (value === '') {
        ctx.err(`no value given for ${name}: pipe it in, e.g. printf %s "$VALUE" | sluice secret set ${stage} ${name}`);
        return EXIT.usage;
      }
      const r = await ctx.client().call(secretsApi.set, { params: { stage: stage!, name: name! }, body: { value } });
      ctx.print(r, `${ctx.st.green('✓')} secret ${r.name} of ${r.stage} ${r.replaced ? 'replaced' : 'set'}; its workloads get it from their next start`);
      return EXIT.ok;
    },
  },
  {
    name: 'secret list',
    args: '<stage>',
    summary: "a stage's secrets: names and when they were set, never values",
    min: 1,
    max: 1,
    async run(ctx, [stage]) {
      const r = await ctx.client().call(secretsApi.list, { params: { stage: stage! } });
      const lines = r.secrets.map(
        (s) =>
          `${s.name.padEnd(24)} ${s.setAt !== undefined ? `set ${new Date(s.setAt).toISOString()}` : ctx.st.red(`not set: sluice secret set ${r.stage} ${s.name}`)}${s.keptBySluice ? ctx.st.dim(`  (kept by Sluice: ${s.keptBySluice})`) : s.declared ? '' : ctx.st.dim('  (not declared by the stage any more)')}`,
      );
      ctx.print(r, lines.length ? lines.join('\n') : `stage ${r.stage} declares no secrets (list them under the stage's secrets: in sluice.yaml)`);
      return EXIT.ok;
    },
  },
  {
    name: 'secret unset',
    args: '<stage> <NAME>',
    summary: "remove a stage's secret",
    min: 2,
    max: 2,
    async run(ctx, [stage, name]) {
      const r = await ctx.client().call(secretsApi.unset, { params: { stage: stage!, name: name! } });
      ctx.print(r, `${ctx.st.green('✓')} secret ${r.name} of ${r.stage} removed`);
      return EXIT.ok;
    },
  },
  {
    name: 'secret rotate-key',
    args: '',
    summary: 'encrypt every secret under a new key in one transaction; the key file then holds only the new key',
    min: 0,
    max: 0,
    async run(ctx) {
      const r = await ctx.client().call(secretsApi.rotateKey);
      ctx.print(r, `${ctx.st.green('✓')} ${r.reencrypted} secret(s) now encrypted under key ${r.keyId}`);
      return EXIT.ok;
    },
  },
];
