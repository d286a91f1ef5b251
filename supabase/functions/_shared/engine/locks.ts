// Record locks: one pipeline per record at a time, across processes. They are session advisory
// locks, all held on ONE connection per process, a client of its own (db/client.ts sessionClient):
// a run waiting for a lock holds no pool connection (waiting ones once filled the pool while the
// holders needed one to finish: a deadlock). Advisory locks are re-entrant within a session, so
// holders inside this process are tracked here too, and a second one for the same record waits
// its turn in-process.
import { sessionClient, type Sql } from "../db/client.ts";
import { log } from "../log.ts";

let conn: Sql | null = null;
const held = new Set<string>();
const waiting = new Map<string, (() => void)[]>();

/**
 * The connection that holds this process's record locks (claims take locks on it too). If it
 * drops (a database restart), Postgres has released its locks: the runs in flight keep their
 * in-process exclusion, other processes may start the same records meanwhile (the queue is
 * at-least-once anyway), and the client reconnects for the next statement.
 */
export function lockConnection(): Sql {
  return conn ??= sessionClient("aitizer-engine-locks", () => {
    if (held.size > 0) log.warn("engine: the lock connection closed; its record locks are gone", { held: held.size });
  });
}

export const recordKey = (tableId: number, recordId: number) => `aitizer:${tableId}:${recordId}`;

/** Whether this process holds the record's lock. */
export const holds = (key: string) => held.has(key);

/** Marks a lock the caller obtained on lockConnection() as held here (a claim took it). */
export function adopt(key: string) {
  held.add(key);
}

function next(key: string) {
  const queue = waiting.get(key);
  const wake = queue?.shift();
  if (queue && queue.length === 0) waiting.delete(key);
  wake?.();
}

/** Waits for the record's lock (other processes' holders are polled, without a connection held). */
export async function acquire(key: string): Promise<void> {
  for (let delay = 20;; delay = Math.min(delay * 2, 500)) {
    if (held.has(key)) {
      await new Promise<void>((resolve) => waiting.set(key, [...(waiting.get(key) ?? []), resolve]));
      continue;
    }
    held.add(key);
    const c = lockConnection();
    const [{ ok }] = await c<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtextextended(${key}, 0)) as ok`;
    if (ok) return;
    held.delete(key);
    next(key);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Releases record locks held by this process, and the locks of the jobs it claimed (engine/worker.ts). */
export async function release(keys: string[], jobIds: number[] = []): Promise<void> {
  if (keys.length === 0 && jobIds.length === 0) return;
  const c = lockConnection();
  try {
    await c`select private.release_jobs(${jobIds}::bigint[], ${keys}::text[])`;
  } finally {
    for (const key of keys) {
      held.delete(key);
      next(key);
    }
  }
}

/** Gives back extra holds a re-entrant pg_try_advisory_lock took for keys this process already held. */
export async function releaseExtra(keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  const c = lockConnection();
  await c`select pg_advisory_unlock(hashtextextended(k, 0)) from unnest(${keys}::text[]) k`;
}
