// One error class and one renderer for every failure the API reports.
// The envelope is the seed's: { "data": null, "error": { "message", "code" } }.

export type ErrorCode =
  | "bad_request"
  | "invalid_json"
  | "validation_failed"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "PGRST116" // a single row that does not exist, as in the seed's example
  | "method_not_allowed"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "internal_error"
  | "service_unavailable";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Per-item errors of a batch, rendered as error.details. */
    readonly details?: unknown[],
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (message: string) => new HttpError(400, "bad_request", message);
export const unauthorized = (message = "Missing or invalid token") => new HttpError(401, "unauthorized", message);
export const forbidden = (message: string) => new HttpError(403, "forbidden", message);
export const notFound = (what: string) => new HttpError(404, "PGRST116", `No rows found: ${what}`);
export const conflict = (message: string) => new HttpError(409, "conflict", message);

export function envelope(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  details?: unknown[],
) {
  return new Response(JSON.stringify({ data: null, error: { message, code, ...(details ? { details } : {}) } }), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** Postgres SQLSTATEs we map to API errors; our own are raised with `using errcode = 'P04xx'`. */
export const SqlState = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  checkViolation: "23514",
  notNullViolation: "23502",
  insufficientPrivilege: "42501",
  invalidTextRepresentation: "22P02",
  numericOutOfRange: "22003",
  queryCanceled: "57014",
  forbidden: "P0403",
  notFound: "P0404",
  conflict: "P0409",
  invalid: "P0400",
} as const;

interface PgLikeError {
  code?: string;
  message?: string;
}

function isPgError(e: unknown): e is PgLikeError & Error {
  return e instanceof Error && typeof (e as PgLikeError).code === "string" && (e as { name?: string }).name ===
      "PostgresError";
}

/** Turns anything thrown into an HttpError; unknown errors become a generic 500 (logged by the caller). */
export function coerceError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (isPgError(e)) {
    switch (e.code) {
      case SqlState.forbidden:
      case SqlState.insufficientPrivilege:
        return forbidden(e.code === SqlState.forbidden ? e.message : "Not allowed by the workspace's permissions");
      case SqlState.notFound:
        return new HttpError(404, "PGRST116", e.message);
      case SqlState.conflict:
        return conflict(e.message);
      case SqlState.invalid:
        return badRequest(e.message);
      case SqlState.uniqueViolation:
        return conflict("A record with the same unique value already exists");
      case SqlState.foreignKeyViolation:
        return badRequest("A referenced record does not exist");
      case SqlState.checkViolation:
      case SqlState.notNullViolation:
      case SqlState.invalidTextRepresentation:
      case SqlState.numericOutOfRange:
        return badRequest("A value is not valid for its field");
      case SqlState.queryCanceled:
        return new HttpError(503, "service_unavailable", "The request took too long and was cancelled");
    }
    // Class 22 (data exception: a malformed date, an unrepresentable character, …) is always about
    // a value the request carried; its message names the value, never a query.
    if (e.code?.startsWith("22")) return badRequest(`A value is not valid: ${e.message}`);
  }
  return new HttpError(500, "internal_error", "Something went wrong on our side");
}
