// The worker loop: claims pipeline jobs (FOR UPDATE SKIP LOCKED, with a lease), runs them, and
// deletes, retries (exponential backoff) or gives up. Woken by NOTIFY aitizer_jobs, and polls
// for delayed and backed-off jobs. Several workers, in one process or many, share the queue.
import { config } from "../config.ts";
import { sql } from "../db/client.ts";
import { log } from "../log.ts";
import { loadShape, type Reason, RetryableError, runPipeline } from "./pipeline.ts";

const LEASE_SECONDS = 120;
/** Records a backfill recomputes per claim, so other jobs interleave. */
const BACKFILL_BATCH = 200;
const POLL_MS = 1_000;

export interface Job {
  id: number;
  table_id: number;
  record_id: number;
  reason: Reason | "backfill";
  attempts: number;
  max_attempts: number;
  chain: string[];
  resume_after: number | null;
  progress: { done: number; total: number | null } | null;
}

/** Claims up to `n` ready jobs for `worker` (expired leases included: their worker died). */
export async function claim(worker: string, n: number): Promise<Job[]> {
  return await sql<Job[]>`
    update public.engine_jobs j set locked_by = ${worker}, locked_until = now() + ${`${LEASE_SECONDS} seconds`}::interval,
                                  attempts = j.attempts + 1
    where j.id in (
      select id from public.engine_jobs
      where run_at <= now() and (locked_by is null or locked_until < now())
      order by priority desc, run_at, id
      limit ${n}
      for update skip locked)
    returning j.id, j.table_id, j.record_id, j.reason, j.attempts, j.max_attempts, j.chain, j.resume_after, j.progress`;
}

/** Runs one claimed job to its end: done, retried later, or given up (logged either way). */
export async function process(worker: string, job: Job): Promise<void> {
  // A long job (a loop with pauses, slow endpoints) keeps its lease while it is alive.
  const heartbeat = setInterval(() => {
    sql`update public.engine_jobs set locked_until = now() + ${`${LEASE_SECONDS} seconds`}::interval
        where id = ${job.id} and locked_by = ${worker}`.catch(() => {});
  }, (LEASE_SECONDS / 3) * 1000);
  try {
    if (job.reason === "backfill") return await backfill(worker, job);
    await runPipeline({
      id: job.id,
      table_id: job.table_id,
      record_id: job.record_id,
      reason: job.reason,
      attempts: job.attempts,
      chain: job.chain,
      resume_after: job.resume_after,
    });
    await sql`delete from public.engine_jobs where id = ${job.id} and locked_by = ${worker}`;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof RetryableError && job.attempts < job.max_attempts) {
      const delayMs = config.engineBackoffMs * 2 ** (job.attempts - 1);
      await sql`
        update public.engine_jobs set locked_by = null, locked_until = null, last_error = ${message},
          run_at = now() + ${`${delayMs} milliseconds`}::interval
        where id = ${job.id} and locked_by = ${worker}`.catch(async () => {
        // Another job for the record is already pending: that one will run the pipeline.
        await sql`delete from public.engine_jobs where id = ${job.id}`;
      });
      return;
    }
    log.warn("pipeline job failed for good", {
      job: job.id,
      table: job.table_id,
      record: job.record_id,
      error: message,
    });
    await sql`delete from public.engine_jobs where id = ${job.id} and locked_by = ${worker}`;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * A computed column was added or changed: recompute its table in batches, the cursor in
 * record_id and {done, total} in progress (shown on the column while it runs).
 */
async function backfill(worker: string, job: Job): Promise<void> {
  const table = await loadShape(sql, job.table_id);
  if (!table) {
    await sql`delete from public.engine_jobs where id = ${job.id}`;
    return;
  }
  const t = sql(`public.${table.pg_table_name}`);
  const total = job.progress?.total ?? (await sql<{ n: number }[]>`select count(*)::int as n from ${t}`)[0].n;
  const ids = await sql<{ id: number }[]>`
    select id from ${t} where id > ${job.record_id} order by id limit ${BACKFILL_BATCH}`;
  for (const { id } of ids) {
    await runPipeline({ table_id: table.id, record_id: id, reason: "recompute", quiet: true }).catch((e) => {
      if (!(e instanceof RetryableError)) throw e;
    });
  }
  const done = (job.progress?.done ?? 0) + ids.length;
  if (ids.length < BACKFILL_BATCH) {
    await sql`delete from public.engine_jobs where id = ${job.id} and locked_by = ${worker} and record_id = ${job.record_id}`;
    return;
  }
  await sql`
    update public.engine_jobs set record_id = ${ids[ids.length - 1].id}, locked_by = null, locked_until = null,
      attempts = 0, run_at = now(), progress = ${JSON.stringify({ done, total })}::text::jsonb
    where id = ${job.id} and locked_by = ${worker} and record_id = ${job.record_id}`;
}

/** Claims and runs ready jobs until none are left (or the deadline passed); returns how many ran. */
export async function drain(
  worker: string,
  concurrency = config.engineConcurrency,
  deadline = Number.POSITIVE_INFINITY,
): Promise<number> {
  let ran = 0;
  while (performance.now() < deadline) {
    const jobs = await claim(worker, concurrency);
    if (jobs.length === 0) return ran;
    await Promise.all(jobs.map((job) => process(worker, job)));
    ran += jobs.length;
  }
  return ran;
}

/** Starts a worker loop in this process; returns a function that stops it. */
export async function startWorker(name = `worker-${crypto.randomUUID().slice(0, 8)}`): Promise<() => Promise<void>> {
  let stopped = false;
  let wake: (() => void) | null = null;
  let running: Promise<unknown> = Promise.resolve();
  const listener = await sql.listen("aitizer_jobs", () => wake?.());
  const loop = async () => {
    while (!stopped) {
      try {
        running = drain(name);
        await running;
      } catch (e) {
        log.error("worker loop error", { worker: name, error: String(e) });
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  };
  const done = loop();
  return async () => {
    stopped = true;
    wake?.();
    await listener.unlisten();
    await done;
  };
}
