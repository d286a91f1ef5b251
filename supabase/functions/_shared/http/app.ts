// The app every function builds on: base path, request id, audit row, body limit, one error
// renderer, 404 for unknown routes and 405 (with Allow) for known routes called with a wrong method.
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getPath } from "hono/utils/url";
import "./context.ts";
import { recordAudit } from "../audit.ts";
import { authenticate } from "../auth/principal.ts";
import { config } from "../config.ts";
import { sql } from "../db/client.ts";
import { log } from "../log.ts";
import { coerceError, envelope, HttpError } from "./errors.ts";

/** What the platform's gateway puts in front of `/<function>`; the local gateway leaves it on. */
const PLATFORM_PREFIX = "/functions/v1/";

/**
 * Hono's path, with `/functions/v1` dropped when present: hosted Supabase hands a function
 * `/<name>/…`, the local gateway passes the request through untouched (copying a Request costs
 * more than everything else the gateway does).
 */
function functionPath(req: Request): string {
  const path = getPath(req);
  return path.startsWith(PLATFORM_PREFIX) ? path.slice(PLATFORM_PREFIX.length - 1) : path;
}

export function createApp(functionName: string): Hono {
  const app = new Hono({ getPath: functionPath }).basePath(`/${functionName}`);
  app.use(requestContext(functionName));
  app.use(bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: () => {
      throw new HttpError(413, "payload_too_large", `Request body is larger than ${config.maxBodyBytes} bytes`);
    },
  }));
  app.onError((err, c) => renderError(err, c));
  app.notFound((c) => envelope(404, "not_found", `No route for ${c.req.method} ${c.req.path}`));
  return app;
}

export function renderError(err: unknown, c: Context): Response {
  const e = coerceError(err);
  if (e.status >= 500) {
    log.error("request failed", {
      requestId: c.get("requestId"),
      path: c.req.path,
      error: err instanceof Error ? err.stack ?? err.message : String(err),
    });
  }
  return envelope(e.status, e.code, e.message, e.headers, e.details);
}

/** Request id (echoed as X-Request-Id) and the audit row, written after the response is decided. */
function requestContext(functionName: string): MiddlewareHandler {
  return async function requestContext(c, next) {
    const started = performance.now();
    const requestId = crypto.randomUUID();
    c.set("requestId", requestId);
    try {
      await next();
    } finally {
      const principal = c.get("principal");
      const status = c.res?.status ?? 500;
      c.res?.headers.set("x-request-id", requestId);
      recordAudit({
        workspace_id: c.get("workspaceId") ?? (principal?.kind === "token" ? principal.workspaceId : null),
        function_name: functionName,
        endpoint: c.req.path,
        method: c.req.method,
        table_id: c.get("tableId") ?? null,
        tool_name: c.get("toolName") ?? null,
        status_code: c.get("toolStatus") ?? status,
        token_id: principal?.kind === "token" ? principal.tokenId : null,
        user_id: principal?.kind === "user" ? principal.userId : principal?.createdBy ?? null,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        request_id: requestId,
        created_at: new Date(),
      });
    }
  };
}

/** Authenticates the caller (401 otherwise) and counts the request against its rate limit (429). */
export function requireAuth(): MiddlewareHandler {
  return async function requireAuth(c, next) {
    const principal = await authenticate(c.req.raw.headers);
    c.set("principal", principal);
    if (principal.kind === "token") c.set("workspaceId", principal.workspaceId);
    await enforceRateLimit(
      principal.kind === "token" ? `t:${principal.tokenId}` : `u:${principal.userId}`,
      principal.kind === "token"
        ? principal.rateLimitPerMinute ?? config.rateLimitPerMinute
        : config.rateLimitPerMinute,
    );
    await next();
  };
}

async function enforceRateLimit(key: string, perMinute: number) {
  if (perMinute === 0) return; // 0 turns the limit off
  const [{ wait }] = await sql<{ wait: number }[]>`select private.rate_limit_hit(${key}, ${perMinute}, 60) as wait`;
  if (wait > 0) {
    throw new HttpError(
      429,
      "rate_limited",
      `Rate limit of ${perMinute} requests per minute exceeded; retry in ${wait} s`,
      { "retry-after": String(wait) },
    );
  }
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
type Handler = (c: Context) => Response | Promise<Response>;

/**
 * Registers the handlers of one path and answers every other method with 405 and `Allow`.
 * Middleware (auth) runs only for the allowed methods.
 */
export function resource(
  app: Hono,
  path: string,
  handlers: Partial<Record<Method, Handler>>,
  ...middleware: MiddlewareHandler[]
) {
  const allowed = Object.keys(handlers) as Method[];
  const on = app.on.bind(app) as (method: string, path: string, ...handlers: MiddlewareHandler[]) => Hono;
  for (const method of allowed) on(method, path, ...middleware, handlers[method]! as MiddlewareHandler);
  const allow = [...allowed, ...(allowed.includes("GET") ? ["HEAD"] : [])].join(", ");
  app.all(path, (c) => {
    if (c.req.method === "HEAD" && allowed.includes("GET")) return handlers.GET!(c);
    if (c.req.method === "OPTIONS") return new Response(null, { status: 204, headers: { allow } });
    throw new HttpError(405, "method_not_allowed", `${c.req.method} is not allowed here; use ${allow}`, {
      allow,
    });
  });
}
