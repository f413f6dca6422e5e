/**
 * How long to wait before reconnecting to the event stream after `attempt` failures in a row (0 for the first):
 * doubling from `base` up to `max`, with up to a quarter of jitter (`random` in [0, 1)) so that many dashboards do
 * not all knock at once when the control plane comes back.
 */
export function reconnectDelay(attempt: number, random: number, base = 500, max = 8000): number {
  const d = Math.min(max, base * 2 ** Math.max(0, Math.min(attempt, 16)));
  return Math.round(d * (1 - 0.25 * random));
}
