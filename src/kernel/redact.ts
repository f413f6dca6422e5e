/** A URL as it may be shown to people: scheme and host only (the path of an incoming webhook is its secret, and so are credentials). */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^/?#]*)/i.exec(url);
  return m ? `${m[1]}${m[2]}/…` : '…';
}

/** What a secret's value is replaced with wherever Sluice writes or shows it. */
export const secretMark = (name: string) => `[secret ${name}]`;

/**
 * Replaces secret values in text that arrives in chunks, also when a value is cut across chunks: the end of a chunk
 * that could be the start of a value is held back until the next chunk (or `end()`) tells. Longer values win where
 * two start at one place. Empty values are never matched.
 */
export class StreamRedactor {
  private readonly secrets: { name: string; value: string }[];
  private held = '';

  constructor(values: Readonly<Record<string, string>>) {
    this.secrets = Object.entries(values)
      .filter(([, v]) => v.length > 0)
      .map(([name, value]) => ({ name, value }))
      .sort((a, b) => b.value.length - a.value.length);
  }

  /** The text of `chunk` that can be written now, redacted. */
  push(chunk: string): string {
    return this.scan(this.held + chunk, false);
  }

  /** What was held back, redacted: the text ended, so what only looked like the start of a value is none. */
  end(): string {
    return this.scan(this.held, true);
  }

  private scan(text: string, final: boolean): string {
    if (this.secrets.length === 0) {
      this.held = '';
      return text;
    }
    let out = '';
    let from = 0;
    let i = 0;
    while (i < text.length) {
      const rest = text.length - i;
      let matched: { name: string; value: string } | undefined;
      let partial = false;
      for (const s of this.secrets) {
        if (s.value.length <= rest) {
          if (text.startsWith(s.value, i)) {
            matched = s;
            break;
          }
        } else if (!final && s.value.startsWith(text.slice(i))) {
          // A longer value may still start here: wait for more text before settling for a shorter one.
          partial = true;
          break;
        }
      }
      if (matched) {
        out += text.slice(from, i) + secretMark(matched.name);
        i += matched.value.length;
        from = i;
      } else if (partial) {
        break;
      } else {
        i++;
      }
    }
    out += text.slice(from, i);
    this.held = text.slice(i);
    return out;
  }
}

/** `text` with every value of `values` replaced by its mark. */
export function redactText(text: string, values: Readonly<Record<string, string>>): string {
  const r = new StreamRedactor(values);
  return r.push(text) + r.end();
}
