import type { ErrorCode } from '../../kernel/errors.js';

/** The one place where error codes become HTTP statuses. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  PIPELINE_INVALID: 422,
  CONFIG_INVALID: 500,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TOKEN_NAME_TAKEN: 409,
  HOST_NOT_ALLOWED: 400,
  NOT_FOUND: 404,
  RELEASE_CONFLICT: 409,
  INVALID_STATE: 409,
  BUILD_FAILED: 422,
  MIGRATION_FAILED: 422,
  ARTIFACT_REMOVED: 410,
  CONFLICT: 409,
  LOCKED: 423,
  INTERNAL: 500,
  TOO_LARGE: 413,
  BUSY: 503,
};

/** The body of every error answer. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}
