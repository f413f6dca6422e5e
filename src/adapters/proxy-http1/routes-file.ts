import { readFileSync, renameSync } from 'node:fs';
import { writeFileAtomic } from '../../platform/files.js';
import type { SavedRoute } from './router.js';
import { parseRouteSpec, parseTrip } from './route-spec.js';

/**
 * The routes the data plane serves, kept on disk so that it comes back with them after its own crash or a restart,
 * without waiting for the control plane. A cache of the desired state: when it is missing or unreadable, the router
 * starts with no routes (named in one log line) and the control plane sends them again from the log.
 */
export class RoutesFile {
  constructor(
    private readonly path: string,
    private readonly notice: (line: string) => void,
  ) {}

  load(): Record<string, SavedRoute> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.notice(`routes file ${this.path} cannot be read (${(e as Error).message}); starting with no routes until the control plane sends them`);
      return {};
    }
    try {
      const doc = JSON.parse(text) as { routes?: Record<string, { spec?: unknown; trip?: unknown }> };
      const out: Record<string, SavedRoute> = {};
      for (const [host, r] of Object.entries(doc.routes ?? {}))
        out[host] = { spec: parseRouteSpec(r.spec, `routes.${host}.spec`), ...(r.trip ? { trip: parseTrip(r.trip, `routes.${host}.trip`) } : {}) };
      return out;
    } catch (e) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      renameSync(this.path, aside);
      this.notice(`routes file ${this.path} is corrupt (${(e as Error).message.replace(/\s*\n\s*/g, ' ')}); moved to ${aside}; starting with no routes until the control plane sends them`);
      return {};
    }
  }

  save(routes: Record<string, SavedRoute>): void {
    writeFileAtomic(this.path, JSON.stringify({ version: 1, routes }));
  }
}
