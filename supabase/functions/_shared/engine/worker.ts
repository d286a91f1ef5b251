// The worker loop: claims pipeline jobs, runs them, and deletes, retries (exponential backoff) or
// gives up. A claim is a session advisory lock on the job's id, taken on this process's lock
// connection (migration 0022): no row is written to claim a job, and a worker that dies releases
// its jobs with its session. Woken by NOTIFY aitizer_jobs, and polls for delayed and backed-off
// jobs. Several workers, in one process or many, share the queue.
import { config } from "../config.ts";
import { pipelinedAsOwner, sessionClient, type Sql, sql, type Tx } from "../db/client.ts";
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
  runJob,
  runPipeline,
  writeOutcome,
} from "./pipeline.ts";

/** A draining worker renews its heartbeat this often; pg_cron ends workers silent for 2 minutes. */
const HEARTBEAT_MS = 40_000;
/** Records a backfill recomputes per claim, so other jobs interleave. */
const BACKFILL_BATCH = 200;
const POLL_MS = 1_000;
/** How long a listener's ping to itself may take before the listener is replaced. */
const PING_TIMEOUT_MS = 5_000;

export interface Job {
  id: number;
  table_id: number;
  record_id: number;
  reason: Reason | "backfill";
  /** The attempt this run is (1 for the first). */
  attempts: number;
  max_attempts: number;
  chain: string[];
  resume_after: number | null;
  progress: { done: number; total: number | null } | null;
  /** The record's write count when the job was claimed: a change means it runs again. */
  edits: number;
}

/** A claimed job, with its table's schema version and whether its record's lock was taken. */
interface Claimed extends Job {
  schema_version: number | null;
  locked: boolean;
}

/**
 * Jobs whose lock this process holds (claimed, running, or being settled). The claim skips them:
 * advisory locks are re-entrant within a session, so without this a claim would take them again.
 * A job leaves the set when its release is sent: a later claim runs after it on the same connection.
 */
const mine = new Set<number>();

/**
 * Claims up to `n` ready jobs, in queue order, in one statement on the lock connection; each also
 * tries its record's lock (a backfill takes none), and comes with its table's schema version.
 */
async function claim(conn: Sql, n: number): Promise<Claimed[]> {
  const jobs = await conn<Claimed[]>`select * from private.claim_jobs(${n}, ${[...mine]}::bigint[])`;
  for (const job of jobs) mine.add(job.id);
  return jobs;
}

/** Gives back job locks (and record locks) once whatever settled the jobs has committed. */
function releaseJobs(jobIds: number[], recordKeys: string[] = []): Promise<void> {
  for (const id of jobIds) mine.delete(id);
  return release(recordKeys, jobIds);
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

/**
 * Ends finished jobs: deletes each unless its record was written while it ran (its `edits` moved),
 * in which case it runs again, now, with the newest write's reason (private.finish_jobs).
 */
function finish(tx: Tx | typeof sql, jobs: Job[]) {
  return tx`select private.finish_jobs(${jobs.map((j) => j.id)}::bigint[], ${jobs.map((j) => j.edits)}::int[])`
    .execute();
}

/** Runs one claimed job to its end: done, retried later, or given up (logged either way). */
export async function process(job: Job): Promise<void> {
  try {
    if (job.reason === "backfill") return await backfill(job);
    const { parked } = await runJob(pipelineJob(job));
    if (!parked) await finish(sql, [job]);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof RetryableError && job.attempts < job.max_attempts) {
      await requeue([{
        id: job.id,
        delayMs: backoffMs(job),
        error: message,
        attempts: job.attempts,
        edits: job.edits,
      }]);
      return;
    }
    log.warn("pipeline job failed for good", {
      job: job.id,
      table: job.table_id,
      record: job.record_id,
      error: message,
    });
    await finish(sql, [job]);
  }
}

/**
 * A computed column was added or changed: recompute its table in batches, the cursor in
 * record_id and {done, total} in progress (shown on the column while it runs). A change of the
 * column meanwhile restarts the job at record 0: the writes here only touch the batch they ran.
 */
async function backfill(job: Job): Promise<void> {
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
    await sql`delete from public.engine_jobs where id = ${job.id} and record_id = ${job.record_id}`;
    return;
  }
  await sql`
    update public.engine_jobs set record_id = ${ids[ids.length - 1].id}, attempts = 0, run_at = now(),
      progress = ${JSON.stringify({ done, total })}::text::jsonb
    where id = ${job.id} and record_id = ${job.record_id}`;
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
  /** The attempts count to store (those that ended). */
  attempts?: number;
  /** A parked job resumes after this column. */
  resumeAfter?: number;
  /** `edits` as claimed, for a job that ran: if the record changed since, it runs anew at once. */
  edits?: number;
}

/**
 * Puts claimed jobs back in the queue after a delay (a retry's backoff, a delay column, a busy
 * record). A job that ran while its record was written again runs anew instead, now
 * (private.requeue_jobs).
 */
function requeue(items: Requeue[], tx: Tx | typeof sql = sql) {
  if (items.length === 0) return Promise.resolve();
  return tx`select private.requeue_jobs(${JSON.stringify(items)}::text::jsonb)`.execute().then(() => {});
}

/**
 * Writes finished jobs together, in one round trip (results, logs, queue updates and COMMIT sent
 * at once); if the batch fails, each alone (one bad row holds no one back).
 */
