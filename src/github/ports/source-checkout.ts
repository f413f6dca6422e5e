/** A commit's files, extracted from the repository for a build (ADR 28). */
export interface CheckedOut {
  /** The folder holding the commit's files. */
  dir: string;
  /** Removes the folder. */
  dispose(): Promise<void>;
}

/** Fetches commits of the repository and extracts one into a folder of its own. */
export interface SourceCheckout {
  /**
   * Makes sure `sha` is fetched (from `fetchRef`, e.g. refs/pull/12/head or refs/heads/main, or by itself), then
   * extracts its tree. NOT_FOUND when the repository has no such commit; BUILD_FAILED when git fails.
   */
  checkout(sha: string, fetchRef: string): Promise<CheckedOut>;
}
