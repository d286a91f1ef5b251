// At-least-once: a worker process killed (SIGKILL) in the middle of a job loses nothing. The job's
// lease is its advisory lock, held by the worker's session: when the process dies, its connection
// closes, Postgres releases the lock, and another worker (the gateway's) claims and completes the
// job. A worker that hangs with its connection open instead has its session ended by pg_cron
// (private.reclaim_stalled_workers) once its heartbeat stops.
import { assert, assertEquals } from "@std/assert";
import postgres from "postgres";
import { api, createWorkspace, db, DB_URL, test, uniq, until } from "../_helpers.ts";

const FAKE_PORT = Number(Deno.env.get("AITIZER_TEST_FAKE_PORT") ?? 54340) + 3; // this file's own port
const FAKE = `http://127.0.0.1:${FAKE_PORT}`;

/** A table with one http_request column (not run on create) and one record, its create job done. */
async function tableWithRecord(id: string, path: string) {
  const ws = await createWorkspace();
  const created = await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: {
      name: `Crash ${id}`,
      columns: [
        { name: "Name", type: "text" },
        { name: "Call", type: "http_request", httpUrl: `${FAKE}${path}`, executeOnCreate: false },
      ],
    },
  });
  assertEquals(created.status, 201);
  const table = created.body;
  const call = table.columns.find((c: { name: string }) => c.name === "Call");
  const row = await api("POST", `/rest-api/tables/${table.id}/records`, {
    token: ws.vibeToken,
    body: { row_data: { Name: "x" } },
  });
  const rid = row.body.id;
  // The create job runs (the action is skipped on create) and leaves the queue.
  await until("the create job", async () => {
    const [{ n }] = await db`select count(*)::int as n from public.engine_jobs where table_id = ${table.id}`;
    const [{ e }] = await db`select count(*)::int as e from public.column_executions where record_id = ${rid}
                               and table_id = ${table.id}`;
    return n === 0 && e > 0;
  });
  const logged = () =>
    db`select status, attempt, response from public.column_executions
       where record_id = ${rid} and column_id = ${call.id} and status <> 'skipped_condition' order by id`;
  return { ws, table, call, rid, logged };
}

test("a worker killed mid-job: the job completes once another worker runs, exactly once in the log", async () => {
  const id = uniq();
  // The first request hangs (the worker that sent it dies waiting); later ones answer at once.
  let reached!: () => void;
  const firstRequest = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: FAKE_PORT, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path !== `/slow-${id}`) return new Response("unexpected request", { status: 599 });
    seen.push(path);
    if (seen.length === 1) {
      reached();
      await hold;
    }
    return Response.json({ ok: true, call: seen.length });
  });

  try {
    const { ws, table, call, rid, logged } = await tableWithRecord(id, `/slow-${id}`);

    // A run on demand, queued for later so that no live worker takes it, claimed by a worker
    // process we start and then kill.
    const [job] = await db`
      insert into public.engine_jobs (workspace_id, table_id, record_id, reason, run_at)
      values (${ws.id}, ${table.id}, ${rid}, 'manual', now() + interval '1 hour')
      returning id`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "tests/fixtures/worker_child.ts", String(job.id)],
      env: { AITIZER_OUTBOUND_ALLOW: `127.0.0.1:${FAKE_PORT}`, AITIZER_LOG_LEVEL: "error" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    await Promise.race([
      firstRequest,
      child.status.then((s) => Promise.reject(new Error(`the worker exited early (${s.code})`))),
    ]);
    // The job is running: its lease is held, so a live worker leaves it alone even once it is due.
    await db`update public.engine_jobs set run_at = now() where id = ${job.id}`;
    const path = `/rest-api/tables/${table.id}/records/${rid}/executions`;
    const shown = await api("GET", path, { token: ws.vibeToken });
    assertEquals(shown.status, 200, JSON.stringify(shown.body));
    assertEquals(
      [shown.body.executions[0].status, shown.body.executions[0].job_id, shown.body.executions[0].column_id],
      ["running", job.id, null],
    );
    await db`select pg_notify('aitizer_jobs', ${String(table.id)})`;
    assertEquals((await logged()).length, 0, "no other worker ran it");

    child.kill("SIGKILL");
    const status = await child.status;
    assertEquals(status.signal, "SIGKILL");

    // Nothing was lost: the dead worker's session, and its lease, are gone; the next worker to look
    // (woken here) claims and finishes the job.
    await db`select pg_notify('aitizer_jobs', ${String(table.id)})`;
    const done = await until("the job to complete", async () => {
      const rows = await logged();
      return rows.length > 0 ? rows : null;
    });
    // (A run lost with its worker is not counted as an attempt: attempts count runs that ended.)
    assertEquals(done.map((r) => [r.status, r.attempt]), [["success", 1]]);
    assertEquals(done[0].response.body, { ok: true, call: 2 });
    await until("the job to leave the queue", async () => {
      const [{ n }] = await db`select count(*)::int as n from public.engine_jobs where id = ${job.id}`;
      return n === 0;
    });
    const cell = await api("GET", `/rest-api/tables/${table.id}/records/${rid}`, { token: ws.vibeToken });
    assertEquals(cell.body.row_data[`col_${call.id}`], { ok: true, call: 2 });
    assert(seen.length === 2, `two requests reached the endpoint, got ${seen.length}`);
    const after = await api("GET", path, { token: ws.vibeToken });
    assertEquals(after.body.executions[0].status, "success", "nothing pending any more");
  } finally {
    release();
    await server.shutdown();
  }
});

