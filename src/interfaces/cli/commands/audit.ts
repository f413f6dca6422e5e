import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AuditHead, type AuditRecord, orderedLinks } from '../../../audit/audit-record.js';
import { type ChainVerdict, verifyChain } from '../../../audit/verify-chain.js';
import { actorLabel } from '../../../kernel/actor.js';
import { parseDuration } from '../../../kernel/duration.js';
import { auditApi } from '../../http/contract/audit.js';
import { type CliContext, type Command, EXIT } from '../command.js';
import { UsageError } from '../main.js';

/** Reads an export (`sluice audit export`): one record a line, and a last line `{"head": {seq, hash}}`. */
function readExport(path: string): { records: AuditRecord[]; head: AuditHead } {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  let head: AuditHead | undefined;
  const records: AuditRecord[] = [];
  for (const [i, line] of lines.entries()) {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new UsageError(`${path}:${i + 1}: not JSON; an export has one JSON record a line`);
    }
    if (v && typeof v === 'object' && 'head' in v) head = (v as { head: AuditHead }).head;
    else records.push(v as AuditRecord);
  }
  if (!head) throw new UsageError(`${path}: no head line ({"head": …}) at its end: the export is cut short`);
  return { records, head };
}

function printVerdict(ctx: CliContext, v: ChainVerdict, where: string): number {
  if (v.ok) {
    ctx.print(v, `${ctx.st.green('✓')} ${where}: ${v.count} record${v.count === 1 ? '' : 's'}, whole; head #${v.head.seq} ${v.head.hash.slice(0, 16)}`);
    return EXIT.ok;
  }
  ctx.print(v, `${ctx.st.red('✗')} ${where}: record ${v.firstBad.seq} is bad (${v.firstBad.problem}): ${v.firstBad.message}`);
  return EXIT.failed;
}

/** `2h` (that long ago) or a date (2026-01-31, 2026-01-31T10:00:00Z): epoch ms. */
function sinceOf(text: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new UsageError(`--since ${text}: not a date; use e.g. 2026-01-31 or 2026-01-31T10:00:00Z, or a duration such as 2h`);
    return t;
  }
  try {
    return now - parseDuration(text);
  } catch {
    throw new UsageError(`--since ${text}: use a duration such as 30m or 2d, or a date such as 2026-01-31`);
  }
}

const line = (ctx: CliContext, r: AuditRecord) => {
  const links = orderedLinks(r.links).map(([k, v]) => `${k}=${v}`).join(' ');
  const refused = r.outcome === 'refused' ? ` ${ctx.st.red('refused')}` : '';
  return `${String(r.seq).padStart(5)} ${ctx.st.dim(new Date(r.at).toISOString().slice(0, 19).replace('T', ' '))} ${ctx.st.bold(r.action)}${refused} ${links} ${ctx.st.dim(`by ${actorLabel(r.actor)}`)}${r.reason ? ` — ${r.reason}` : ''}`;
};

export const auditCommands: Command[] = [
  {
    name: 'audit list',
    args: '',
    summary: 'audit records, newest last: who did what, why, to which release and stage (--actor sluice: what Sluice did itself)',
    min: 0,
    max: 0,
    options: ['actor', 'action', 'release', 'stage', 'since', 'limit'],
    async run(ctx) {
      const o = ctx.opts;
      const query = {
        ...(o.actor ? { actor: o.actor } : {}),
        ...(o.action ? { action: o.action } : {}),
        ...(o.release ? { release: o.release } : {}),
        ...(o.stage ? { stage: o.stage } : {}),
        ...(o.since ? { since: String(sinceOf(o.since, Date.now())) } : {}),
        ...(o.limit ? { limit: o.limit } : {}),
      };
      const records = await ctx.client().call(auditApi.list, { query });
      ctx.print(records, records.length ? records.map((r) => line(ctx, r as AuditRecord)).join('\n') : 'no audit record matches');
      return EXIT.ok;
    },
  },
  {
    name: 'audit verify',
    args: '[export.jsonl]',
    summary: 'check the hash chain of the audit trail (or of an export, offline): ok, or the first bad record and what is wrong',
    min: 0,
    max: 1,
    async run(ctx, [file]) {
      if (file) {
        const { records, head } = readExport(resolve(ctx.cwd, file));
        return printVerdict(ctx, verifyChain(records, head), file);
      }
      return printVerdict(ctx, await ctx.client().call(auditApi.verify) as ChainVerdict, 'audit trail');
    },
  },
  {
    name: 'audit export',
    args: '',
    summary: 'write the audit trail as JSON lines (one record a line, then its head), to stdout or --out; `sluice audit verify <file>` checks it offline',
    min: 0,
    max: 0,
    options: ['out'],
    async run(ctx) {
      const api = ctx.client();
      const lines: string[] = [];
      let head: AuditHead | undefined;
      // Up to the head seen first: records appended meanwhile belong to the next export.
      for (let after = 0; ; ) {
        const page = await api.call(auditApi.records, { query: { after: String(after), limit: '500' } });
        head ??= page.head;
        const mine = page.records.filter((r) => r.seq <= head!.seq);
        for (const r of mine) lines.push(JSON.stringify(r));
        if (mine.length === 0 || page.records.length < 500 || mine.length < page.records.length) break;
        after = mine.at(-1)!.seq;
      }
      lines.push(JSON.stringify({ head }));
      const text = `${lines.join('\n')}\n`;
      if (ctx.opts.out) {
        writeFileSync(resolve(ctx.cwd, ctx.opts.out), text, { mode: 0o600 });
        ctx.err(ctx.st.dim(`${lines.length - 1} records written to ${ctx.opts.out}; check it with: sluice audit verify ${ctx.opts.out}`));
      } else ctx.write(text);
      return EXIT.ok;
    },
  },
];
