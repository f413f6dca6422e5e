/**
 * Content-addressed artifacts, pinned by digest (`sha256:<hex>`): built or registered once, unpacked where a target
 * needs them.
 */
export interface ArtifactStore {
  /** Runs the build command (if any) in `appDir`, then stores `output`. Output lines go to `onLog`. */
  build(appDir: string, spec: { build?: string; output: string }, env: Record<string, string>, onLog: (chunk: string) => void): Promise<string>;
  /** Stores a directory or a .tar/.tgz and returns its digest. Adding the same content twice is a no-op. */
  add(path: string): Promise<string>;
  /** The stored file of an artifact. */
  pathOf(digest: string): string;
  /** Unpacks an artifact into `dest` once; later calls reuse it. */
  unpack(digest: string, dest: string): Promise<string>;
}
