/**
 * A record's own entry for a key that came from outside (a request, a pipeline file, an event), or undefined:
 * `own(stages, 'constructor')` is undefined unless a stage of that name exists, where `stages['constructor']` would
 * be Object's constructor. Use it for every lookup keyed by input in a plain object.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
