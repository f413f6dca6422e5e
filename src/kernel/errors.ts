/**
 * Stable error codes. A released code is never reused for another meaning.
 * - PIPELINE_INVALID: the pipeline file failed to parse or validate.
 * - CONFIG_INVALID: server configuration (flags, env, file) is wrong.
 * - BAD_REQUEST: an API body or CLI argument is malformed.
 * - UNAUTHORIZED: no valid token was given where one is needed (a missing, unknown, expired or revoked token).
 * - FORBIDDEN: the token is valid, but its role, or a stage's protection rules, forbid this; the message names what would be allowed.
 * - TOKEN_NAME_TAKEN: a token that is not revoked already has that name.
 * - HOST_NOT_ALLOWED: the request's Host header names neither a loopback address nor a host the operator allowed
 *   (a DNS-rebinding page, or a name the server was not told about).
 * - NOT_FOUND: the named release, stage, journey or step does not exist.
 * - RELEASE_CONFLICT: the version exists with a different artifact digest.
 * - INVALID_STATE: the operation does not apply to the current state (e.g. approving a stage that waits for nothing).
 * - BUILD_FAILED: the artifact build command failed or produced no output.
 * - ARTIFACT_REMOVED: the release's artifact was removed from the artifact store by retention; it cannot be deployed
 *   until the same build is stored again.
 * - CONFLICT: a concurrent writer appended first; retry.
 * - LOCKED: another process holds the data directory.
 * - INTERNAL: a bug or an unexpected failure.
 * - TOO_LARGE: a request past one of the server's limits (values to judge, time to judge them); send less.
 * - MIGRATION_FAILED: a stage's migrate (or an environment's seed) command failed; the deploy started nothing new (ADR 26).
 * - BUSY: the server serves as many streams (or judges as many requests) as its limit allows; try again later.
 */
export type ErrorCode =
  | 'PIPELINE_INVALID'
  | 'CONFIG_INVALID'
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'TOKEN_NAME_TAKEN'
  | 'HOST_NOT_ALLOWED'
  | 'NOT_FOUND'
  | 'RELEASE_CONFLICT'
  | 'INVALID_STATE'
  | 'BUILD_FAILED'
  | 'ARTIFACT_REMOVED'
  | 'CONFLICT'
  | 'LOCKED'
  | 'INTERNAL'
  | 'TOO_LARGE'
  | 'BUSY'
  | 'MIGRATION_FAILED';

/** One error type for the whole project: a stable code, a message for people and optional structured details. */
export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function isSluiceError(e: unknown): e is SluiceError {
  return e instanceof SluiceError;
}
