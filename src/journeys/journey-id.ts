import { randomBytes } from 'node:crypto';

/**
 * A new journey id: `j-` then the time in base 36 and 8 random hex digits, so ids sort by creation and never repeat.
 * A journey's id is its identity; the version of its release is data.
 */
export function newJourneyId(now: number): string {
  return `j-${now.toString(36)}${randomBytes(4).toString('hex')}`;
}
