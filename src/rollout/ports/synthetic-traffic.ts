/**
 * Sends requests at a steady rate through a stage's URL, pinned alternately to the stable and the canary version, so
 * an analysis has data on both sides even when real users are few. It stops when `signal` aborts.
 */
export type SyntheticTraffic = (stageUrl: string, paths: string[], ratePerSide: number, signal: AbortSignal) => void;
