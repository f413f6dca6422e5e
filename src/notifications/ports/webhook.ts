/** Why a delivery failed; `permanent` when trying again cannot help (the receiver refused the request itself). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/**
 * Sends one notification as JSON to a URL; `signal` aborts it when Sluice stops. Throws DeliveryError, whose message
 * never holds the address (it is shown to readers of the API).
 */
export type Post = (url: string, body: unknown, signal: AbortSignal) => Promise<void>;
