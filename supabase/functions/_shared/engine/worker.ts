// The worker loop: claims pipeline jobs (FOR UPDATE SKIP LOCKED, with a lease), runs them, and
// deletes, retries (exponential backoff) or gives up. Woken by NOTIFY aitizer_jobs, and polls
// for delayed and backed-off jobs. Several workers, in one process or many, share the queue.
import { config } from "../config.ts";
import { pipelinedAsOwner, type Sql, sql, type Tx } from "../db/client.ts";
import { adopt, holds, lockConnection, recordKey, release, releaseExtra } from "./locks.ts";
import { log } from "../log.ts";
import type { TableShape } from "../tables/meta.ts";
import {
  computePipeline,
  loadShape,
  type Outcome,
  type PipelineJob,
  type Reason,
  RetryableError,
  runPipeline,
  writeOutcome,
} from "./pipeline.ts";

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

/** A claimed job, with its table's schema version and whether its record's lock was taken. */
interface Claimed extends Job {
  schema_version: number | null;
  locked: boolean;
}

/**
 * Claims up to `n` ready jobs for `worker` (expired leases first: their worker died), in one
 * statement on the drain's lock connection that also tries each record's lock (a backfill takes
 * none) and reads each table's schema version.
 */
async function claim(conn: Sql, worker: string, n: number): Promise<Claimed[]> {
  return await conn<Claimed[]>`
    with expired as (
      -- Leases that ran out: their worker died.
      select id from public.engine_jobs
      where locked_by is not null and locked_until < now()
      order by locked_until
      limit ${n}
      for update skip locked
    ), ready as (
      select id from public.engine_jobs
      where locked_by is null and run_at <= now()
      order by priority desc, run_at, id
      limit ${n}
      for update skip locked
    ), claimed as (
      update public.engine_jobs j set locked_by = ${worker},
        locked_until = now() + ${`${LEASE_SECONDS} seconds`}::interval, attempts = j.attempts + 1
      where j.id in (select id from (select id from expired union all select id from ready) x limit ${n})
      returning j.id, j.table_id, j.record_id, j.reason, j.attempts, j.max_attempts, j.chain, j.resume_after,
                j.progress)
    select c.*, t.schema_version,
           case when c.reason = 'backfill' then true
                else pg_try_advisory_lock(hashtextextended('aitizer:' || c.table_id || ':' || c.record_id, 0)) end
             as locked
    from claimed c left join public.app_tables t on t.id = c.table_id
    order by c.id`;
}

/** The pipeline's view of a claimed (non-backfill) job. */
const pipelineJob = (job: Job): PipelineJob => ({
  id: job.id,
  table_id: job.table_id,
  record_id: job.record_id,
  reason: job.reason as Reason,
  attempts: job.attempts,
  chain: job.chain,
  resume_after: job.resume_after,
});

/** Exponential backoff before a retryable failure's next attempt. */
const backoffMs = (job: Job) => config.engineBackoffMs * 2 ** (job.attempts - 1);

