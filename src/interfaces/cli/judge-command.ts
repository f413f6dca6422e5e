import { readFileSync } from 'node:fs';
import { SluiceError } from '../../kernel/errors.js';
import { type JudgeResponse, judgeParsed } from '../../rollout/judge-request.js';
import { pad, type Style } from './style.js';

/** Reads a judge request file, with file:line:col for JSON errors and a path for schema errors. */
export function readJudgeFile(path: string): JudgeResponse {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SluiceError('BAD_REQUEST', `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const pos = /position (\d+)/.exec(msg);
    let where = '';
    if (lc) where = `${lc[1]}:${lc[2]}`;
    else if (pos) {
      const before = text.slice(0, Number(pos[1]));
      const lines = before.split('\n');
      where = `${lines.length}:${lines.at(-1)!.length + 1}`;
    }
    throw new SluiceError('BAD_REQUEST', `${path}${where ? `:${where}` : ''}: not valid JSON: ${msg}`);
  }
  return judgeParsed(raw, path);
}

const num = (x: number | null | undefined) => (x === null || x === undefined ? '—' : Number.isInteger(x) ? String(x) : x.toPrecision(4));

/** The verdict and the statistics behind it, for people. */
export function renderJudge(st: Style, r: JudgeResponse): string {
  const out: string[] = [];
  const colour = r.outcome === 'pass' ? st.green : r.outcome === 'fail' ? st.red : st.yellow;
  out.push(`${st.bold('outcome')} ${colour(r.outcome.toUpperCase())}  ${st.dim(r.reason)}`);
  const c = r.comparison;
  if (c) {
    out.push('');
    out.push(`comparison ${c.verdict === 'Pass' ? st.green(c.verdict) : c.verdict === 'Fail' ? st.red(c.verdict) : st.yellow(c.verdict)}: score ${c.score} (pass ≥ ${c.thresholds.pass}, marginal ≥ ${c.thresholds.marginal})`);
    const head = ['METRIC', 'GROUP', 'CLASS', 'RATIO', 'SHIFT', 'INTERVAL', 'P', 'CANARY n/mean', 'BASELINE n/mean'];
    const rows = c.metrics.map((m) => [
      m.name,
      m.group,
      m.classification + (m.criticalFailure ? ' (critical)' : ''),
      num(m.ratio),
      num(m.test?.estimate),
      m.test ? `[${num(m.test.lower)}, ${num(m.test.upper)}]` : '—',
      m.test ? m.test.pValue.toExponential(2) : '—',
      `${m.canary.count}/${num(m.canary.mean)}`,
      `${m.baseline.count}/${num(m.baseline.mean)}`,
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)) + 2);
    out.push(st.dim(head.map((h, i) => pad(h, widths[i]!)).join('').trimEnd()));
    for (const [i, row] of rows.entries()) {
      const cls = c.metrics[i]!.classification;
      out.push(row.map((cell, k) => (k === 2 && cls !== 'Pass' && cls !== 'Nodata' ? st.red(pad(cell, widths[k]!)) : pad(cell, widths[k]!))).join('').trimEnd());
    }
    out.push(st.dim(`groups: ${c.groups.map((g) => `${g.name} ${num(g.score)} × ${num(g.weight)}%${g.noData ? ' (no data)' : ''}`).join(', ')}`));
  }
  if (r.thresholds.length > 0) {
    out.push('');
    for (const t of r.thresholds) {
      const colourT = t.outcome === 'Successful' ? st.green : t.outcome === 'Inconclusive' ? st.yellow : st.red;
      out.push(`${pad(t.name, 20)}${colourT(pad(t.outcome, 14))}${st.dim(t.reason)}`);
    }
  }
  return out.join('\n');
}
