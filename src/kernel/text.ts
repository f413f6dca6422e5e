/** A NUL, or a UTF-16 surrogate without its pair (what invalid UTF-8 or a `\ud800` escape decodes to). */
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const describe = (s: string): string => {
  const m = BAD_TEXT.exec(s)!;
  return m[0] === '\u0000' ? `a NUL character at offset ${m.index}` : `an unpaired UTF-16 surrogate (\\u${m[0].charCodeAt(0).toString(16)}) at offset ${m.index}`;
};

/**
 * Where a request part holds text no stored field may hold (a NUL, or invalid UTF-16), in keys or values at any depth;
 * undefined when it holds none. `part` names the part (`body`, `query`, `path`, `header x`). The walk keeps its own
 * stack, so a deeply nested body cannot overflow the call stack.
 */
export function badText(value: unknown, part: string): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    const where = path ? `${part} field ${path}` : part;
    if (typeof v === 'string') {
      if (BAD_TEXT.test(v)) return `${where} has ${describe(v)}`;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        const name = BAD_TEXT.test(k) ? JSON.stringify(k) : k;
        if (BAD_TEXT.test(k)) return `${part} has a field name with ${describe(k)}: ${name}`;
        stack.push([x, path ? `${path}.${k}` : k]);
      }
    }
  }
  return undefined;
}