async function settle(batch: Disposition[]) {
  const write = (items: Disposition[]) =>
    pipelinedAsOwner((tx) => {
      const outcomes = items.flatMap((d) => (d.outcome ? [d.outcome] : []));
      const done = items.filter((d) => d.kind === "done").map((d) => d.job);
      const later = items.flatMap((d): Requeue[] =>
        d.kind === "retry"
          ? [{ id: d.job.id, delayMs: backoffMs(d.job), error: d.error, attempts: d.job.attempts, edits: d.job.edits }]
          : d.kind === "park"
          ? [{
            id: d.job.id,
            delayMs: d.seconds * 1000,
            error: null,
            attempts: 0,
            resumeAfter: d.columnId,
            edits: d.job.edits,
          }]
          : []
      );
      // Every statement leaves before the first await (writeOutcome and requeue send theirs at once).
      return Promise.all([
        writeOutcome(tx, ...outcomes),
        done.length > 0 ? finish(tx, done) : null,
        requeue(later, tx),
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
          await settle(batch);
        } catch (e) {
          failure ??= e; // the jobs are still queued: once their locks are released, they run again
        }
        // Only now: a lock released before the writes committed would let another worker run the job.
        await releaseJobs(batch.map((d) => d.job.id), batch.map((d) => lockKey(d.job))).catch((e) => (failure ??= e));
      }
      settling = null;
    })();

  // This drain's heartbeat: a worker that stops beating (hung with its connection open) has its
  // session ended by pg_cron (private.reclaim_stalled_workers), which releases its jobs.
  const beat = () => conn`select private.engine_worker_beat(${worker})`.execute();
  await beat();
  const heartbeat = setInterval(() => beat().catch(() => {}), HEARTBEAT_MS);

  try {
    while (failure === null) {
      const free = concurrency - inflight.size;
      if (free > 0 && (inflight.size <= concurrency / 2) && performance.now() < deadline) {
        const claimed = await claim(conn, free);
        if (claimed.length === 0 && inflight.size === 0) break;
        ran += claimed.length;
        for (const job of claimed.filter((j) => j.reason === "backfill")) {
          const p = process(job)
            .finally(() => releaseJobs([job.id]).catch((e) => (failure ??= e)))
            .finally(() => done(job.id));
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
          await requeue(busy.map((j) => ({ id: j.id, delayMs: 100, error: null })));
          await releaseJobs(busy.map((j) => j.id));
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
          // The slot frees as soon as the pipeline ran; its outcome (and its locks) go with the
          // next group commit.
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
    await conn`delete from public.engine_workers where name = ${worker}`.catch(() => {});
  }
  if (failure !== null) throw failure;
  return ran;
}

/**
 * Starts a worker loop in this process; returns a function that stops it. `name` is suffixed to be
 * unique: two processes started alike (two gateways) have rows of their own in engine_workers and
 * engine_listeners.
 */
export async function startWorker(prefix = "worker"): Promise<() => Promise<void>> {
  const name = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  const ping = `ping:${name}`;
  let stopped = false;
  // A NOTIFY that arrives while a drain is running is remembered: the loop drains again at once
  // instead of sleeping through it.
  let notified = false;
  let wake: (() => void) | null = null;
  let echoed: (() => void) | null = null;
  const onNotify = (payload: string) => {
    if (payload === ping) return echoed?.();
    if (payload.startsWith("ping:")) return; // another worker's
    notified = true;
    wake?.();
  };

  // Writes NOTIFY only while a listener is registered (migration 0024): register once listening
  // (again after the listening connection came back), renew while this worker hears. Registrations
  // run one after another, and none after stop() began.
  let registering = Promise.resolve();
  const register = () =>
    registering = registering.then(async () => {
      if (stopped) return;
      await sql`insert into public.engine_listeners (name, seen_at) values (${name}, now())
                on conflict (name) do update set seen_at = excluded.seen_at`.execute().catch((e) =>
        log.error("engine: registering the listener failed", { worker: name, error: String(e) })
      );
    });

  // A client of its own, so that a listener gone deaf can be replaced whole.
  let listening: Sql | null = null;
  const listen = async () => {
    listening = sessionClient("aitizer-engine-listen", () => {});
    await listening.listen("aitizer_jobs", onNotify, () => void register());
  };
  await listen();
  await register();

  // The row is renewed only while a ping to itself comes back: postgres.js listens again once after
  // its connection drops, and never again if that failed (the database still starting, say).
  const renew = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const heard = new Promise<boolean>((resolve) => {
      echoed = () => resolve(true);
      timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    });
    await sql`select pg_catalog.pg_notify('aitizer_jobs', ${ping})`.execute().catch(() => {});
    const ok = await heard;
    clearTimeout(timer);
    echoed = null;
    if (stopped) return;
    if (ok) return await register();
    log.warn("engine: the listener stopped hearing; listening again", { worker: name });
    await listening?.end({ timeout: 0 }).catch(() => {});
    await listen().catch((e) => log.error("engine: listening failed", { worker: name, error: String(e) }));
  };
  let renewing: Promise<void> = Promise.resolve();
  const renewal = setInterval(() => (renewing = renew()), HEARTBEAT_MS);

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
    clearInterval(renewal);
    echoed?.();
    wake?.();
    await renewing;
    await registering;
    await listening?.end({ timeout: 0 }).catch(() => {});
    await sql`delete from public.engine_listeners where name = ${name}`.catch(() => {});
    await done;
  };
}
