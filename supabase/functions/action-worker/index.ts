// The engine's worker as a function: on hosted Supabase nothing keeps a process alive to LISTEN,
// so pg_net (a trigger on new jobs, and pg_cron every minute for due delays and retries) POSTs
// here; each call drains the queue for up to AITIZER_WORKER_BUDGET_MS. Several calls may run at
// once: jobs are claimed with SKIP LOCKED. Locally the gateway runs the same loop (LISTEN/NOTIFY).
import { timingSafeEqual } from "node:crypto";
import { config } from "../_shared/config.ts";
import { drain } from "../_shared/engine/worker.ts";
import { createApp, resource } from "../_shared/http/app.ts";
import { HttpError, unauthorized } from "../_shared/http/errors.ts";

const app = createApp("action-worker");

function authorize(header: string | undefined) {
  if (!config.workerSecret) {
    throw new HttpError(
      503,
      "service_unavailable",
      "The action-worker needs AITIZER_WORKER_SECRET (supabase secrets set)",
    );
  }
  const given = new TextEncoder().encode(header?.replace(/^Bearer\s+/i, "") ?? "");
  const expected = new TextEncoder().encode(config.workerSecret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw unauthorized("Invalid worker secret");
  }
}

resource(app, "/", {
  POST: async (c) => {
    authorize(c.req.header("authorization"));
    const started = performance.now();
    const worker = `action-worker-${crypto.randomUUID().slice(0, 8)}`;
    const ran = await drain(worker, config.engineConcurrency, started + config.workerBudgetMs);
    return c.json({ worker, ran, duration_ms: Math.round(performance.now() - started) });
  },
});

export default { fetch: app.fetch };

if (import.meta.main) Deno.serve(app.fetch);
