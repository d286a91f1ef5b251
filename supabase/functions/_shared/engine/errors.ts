// Failures of a column run, as the engine tells them apart.

/** A failure worth retrying the job for (network errors, 429, 5xx): the job backs off and runs again. */
export class RetryableError extends Error {}

/** A failure of this cell that another try would not fix (a 4xx, a refused input); `response` is logged. */
export class ActionFailed extends Error {
  constructor(message: string, readonly response?: unknown) {
    super(message);
  }
}