/** Runs one claimed job to its end: done, retried later, or given up (logged either way). */
export async function process(worker: string, job: Job): Promise<void> {
  // A long job (a loop with pauses, slow endpoints) keeps its lease while it is alive.
  const heartbeat = setInterval(() => {
    sql`update public.engine_jobs set locked_until = now() + ${`${LEASE_SECONDS} seconds`}::interval
        where id = ${job.id} and locked_by = ${worker}`.catch(() => {});
  }, (LEASE_SECONDS / 3) * 1000);
  try {
    if (job.reason === "backfill") return await backfill(worker, job);
    await runPipeline(pipelineJob(job));
    await sql`delete from public.engine_jobs where id = ${job.id} and locked_by = ${worker}`;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof RetryableError && job.attempts < job.max_attempts) {
      await requeue(worker, [{ id: job.id, delayMs: backoffMs(job), error: message }]);
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

// ---------------------------------------------------------------------------------------------
// Draining in batches. The per-record work (actions, HTTP calls) runs concurrently; everything a
// job costs the database is shared with the jobs around it: one claim for many jobs, their record
// locks taken and released together on one connection, their rows read with one query per table,
// and their results, logs and queue updates written in one transaction (group commit: outcomes
// that finish while a write is in flight go in the next one).
// ---------------------------------------------------------------------------------------------

/** Table shapes by id, with the schema version they were read at. */
const shapes = new Map<number, { version: number; shape: TableShape }>();
const SHAPES_MAX = 1_000;

async function shapesOf(jobs: Claimed[]): Promise<Map<number, TableShape | null>> {
  const out = new Map<number, TableShape | null>();
  for (const job of jobs) {
    if (out.has(job.table_id)) continue;
    if (job.schema_version === null) {
      out.set(job.table_id, null); // the table is gone
      continue;
    }
    const cached = shapes.get(job.table_id);
    if (cached && cached.version === job.schema_version) {
      out.set(job.table_id, cached.shape);
      continue;
    }
    const shape = await loadShape(sql, job.table_id);
    if (shape) {
      if (shapes.size >= SHAPES_MAX) shapes.delete(shapes.keys().next().value!);
      shapes.set(job.table_id, { version: job.schema_version, shape });
    }
    out.set(job.table_id, shape);
  }
  return out;
}

/** What becomes of a job once its pipeline ran. */
type Disposition =
  | { job: Job; kind: "done"; outcome?: Outcome }
  | { job: Job; kind: "retry"; outcome?: Outcome; error: string }
  | { job: Job; kind: "park"; outcome: Outcome; seconds: number; columnId: number };

const lockKey = (job: Job) => recordKey(job.table_id, job.record_id);

interface Requeue {
  id: number;
  delayMs: number;
  error: string | null;
  /** Give back the attempt the claim counted (the job did not run). */
  attemptsBack?: number;
  /** A parked job resumes after this column. */
  resumeAfter?: number;
}

/**
 * Puts claimed jobs back in the queue after a delay. A job whose record meanwhile got another
 * pending job is dropped instead: that one runs the record's pipeline anew.
 */
async function requeue(worker: string, items: Requeue[], tx: Tx | typeof sql = sql) {
  if (items.length === 0) return;
  const ids = items.map((i) => i.id); // lets the planner find the jobs by primary key
  await tx`
    with r as (
      select * from jsonb_to_recordset(${JSON.stringify(items)}::text::jsonb)
        as r(id bigint, "delayMs" integer, error text, "attemptsBack" integer, "resumeAfter" bigint)
    ), kept as (
      update public.engine_jobs j set locked_by = null, locked_until = null,
        run_at = now() + r."delayMs" * interval '1 millisecond',
        last_error = coalesce(r.error, j.last_error),
        attempts = case when r."resumeAfter" is not null then 0 else j.attempts - coalesce(r."attemptsBack", 0) end,
        resume_after = coalesce(r."resumeAfter", j.resume_after)
      from r
      where j.id = r.id and j.id = any(${ids}::bigint[]) and j.locked_by = ${worker}
        and not exists (
          select 1 from public.engine_jobs p
          where p.table_id = j.table_id and p.record_id = j.record_id and p.id <> j.id and p.locked_by is null
            and p.reason in ('create', 'edit', 'recompute') and j.reason in ('create', 'edit', 'recompute'))
      returning j.id
    )
    delete from public.engine_jobs j using r
    where j.id = r.id and j.id = any(${ids}::bigint[]) and j.locked_by = ${worker}
      and j.id not in (select id from kept)`.execute();
}

/**
 * Writes finished jobs together, in one round trip (results, logs, queue updates and COMMIT sent
 * at once); if the batch fails, each alone (one bad row holds no one back).
 */
async function settle(worker: string, batch: Disposition[]) {
  const write = (items: Disposition[]) =>
    pipelinedAsOwner((tx) => {
      const outcomes = items.flatMap((d) => (d.outcome ? [d.outcome] : []));
      const done = items.filter((d) => d.kind === "done").map((d) => d.job.id);
      const later = items.flatMap((d): Requeue[] =>
        d.kind === "retry"
          ? [{ id: d.job.id, delayMs: backoffMs(d.job), error: d.error }]
          : d.kind === "park"
          ? [{ id: d.job.id, delayMs: d.seconds * 1000, error: null, resumeAfter: d.columnId }]
          : []
      );
      // Every statement leaves before the first await (writeOutcome and requeue send theirs at once).
      return Promise.all([
        writeOutcome(tx, ...outcomes),
        done.length > 0
          ? tx`delete from public.engine_jobs where id = any(${done}::bigint[]) and locked_by = ${worker}`.execute()
          : null,
        requeue(worker, later, tx),
      ]);
    });
  try {
    await write(batch);
  } catch (e) {
    if (batch.length === 1) throw e;
    for (const d of batch) {
      await write([d]).catch((err) =>
        log.error("engine: writing a job's outcome failed", { job: d.job.id, error: String(err) })
      );
    }
  }
}

/** Runs one locked job's pipeline on its row; never throws. */
async function run(job: Job, table: TableShape | null, row: Record<string, unknown> | undefined): Promise<Disposition> {
  if (!table || !row) return { job, kind: "done" }; // the table or the record is gone
  try {
    const outcome = await computePipeline(pipelineJob(job), table, row);
    if (outcome.park) return { job, kind: "park", outcome, ...outcome.park };
    if (outcome.retry) {
      if (job.attempts < job.max_attempts) return { job, kind: "retry", outcome, error: outcome.retry.message };
      log.warn("pipeline job failed for good", { job: job.id, record: job.record_id, error: outcome.retry.message });
    }
    return { job, kind: "done", outcome };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    if (e instanceof RetryableError && job.attempts < job.max_attempts) return { job, kind: "retry", error };
    log.warn("pipeline job failed for good", { job: job.id, record: job.record_id, error });
    return { job, kind: "done" };
  }
}

/**
 * Claims and runs ready jobs until none are left (or the deadline passed); returns how many ran.
 * Up to `concurrency` pipelines are in flight; more are claimed as they finish.
 */
export async function drain(
  worker: string,
  concurrency = config.engineConcurrency,
  deadline = Number.POSITIVE_INFINITY,
): Promise<number> {
  const conn = lockConnection();
  const inflight = new Map<number, Promise<void>>();
  // Wakes the loop when a run ends (Promise.race over every run in flight cost O(runs) per wake-up,
  // and left a reaction on each of them every time).
  let slotFreed: (() => void) | null = null;
  const done = (jobId: number) => {
    inflight.delete(jobId);
    slotFreed?.();
    slotFreed = null;
  };
  const finished: Disposition[] = [];
  let settling: Promise<void> | null = null;
  let ran = 0;
  let failure: unknown = null;

  // Group commit: whatever finished while the previous write was in flight goes in the next.
  const flush = (): Promise<void> =>
    settling ??= (async () => {
      while (finished.length > 0) {
        const batch = finished.splice(0);
        try {
          await settle(worker, batch);
        } catch (e) {
          failure ??= e; // the jobs keep their lease and run again when it runs out
        }
        await release(batch.map((d) => lockKey(d.job))).catch((e) => (failure ??= e));
      }
      settling = null;
    })();

  const heartbeat = setInterval(() => {
    const ids = [...inflight.keys()];
    if (ids.length === 0) return;
    sql`update public.engine_jobs set locked_until = now() + ${`${LEASE_SECONDS} seconds`}::interval
        where id = any(${ids}::bigint[]) and locked_by = ${worker}`.catch(() => {});
  }, (LEASE_SECONDS / 3) * 1000);

  try {
    while (failure === null) {
      const free = concurrency - inflight.size;
      if (free > 0 && (inflight.size <= concurrency / 2) && performance.now() < deadline) {
        const claimed = await claim(conn, worker, free);
        if (claimed.length === 0 && inflight.size === 0) break;
        ran += claimed.length;
        for (const job of claimed.filter((j) => j.reason === "backfill")) {
          const p = process(worker, job).finally(() => done(job.id));
          inflight.set(job.id, p);
        }
        // A record another run holds (a run on demand, another worker), or that this drain already
        // runs (advisory locks are re-entrant within a session: give the extra hold back): later.
        const locked: Claimed[] = [];
        const again: Claimed[] = [];
        for (const job of claimed) {
          if (!job.locked || job.reason === "backfill") continue;
          if (holds(lockKey(job))) again.push(job);
          else {
            adopt(lockKey(job));
            locked.push(job);
          }
        }
        await releaseExtra(again.map(lockKey));
        const busy = [...claimed.filter((j) => !j.locked), ...again];
        if (busy.length > 0) {
          await requeue(worker, busy.map((j) => ({ id: j.id, delayMs: 100, error: null, attemptsBack: 1 })));
        }
        const tables = await shapesOf(locked);
        const rows = new Map<string, Record<string, unknown>>();
        for (const [tableId, table] of tables) {
          if (!table) continue;
          const ids = locked.filter((j) => j.table_id === tableId).map((j) => j.record_id);
          const found = await sql<Record<string, unknown>[]>`
            select * from ${sql(`public.${table.pg_table_name}`)} where id = any(${ids}::bigint[])`;
          for (const r of found) rows.set(`${tableId}:${r.id}`, r);
        }
        for (const job of locked) {
          // The slot frees as soon as the pipeline ran; its outcome (and its record lock) goes
          // with the next group commit.
          const p = run(job, tables.get(job.table_id) ?? null, rows.get(`${job.table_id}:${job.record_id}`))
            .then((d) => {
              finished.push(d);
              void flush();
            })
            .finally(() => done(job.id));
          inflight.set(job.id, p);
        }
        if (claimed.length > 0) continue;
      }
      if (inflight.size === 0) break;
      await new Promise<void>((resolve) => (slotFreed = resolve));
    }
    await Promise.all(inflight.values());
    while (settling || finished.length > 0) await flush();
  } finally {
    clearInterval(heartbeat);
  }
  if (failure !== null) throw failure;
  return ran;
}

/** Starts a worker loop in this process; returns a function that stops it. */
export async function startWorker(name = `worker-${crypto.randomUUID().slice(0, 8)}`): Promise<() => Promise<void>> {
  let stopped = false;
  // A NOTIFY that arrives while a drain is running is remembered: the loop drains again at once
  // instead of sleeping through it.
  let notified = false;
  let wake: (() => void) | null = null;
  const listener = await sql.listen("aitizer_jobs", () => {
    notified = true;
    wake?.();
  });
  const loop = async () => {
    while (!stopped) {
      notified = false;
      try {
        await drain(name);
      } catch (e) {
        log.error("worker loop error", { worker: name, error: String(e) });
      }
      if (stopped || notified) continue;
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
