/** A NUL, or a UTF-16 surrogate without its pair (what invalid UTF-8 or a `\ud800` escape decodes to). */
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text no stored field may hold, found in a value: where it is, and what it is. */
export interface BadText {
  /** `body field stages[2].name`, `query field step`, `path field version`, `body` (a field name). */
  where: string;
  problem: string;
}

const problemIn = (s: string): string | undefined => {
  const m = BAD_TEXT.exec(s);
  if (!m) return undefined;
  return m[0] === '\u0000' ? `a NUL character at offset ${m.index}` : `an unpaired UTF-16 surrogate (\\u${m[0].charCodeAt(0).toString(16)}) at offset ${m.index}`;
};

/**
 * The first text in a value (keys and strings at any depth) that no stored field may hold: a NUL, or invalid UTF-16.
 * `part` names the value (`body`, `query`, `path`, `header x`). The walk keeps its own stack, so a deeply nested body
 * cannot overflow the call stack, and it looks only at strings and containers, so a long array of numbers costs little.
 */
export function badText(value: unknown, part: string): BadText | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      const problem = problemIn(v);
      if (problem) return { where: path ? `${part} field ${path}` : part, problem };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) if (typeof v[i] === 'object' || typeof v[i] === 'string') stack.push([v[i], `${path}[${i}]`]);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        const problem = problemIn(k);
        if (problem) return { where: path ? `${part} field ${path}` : part, problem: `a field name with ${problem}: ${JSON.stringify(k)}` };
        if (typeof x === 'object' || typeof x === 'string') stack.push([x, path ? `${path}.${k}` : k]);
      }
    }
  }
  return undefined;
}

/** A BadText as one line: `<where> has <problem>: text with NUL characters or invalid UTF-16 is refused`. */
export const badTextMessage = (b: BadText): string => `${b.where} has ${b.problem}: text with NUL characters or invalid UTF-16 is refused`;