test("a worker that hangs with its connection open: pg_cron's reclaim ends its session, another worker runs the job", async () => {
  const id = uniq();
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: FAKE_PORT, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== `/hung-${id}`) return new Response("unexpected request", { status: 599 });
    calls++;
    return Response.json({ ok: true, call: calls });
  });
  // The hung worker: a session that registered, claimed the job, and then went silent.
  const hung = postgres(DB_URL, { max: 1, onnotice: () => {} });
  try {
    const { ws, table, rid, logged } = await tableWithRecord(id, `/hung-${id}`);
    const worker = `hung-${id}`;
    const [job] = await db`
      insert into public.engine_jobs (workspace_id, table_id, record_id, reason, run_at)
      values (${ws.id}, ${table.id}, ${rid}, 'manual', now() + interval '1 hour')
      returning id`;
    const [{ ok }] = await hung`select private.engine_worker_beat(${worker}),
      pg_try_advisory_lock(private.job_key1(${job.id}), private.job_key2(${job.id})) as ok`;
    assert(ok, "the hung worker holds the job");
    await db`update public.engine_jobs set run_at = now() where id = ${job.id}`;

    // Its heartbeat is recent: the reclaim leaves it alone.
    assertEquals((await db`select private.reclaim_stalled_workers() as n`)[0].n, 0);
    // Three minutes of silence later (its heartbeat moved back instead of waiting), the reclaim
    // ends its session; its lock goes with it and the gateway's worker runs the job.
    await db`update public.engine_workers set seen_at = now() - interval '3 minutes' where name = ${worker}`;
    assertEquals((await db`select private.reclaim_stalled_workers() as n`)[0].n, 1);
    assertEquals((await db`select count(*)::int as n from public.engine_workers where name = ${worker}`)[0].n, 0);
    await db`select pg_notify('aitizer_jobs', ${String(table.id)})`;
    const done = await until("the job to complete", async () => {
      const rows = await logged();
      return rows.length > 0 ? rows : null;
    });
    assertEquals(done.map((r) => [r.status, r.response.body]), [["success", { ok: true, call: 1 }]]);
    assertEquals(calls, 1);
  } finally {
    await hung.end({ timeout: 1 }).catch(() => {});
    await server.shutdown();
  }
});

test("the worker survives losing its lock connection (a database restart) and keeps running pipelines", async () => {
  const id = uniq();
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: FAKE_PORT, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== `/lock-${id}`) return new Response("unexpected request", { status: 599 });
    calls++;
    return Response.json({ ok: true, call: calls });
  });
  try {
    const ws = await createWorkspace();
    const created = await api("POST", "/rest-api/tables", {
      token: ws.vibeToken,
      body: {
        name: `Locks ${id}`,
        columns: [{ name: "Name", type: "text" }, {
          name: "Call",
          type: "http_request",
          httpUrl: `${FAKE}/lock-${id}`,
        }],
      },
    });
    assertEquals(created.status, 201);
    const table = created.body;
    const call = table.columns.find((c: { name: string }) => c.name === "Call");
    const runRow = async (name: string) => {
      const row = await api("POST", `/rest-api/tables/${table.id}/records`, {
        token: ws.vibeToken,
        body: { row_data: { Name: name } },
      });
      assertEquals(row.status, 201);
      return await until(`the pipeline of ${name}`, async () => {
        const [r] = await db`select status from public.column_executions
                             where table_id = ${table.id} and record_id = ${row.body.id} and column_id = ${call.id}`;
        return r?.status ?? null;
      });
    };
    assertEquals(await runRow("before"), "success");

    // The lock connection's session ends, as in a database restart (its advisory locks go with it).
    const killed = await db`select pg_terminate_backend(pid) as ok from pg_stat_activity
                            where application_name = 'aitizer-engine-locks' and pid <> pg_backend_pid()`;
    assert(killed.length > 0 && killed.every((k) => k.ok), "a lock connection was there to end");

    assertEquals(await runRow("after"), "success");
    assertEquals(calls, 2);
    const health = await api("GET", "/rest-api/health");
    assertEquals(health.status, 200, "the gateway is still up");
    const [{ n }] =
      await db`select count(*)::int as n from pg_stat_activity where application_name = 'aitizer-engine-locks'`;
    assert(n > 0, "the lock connection came back");
  } finally {
    await server.shutdown();
  }
});
