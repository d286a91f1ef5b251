// The queue's plans (migration 0023): a worker plans its queue statements once per session, so
// those plans must hold whatever the statistics said when they were made. Here the statistics say
// what autovacuum records after it found the queue empty (0 rows on the pages it could not
// truncate); a new session claims, finishes and requeues jobs with auto_explain reporting every
// nested plan, and each one must walk the ready index or look jobs up by primary key: no
// sequential scan, no sort, no lookup by id answered by scanning another index.
import { assert, assertEquals } from "@std/assert";
import postgres from "postgres";
import { db, DB_URL, test, uniq } from "../_helpers.ts";

interface Scan {
  node: string;
  index: string | null;
  details: string[];
}

/** The scans of engine_jobs (and of its indexes) in one EXPLAIN text, with their conditions. */
function queueScans(plan: string): Scan[] {
  const lines = plan.split("\n");
  const scans: Scan[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(
      /(Seq Scan|Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan)(?: using (\S+))? on (\S+)/,
    );
    if (!m || !m[3].startsWith("engine_jobs")) continue;
    const details: string[] = [];
    for (let j = i + 1; j < lines.length && !lines[j].includes("->"); j++) details.push(lines[j].trim());
    const index = m[1] === "Bitmap Index Scan" ? m[3] : m[2] ?? null;
    scans.push({ node: m[1], index, details });
  }
  return scans;
}

test("the queue's plans walk its indexes even when the statistics say it is empty", async () => {
  const id = uniq();
  const [ws] = await db`insert into public.workspaces (name) values (${`plans-${id}`}) returning id`;
  const [table] = await db`insert into public.app_tables (workspace_id, name)
                           values (${ws.id}, ${`Plans ${id}`}) returning id`;
  const plans: string[] = [];
  const session = postgres(DB_URL, {
    max: 1,
    onnotice: (n) => plans.push(String(n.message)),
    types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
  });
  try {
    // No autovacuum on the queue while the statistics are made up (an ANALYZE would correct them).
    await db`alter table public.engine_jobs set (autovacuum_enabled = false)`;
    // 200 due jobs, locked by this session before they become visible: the gateway's worker
    // skips them (its try-lock fails); this session's claim takes them (locks are re-entrant).
    const ids = await session.begin(async (tx) => {
      const rows = await tx<{ id: number }[]>`
        insert into public.engine_jobs (workspace_id, table_id, record_id, reason, priority, run_at)
        select ${ws.id}, ${table.id}, g, 'manual', 50, now() - interval '1 minute' from generate_series(1, 200) g
        returning id`;
      const jobIds = rows.map((r) => r.id);
      await tx`select pg_catalog.pg_advisory_lock(private.job_key1(j), private.job_key2(j))
               from unnest(${jobIds}::bigint[]) j`;
      return jobIds;
    });
    // What a vacuum of the empty queue leaves in pg_class (the session plans after this).
    await db`update pg_catalog.pg_class set reltuples = 0
             where oid in ('public.engine_jobs'::regclass, 'public.engine_jobs_pkey'::regclass,
                           'public.engine_jobs_ready_idx'::regclass)`;

    await session`load 'auto_explain'`;
    await session`select set_config('auto_explain.log_min_duration', '0', false),
                         set_config('auto_explain.log_nested_statements', 'on', false),
                         set_config('auto_explain.log_level', 'notice', false)`;
    const claimed = await session<{ id: number }[]>`select id from private.claim_jobs(50, '{}')`;
    assertEquals(claimed.length, 50, "the claim takes this session's jobs");
    assert(claimed.every((c) => ids.includes(c.id)), "and only those: they come first in the queue");
    const claimedIds = claimed.map((c) => c.id);
    await session`select private.finish_jobs(${claimedIds.slice(0, 20)}::bigint[], ${Array(20).fill(0)}::int[])`;
    const later = claimedIds.slice(20, 30).map((j) => ({ id: j, delayMs: 60_000, error: null }));
    await session`select private.requeue_jobs(${JSON.stringify(later)}::text::jsonb)`;
    await session`select set_config('auto_explain.log_min_duration', '-1', false)`;

    const [{ left }] = await db`select count(*)::int as left from public.engine_jobs where id = any(${claimedIds})`;
    assertEquals(left, 30, "20 finished jobs are gone, the requeued 10 and the 20 others stay");

    const [{ reltuples }] =
      await db`select reltuples from pg_catalog.pg_class where oid = 'public.engine_jobs'::regclass`;
    assertEquals(reltuples, 0, "the plans were made on statistics that say the queue is empty");

    const nested = plans.filter((p) => /engine_jobs/.test(p));
    assert(nested.length >= 5, `auto_explain reported the queue's statements (${nested.length} plans)`);
    const scans = nested.flatMap(queueScans);
    const walks = scans.filter((s) => s.index === "engine_jobs_ready_idx");
    assert(walks.length > 0, "the claim walks the ready index");
    for (const plan of nested) {
      assert(!/Seq Scan on engine_jobs/.test(plan), `a sequential scan of the queue:\n${plan}`);
      assert(!/(^|->)\s*(Incremental )?Sort\b/m.test(plan), `a sort:\n${plan}`);
    }
    for (const s of scans) {
      const conditions = s.details.filter((d) => /^(Index Cond|Filter|Recheck Cond):/.test(d)).join(" ");
      if (/\bid = /.test(conditions) && s.node !== "Bitmap Heap Scan") {
        assertEquals(s.index, "engine_jobs_pkey", `a lookup by id through ${s.index}: ${conditions}`);
        assert(/Index Cond: \(id = /.test(conditions), `a lookup by id that scans the index: ${conditions}`);
      }
      if (s.index === "engine_jobs_ready_idx") {
        assert(/Index Cond: \(run_at <= now\(\)\)/.test(conditions), `the ready index, scanned whole: ${conditions}`);
      }
    }
  } finally {
    await db`delete from public.engine_jobs where table_id = ${table.id}`;
    await session`select pg_catalog.pg_advisory_unlock_all()`.catch(() => {});
    await session.end();
    await db`alter table public.engine_jobs reset (autovacuum_enabled)`;
    await db`analyze public.engine_jobs`; // the statistics, as they really are
  }
});
