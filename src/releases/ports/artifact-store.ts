/**
 * An unpacked folder being removed is first renamed to this prefix in the same parent folder. A target that finds
 * one (left by a crash while its files were being deleted) passes it to `removeUnpacked` again to finish the job.
 */
export const REMOVING_PREFIX = '.removing-';

/** One artifact in the store. */
export interface StoredArtifact {
  /** `sha256:<hex>`. */
  digest: string;
  bytes: number;
  /** When it was last stored or unpacked (epoch ms): what retention's recency guard compares with. */
  usedAt: number;
}

/**
 * Content-addressed artifacts, pinned by digest (`sha256:<hex>`): built or registered once, unpacked where a target
 * needs them. Storing an artifact that is already there, or unpacking it, marks it used now; so does reusing an
 * unpacked folder. Removal never takes what was used at or after the time it is given, which is how a retention
 * pass that judged from an older snapshot of the journeys leaves alone what a newer journey started to use.
 */
export interface ArtifactStore {
  /** Runs the build command (if any) in `appDir`, then stores `output`. Output lines go to `onLog`. */
  build(appDir: string, spec: { build?: string; output: string }, env: Record<string, string>, onLog: (chunk: string) => void): Promise<string>;
  /**
   * Stores a directory or a .tar/.tgz and returns its digest. Adding the same content twice is a no-op (it marks it used).
   * With `within`, the path, and every symlink in a directory, must resolve inside that directory (BAD_REQUEST otherwise).
   */
  add(path: string, opts?: { within?: string }): Promise<string>;
  /**
   * The stored file of an artifact. Throws ARTIFACT_REMOVED, saying when and why, for one that retention removed;
   * NOT_FOUND for one that was never stored.
   */
  pathOf(digest: string): string;
  /** Unpacks an artifact into `dest` once; later calls reuse it. */
  unpack(digest: string, dest: string): Promise<string>;
  /** Every stored artifact. */
  list(): StoredArtifact[];
  /**
   * Removes a stored artifact unless it was used at or after `unusedSince` (epoch ms), and records `why`, so that a
   * later `pathOf` can say what happened to it. False when it stays (used since) or was not there.
   */
  remove(digest: string, unusedSince: number, why: string): boolean;
  /**
   * Removes a folder that `unpack` made, unless it was unpacked or reused at or after `unusedSince` (epoch ms).
   * The folder leaves `dest` before the promise is returned (a rename), so an `unpack` into `dest` that comes after
   * starts afresh; its files are deleted while the promise runs. Resolves false when it stays.
   */
  removeUnpacked(dest: string, unusedSince: number): Promise<boolean>;
}
