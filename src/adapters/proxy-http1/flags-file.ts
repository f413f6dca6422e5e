import { readFileSync, renameSync } from 'node:fs';
import type { PublishedFlagSet } from '../../flags/ports/flag-serving.js';
import { writeFileAtomic } from '../../platform/files.js';

/**
 * The flag sets the data plane serves, kept on disk so that it comes back serving them after its own crash or a
 * restart, without waiting for the control plane. Like the routes file, a cache of what the control plane published:
 * when it is missing or unreadable, the data plane serves no flags (said in one log line) until they are published
 * again.
 */
export class FlagsFile {
  constructor(
    private readonly path: string,
    private readonly notice: (line: string) => void,
  ) {}

  /** Each stage's published set as saved; each is checked again by whoever serves it. */
  load(): Record<string, unknown> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.notice(`flags file ${this.path} cannot be read (${(e as Error).message}); serving no flags until the control plane publishes them`);
      return {};
    }
    try {
      const doc = JSON.parse(text) as unknown;
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
      const stages = (doc as { stages?: unknown }).stages;
      if (typeof stages !== 'object' || stages === null || Array.isArray(stages)) throw new Error('"stages" is not an object');
      return stages as Record<string, unknown>;
    } catch (e) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      renameSync(this.path, aside);
      this.notice(`flags file ${this.path} is corrupt (${(e as Error).message.replace(/\s*\n\s*/g, ' ')}); moved to ${aside}; serving no flags until the control plane publishes them`);
      return {};
    }
  }

  /** Writes every stage's set at once: a reader (the next start) sees the old file or the new one, never half. */
  save(stages: Record<string, PublishedFlagSet>): void {
    writeFileAtomic(this.path, JSON.stringify({ version: 1, stages }));
  }
}
