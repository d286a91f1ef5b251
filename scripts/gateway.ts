// The local stand-in for Supabase's edge gateway: every folder in supabase/functions (but
// _shared) is mounted at /functions/v1/<name>. The request goes through as it came; the app
// reads its path from /<name> on with or without the /functions/v1 prefix (http/app.ts), so it
// routes exactly as on the platform. Run by `npm start` (port 54321) and `npm test` (its own port).
import { flushAudit } from "../supabase/functions/_shared/audit.ts";
import { principalSql, sql } from "../supabase/functions/_shared/db/client.ts";
import { envelope } from "../supabase/functions/_shared/http/errors.ts";
import { config } from "../supabase/functions/_shared/config.ts";
import { startWorker } from "../supabase/functions/_shared/engine/worker.ts";

type Handler = { fetch: (req: Request) => Response | Promise<Response> };

const root = new URL("../supabase/functions/", import.meta.url);
const functions = new Map<string, Handler>();
for await (const entry of Deno.readDir(root)) {
  if (!entry.isDirectory || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
  const mod = await import(new URL(`${entry.name}/index.ts`, root).href);
  functions.set(entry.name, mod.default as Handler);
}

const PREFIX = "/functions/v1/";

function route(req: Request): Response | Promise<Response> {
  const url = req.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const path = url.slice(start);
  if (!path.startsWith(PREFIX)) {
    return envelope(404, "not_found", `No route for ${req.method} ${new URL(url).pathname}`);
  }
  const name = path.slice(PREFIX.length).split(/[/?#]/, 1)[0];
  const fn = functions.get(name);
  if (!fn) return envelope(404, "not_found", `No function named '${name}'`);
  return fn.fetch(req);
}

const port = Number(Deno.env.get("PORT") ?? 54321);
const server = Deno.serve({ port, hostname: "0.0.0.0", onListen: () => {} }, route);
console.error(`[gateway] serving ${[...functions.keys()].join(", ")} on http://localhost:${port}/functions/v1/`);

// The automation engine's worker runs in the gateway locally (on hosted Supabase: the action-worker
// function, woken by pg_cron + pg_net).
const stopWorker = config.engineWorker ? await startWorker("gateway") : null;

async function shutdown() {
  await server.shutdown();
  await stopWorker?.();
  await flushAudit();
  await Promise.all([sql.end({ timeout: 5 }), principalSql.end({ timeout: 5 })]);
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
