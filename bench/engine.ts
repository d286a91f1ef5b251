// The automation engine through its own gateways (insert → enqueue trigger → NOTIFY → worker →
// guarded fetch to a local fake → results and execution log written):
//   1. throughput of a one-http_request-column pipeline with TWO workers (two gateway processes,
//      AITIZER_ENGINE_CONCURRENCY each) ≥ 0.5× the rate of the same fetches made by one plain Deno
//      process (the better of 64 concurrent and the workers' total; same run, same fake). The rate
//      judged against the target is the workers' drain of a queue that one INSERT filled (the
//      fetcher, too, is handed all its URLs at once: the clock starts before that INSERT's COMMIT);
//      each round gives a ratio, and the median of the rounds is judged (one round moves by a fifth
//      with this shared machine's load), printed with the range and the rounds below 0.5×.
//      Beside it, end to end: the rows batch-inserted over REST while the workers drain, the inserts
//      timed too. And where the CPU went while draining (Linux /proc; "postgres" is every process of
//      that name on the machine);
//   2. latency from a REST insert's response to the fake receiving the action's request: p50 < 50 ms
//      (one row at a time; the fake runs in this process so both instants use one clock);
//   3. create-one-record through a gateway without a worker: a table whose insert trigger enqueues a
//      job takes ≤ 1.3× the time of the same table with the trigger disabled (and, for scale, of a
//      data-only table, whose insert trigger is off: it has nothing to run).
// Everything started here listens on 54370-54389 and is stopped at the end, failure or not.
// Workers share their database's queue: on a database other gateways use (`npm start`, a test run),
// their workers take our jobs and ours theirs. Give the bench a database of its own, e.g.
//   createdb aitizer_bench; platform-shim.sql, then the migrations with `create extension pg_cron`
//   replaced by a stub `cron.schedule(text, text, text)` (pg_cron lives in the `postgres` database only)
//   DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54322/aitizer_bench deno run -A bench/engine.ts
// Run alone: `deno run -A bench/engine.ts`; BENCH_ENGINE_ROWS (2000), BENCH_ENGINE_ROUNDS (2),
// BENCH_ENGINE_CONCURRENCY (jobs per worker, 128), BENCH_ENGINE_WARMUP (jobs drained before the
// throughput rounds, 40000) and BENCH_ENGINE_ONLY (write,throughput,latency) vary it;
// BENCH_GATEWAY_V8_FLAGS hands V8 flags to the gateways only (e.g. --trace-gc).
import { SignJWT } from "jose";
import { DB_URL, JWT_SECRET, measure, type Measurement, rawDb, round, saveResults } from "./harness.ts";

const FAKE_PORT = 54370;
const WORKER_PORTS = [54371, 54372];
const WRITE_PORT = 54373;
const FAKE = `http://127.0.0.1:${FAKE_PORT}`;
const ROWS = Number(Deno.env.get("BENCH_ENGINE_ROWS") ?? 2000);
const WORKER_CONCURRENCY = Number(Deno.env.get("BENCH_ENGINE_CONCURRENCY") ?? 128); // the engine's default
const LATENCY_SAMPLES = 200;
const ROUNDS = Number(Deno.env.get("BENCH_ENGINE_ROUNDS") ?? 2);
/** Jobs the two workers drain before the throughput rounds (BENCH_ENGINE_WARMUP). */
const WARMUP_JOBS = Number(Deno.env.get("BENCH_ENGINE_WARMUP") ?? 40_000);
/** BENCH_ENGINE_ONLY=write,throughput,latency (any of them) runs only those. */
const ONLY = Deno.env.get("BENCH_ENGINE_ONLY")?.split(",");
const roundsOf = (bench: "write" | "throughput" | "latency") => (ONLY && !ONLY.includes(bench) ? 0 : ROUNDS);

// deno-lint-ignore no-explicit-any
type Any = any;

interface Child {
  name: string;
  proc: Deno.ChildProcess;
}

/** Every process this bench started, so a failure (or Ctrl-C) still stops them all. */
const children: Child[] = [];

async function stopChild(child: Child) {
  const i = children.indexOf(child);
  if (i >= 0) children.splice(i, 1);
  try {
    child.proc.kill("SIGTERM");
  } catch { /* already gone */ }
  const killer = setTimeout(() => {
    try {
      child.proc.kill("SIGKILL");
    } catch { /* already gone */ }
  }, 10_000);
  await child.proc.status;
  clearTimeout(killer);
}

const DENO = new URL("../node_modules/.bin/deno", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** A gateway of our own (never AITIZER_URL: its worker settings are part of what is measured). */
async function spawnGateway(name: string, port: number, env: Record<string, string>) {
  const proc = new Deno.Command(DENO, {
    args: ["run", "-A", "--quiet", "scripts/gateway.ts"],
    cwd: ROOT,
    env: {
      DATABASE_URL: DB_URL,
      SUPABASE_JWT_SECRET: JWT_SECRET,
      PORT: String(port),
      AITIZER_RATE_LIMIT_PER_MINUTE: "0",
      AITIZER_LOG_LEVEL: "error",
      ...(Deno.env.get("BENCH_GATEWAY_V8_FLAGS") ? { DENO_V8_FLAGS: Deno.env.get("BENCH_GATEWAY_V8_FLAGS")! } : {}),
      ...env,
    },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const child = { name, proc };
  children.push(child);
  let exited = false;
  proc.status.then(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && !exited; i++) {
    try {
      const res = await fetch(`${url}/functions/v1/rest-api/health`);
      await res.body?.cancel();
      if (res.ok) return { url, pid: proc.pid, stop: () => stopChild(child) };
    } catch { /* not up yet */ }
    await sleep(100);
  }
  await stopChild(child);
  throw new Error(`gateway ${name} did not come up on port ${port}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds a process has used (Linux /proc; 0 where unreadable). */
function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0;
  }
}

/** CPU seconds used by every Postgres process (backends, autovacuum, WAL writer, …). */
function postgresCpuSeconds(): number {
  let total = 0;
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).startsWith("postgres")) {
          total += cpuSeconds(Number(e.name));
        }
      } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return total;
}

/** The machine's busy, idle and stolen (by the hypervisor) CPU seconds so far (all cores). */
function machineCpuSeconds(): { busy: number; idle: number; stolen: number } {
  try {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return { busy: (f[0] + f[1] + f[2] + f[5] + f[6]) / 100, idle: (f[3] + f[4]) / 100, stolen: (f[7] ?? 0) / 100 };
  } catch {
    return { busy: 0, idle: 0, stolen: 0 };
  }
}

/** Where the CPU went while `fn` ran, in cores (CPU seconds per second). */
async function coresDuring<T>(workerPids: number[], fn: () => Promise<T>) {
  const w0 = workerPids.map(cpuSeconds), p0 = postgresCpuSeconds(), b0 = cpuSeconds("self"), m0 = machineCpuSeconds();
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const m1 = machineCpuSeconds();
  const cores = (used: number) => round(used / seconds);
  return {
    result,
    cores: {
      workers: workerPids.map((pid, i) => cores(cpuSeconds(pid) - w0[i])),
      postgres: cores(postgresCpuSeconds() - p0),
      bench_and_fake: cores(cpuSeconds("self") - b0),
      machine_busy: cores(m1.busy - m0.busy),
      machine_idle: cores(m1.idle - m0.idle),
      machine_stolen: cores(m1.stolen - m0.stolen),
    },
  };
}

const SLICES = 5;
const SLICE = { concurrency: 8, seconds: 1, warmupSeconds: 0.2 };

/** Slices of one measurement as one: total requests over total time; the median slice's p50, the worst p99. */
function merge(slices: Measurement[]): Measurement {
  const requests = slices.reduce((n, m) => n + m.requests, 0);
  const seconds = slices.reduce((n, m) => n + m.seconds, 0);
  const p50s = slices.map((m) => m.p50_ms).sort((a, b) => a - b);
  return {
    name: slices[0].name,
    requests,
    seconds: round(seconds),
    rps: round(requests / seconds),
    p50_ms: p50s[Math.floor(p50s.length / 2)],
    p99_ms: Math.max(...slices.map((m) => m.p99_ms)),
  };
}

const quantile = (sorted: number[], p: number) =>
  round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN);

// ---------------------------------------------------------------------------------------------
// The baseline: one plain Deno process fetching the fake `n` times with `concurrency` loops.
// (This file in another process: BENCH_ENGINE_FETCH=url,n,concurrency; prints one JSON line.)
// ---------------------------------------------------------------------------------------------
async function fetchLoop(url: string, n: number, concurrency: number) {
  let next = 0;
  const loop = async () => {
    while (next < n) {
      next++;
      const res = await fetch(url);
      await res.text();
      if (!res.ok) throw new Error(`fake answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

async function baselineChild(spec: string) {
  const [base, n, concurrency] = spec.split(",");
  await fetchLoop(`${base}?warmup`, 200, Number(concurrency));
  const started = performance.now();
  const cpu0 = cpuSeconds("self");
  await fetchLoop(base, Number(n), Number(concurrency));
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seconds, rate: Number(n) / seconds, cores: (cpuSeconds("self") - cpu0) / seconds }));
}

async function runBaseline(
  n: number,
  concurrency: number,
): Promise<{ seconds: number; rate: number; cores: { fetcher: number; fake: number } }> {
  const fake0 = cpuSeconds("self");
  const proc = new Deno.Command(DENO, {
    args: ["run", "-A", "--quiet", "bench/engine.ts"],
    cwd: ROOT,
    env: { BENCH_ENGINE_FETCH: `${FAKE}/baseline,${n},${concurrency}` },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const child = { name: "baseline fetcher", proc };
  children.push(child);
  const out = await proc.output();
  children.splice(children.indexOf(child), 1);
  if (!out.success) throw new Error("the baseline fetcher failed");
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  const r = JSON.parse(line);
  // This process's CPU over the child's life (start-up and warm-up included): the fake's, roughly.
  const fake = (cpuSeconds("self") - fake0) / r.seconds;
  return { seconds: round(r.seconds), rate: round(r.rate), cores: { fetcher: round(r.cores), fake: round(fake) } };
}

// ---------------------------------------------------------------------------------------------
export default async function bench() {
  // The fake "internet": answers at once; notes when each latency probe arrived.
  const arrivals = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  let hits = 0;
  const fake = Deno.serve({ hostname: "127.0.0.1", port: FAKE_PORT, onListen: () => {} }, (req) => {
    const at = performance.now();
    hits++;
    const url = new URL(req.url);
    if (url.pathname === "/lat") {
      const n = url.searchParams.get("n")!;
      arrivals.set(n, at);
      waiting.get(n)?.();
    }
    return Response.json({ ok: true });
  });

  const db = rawDb(4);
  const onSignal = () => {
    for (const c of children) {
      try {
        c.proc.kill("SIGKILL");
      } catch { /* gone */ }
    }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const tableIds: number[] = [];
  const results: Record<string, unknown>[] = [];
  try {
    const [{ current_database: dbName }] = await db`select current_database()`;
    console.log(`engine benchmarks on database ${dbName}; ${ROWS} rows per throughput run, ${ROUNDS} rounds each`);
    // Workers share the queue of their database: another gateway's worker on it runs some of our jobs
    // (and fails them: our fake is not on its allow-list) and ours run its jobs; both skew the figures.
    const [{ n: others }] = await db`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and application_name = 'aitizer-functions'`;
    if (others > 0) {
      console.log(
        `WARNING: ${others} connections of other AITIZER processes on this database; their engine workers share ` +
          "its job queue. Prefer a database of its own: DATABASE_URL=…/aitizer_bench (see bench/engine.ts).",
      );
    }
    const [user] =
      await db`insert into auth.users (email) values (${`bench-${crypto.randomUUID()}@bench.local`}) returning id`;
    const jwt = await new SignJWT({ sub: user.id, role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("2h").sign(new TextEncoder().encode(JWT_SECRET));

    // ---- 3. The write path, first: a gateway without a worker, nothing else running. ----------
    const writer = await spawnGateway("write gateway (no worker)", WRITE_PORT, { AITIZER_ENGINE_WORKER: "false" });
    let api = client(writer.url); // then the first worker gateway, once this one is stopped
    const ws = await api("POST", "/workspaces", jwt, { name: "bench-engine" });
    const token: string = ws.vibe_mcp_token.token;
    const makeTable = async (name: string, columns: unknown[]) => {
      const t = await api("POST", "/tables", token, { name: `${name} ${crypto.randomUUID().slice(0, 6)}`, columns });
      tableIds.push(t.id);
      return t as { id: number; pg_table_name: string };
    };
    const dataCols = [{ name: "Name", type: "text" }, { name: "Score", type: "number" }];
    const httpCol = { name: "Call", type: "http_request", httpUrl: `${FAKE}/write` };
    const withTrigger = await makeTable("Enqueues", [...dataCols, httpCol]);
    const disabled = await makeTable("Trigger off", [...dataCols, httpCol]);
    const dataOnly = await makeTable("Data only", dataCols);
    await db`alter table ${db("public." + disabled.pg_table_name)} disable trigger enqueue_on_insert`;
    const create = (t: { id: number }) => (i: number) =>
      api("POST", `/tables/${t.id}/records`, token, { row_data: { Name: `r${i}`, Score: i } });

    if (roundsOf("write") > 0) {
      console.log("\n3. create one record (8 concurrent), gateway with AITIZER_ENGINE_WORKER=false:");
    }
    const writeRounds: Record<string, unknown>[] = [];
    // A fresh gateway's first second is its JIT's: unmeasured, each kind once (it was the first
    // round's first slice, and put that round 0.2–0.3x above the others).
    if (roundsOf("write") > 0) {
      for (const t of [withTrigger, disabled, dataOnly]) await measure("warm-up", create(t), SLICE);
    }
    for (let round_ = 1; round_ <= roundsOf("write"); round_++) {
      // Interleaved 1-second slices, so drift in the machine's load hits all three alike.
      const slices: Measurement[][] = [[], [], []];
      for (let s = 0; s < SLICES; s++) {
        slices[0].push(await measure("POST record, trigger enqueues a job", create(withTrigger), SLICE));
        slices[1].push(await measure("POST record, same table, trigger disabled", create(disabled), SLICE));
        slices[2].push(await measure("POST record, data-only table (insert trigger off)", create(dataOnly), SLICE));
      }
      const [on, off, data] = slices.map(merge);
      const [{ n: queued }] = await db`select count(*)::int as n from public.engine_jobs
                                     where table_id = ${withTrigger.id}`;
      const vsOff = round(off.rps / on.rps);
      const vsData = round(data.rps / on.rps);
      for (const m of [on, off, data]) {
        console.log(
          `   ${m.name.padEnd(52)} ${String(m.rps).padStart(8)} req/s  p50 ${m.p50_ms} ms  p99 ${m.p99_ms} ms`,
        );
      }
      console.log(
        `   round ${round_}: time with trigger / trigger disabled ${vsOff.toFixed(2)}x (target <= 1.3x) ` +
          `${vsOff <= 1.3 ? "ok" : "ABOVE TARGET"};  / data-only table ${vsData.toFixed(2)}x ` +
          `(${queued} jobs queued, no worker)`,
      );
      writeRounds.push({
        round: round_,
        with_trigger: on,
        trigger_disabled: off,
        data_only: data,
        ratio_vs_disabled: vsOff,
        ratio_vs_data_only: vsData,
        jobs_queued: queued,
      });
    }
    if (writeRounds.length > 0) {
      results.push({ bench: "write path with enqueue trigger", target: "<= 1.3x", rounds: writeRounds });
    }
    await writer.stop();
    // No worker ran: drop what the write bench queued before workers start.
    await db`delete from public.engine_jobs where table_id = any(${[withTrigger.id, disabled.id, dataOnly.id]})`;

    // ---- 1 and 2 need workers: two gateways, each with its own worker loop. -------------------
    if (roundsOf("throughput") + roundsOf("latency") > 0) {
      const workerEnv = {
        AITIZER_ENGINE_CONCURRENCY: String(WORKER_CONCURRENCY),
        AITIZER_OUTBOUND_ALLOW: `127.0.0.1:${FAKE_PORT}`,
      };
      const gateways: Awaited<ReturnType<typeof spawnGateway>>[] = [];
      for (const [i, port] of WORKER_PORTS.entries()) {
        gateways.push(await spawnGateway(`worker gateway ${i + 1}`, port, workerEnv));
      }
      const gw = client(gateways[0].url);
      api = gw;
      const totalConcurrency = WORKER_CONCURRENCY * gateways.length;

      /**
       * Puts `rows` rows in and waits until each has a logged success. `rest`: batch inserts over
       * REST (≤ 1,000 per request) while the workers already run, all of it timed; `queued`: one
       * INSERT of every row, the clock started before its COMMIT (the moment the jobs become
       * visible and NOTIFY wakes the workers), so what is timed is the workers draining the queue.
       */
      const pipelineRun = async (rows: number, mode: "rest" | "queued" = "rest") => {
        const t = await makeTable("Throughput", [
          { name: "Name", type: "text" },
          { name: "Call", type: "http_request", httpUrl: `${FAKE}/tp?n={Name}` },
        ]);
        const hitsBefore = hits;
        let started = performance.now();
        if (mode === "rest") {
          for (let done = 0; done < rows; done += 1000) {
            const records = Array.from({ length: Math.min(1000, rows - done) }, (_, i) => ({
              row_data: { Name: `row-${done + i}` },
            }));
            await gw("POST", `/tables/${t.id}/records/batch`, token, { records });
          }
        } else {
          const [col] = await db`select id from public.app_columns where table_id = ${t.id} and name = 'Name'`;
          const name = db(`col_${col.id}`);
          await db.begin(async (tx) => {
            await tx`insert into ${tx(`public.${t.pg_table_name}`)} (${name})
                     select 'row-' || i from generate_series(0, ${rows - 1}) i`;
            started = performance.now();
          });
        }
        const inserted = performance.now();
        const deadline = started + 120_000;
        const workerPids = gateways.map((g) => g.pid);
        const { cores } = await coresDuring(workerPids, async () => {
          // Every job calls the fake once: wait for those calls in this process (no query), then poll
          // the log only for the last writes (polling a growing log all along cost Postgres ~10%).
          while (hits - hitsBefore < rows && performance.now() < deadline) await sleep(5);
          for (;;) {
            const [c] = await db`select count(*) filter (where status = 'success')::int as ok,
                                      count(*) filter (where status <> 'success')::int as bad,
                                      min(error) filter (where status <> 'success') as error
                               from public.column_executions where table_id = ${t.id}`;
            if (c.bad > 0) {
              throw new Error(`${c.bad} executions failed, e.g. "${c.error}" (another worker on this db?)`);
            }
            if (c.ok >= rows) break;
            if (performance.now() > deadline) throw new Error(`only ${c.ok} of ${rows} executions after 120 s`);
            await sleep(5);
          }
        });
        const seconds = (performance.now() - started) / 1000;
        return {
          rows,
          seconds: round(seconds),
          insert_seconds: round((inserted - started) / 1000),
          rate: round(rows / seconds),
          fake_hits: hits - hitsBefore,
          /** CPU use after the inserts, until the last job's log: the drain (in cores). */
          cores,
        };
      };

      // Warm-up: pools, prepared statements and, above all, the JIT in both gateways. A fresh worker
      // spends ~1.5x the CPU per job of a warm one over its first 10,000 jobs, and settles only after
      // 20,000-40,000 (bench/engine.ts's drains, printed below, and one worker alone in a loop). The
      // workers are long-lived processes: what is measured is their steady state; the warm-up's own
      // drains are printed beside it, so the cold figure is in view too.
      await pipelineRun(200);
      const warmup: number[] = [];
      const warmupDrain = Math.max(ROWS, 10_000);
      if (roundsOf("throughput") > 0) {
        for (let jobs = 0; jobs < WARMUP_JOBS; jobs += warmupDrain) {
          warmup.push((await pipelineRun(warmupDrain, "queued")).rate);
        }
      }
      const baselineConcurrencies = new Set([totalConcurrency, 64]);
      if (roundsOf("throughput") > 0) {
        console.log(
          `\n1. pipeline throughput, one http_request column, ${gateways.length} workers x ${WORKER_CONCURRENCY} ` +
            `concurrent jobs vs one Deno process fetching (the better of ${[...baselineConcurrencies].join(" and ")} ` +
            "concurrent):",
        );
        console.log(
          `   warm-up: ${warmup.length} drains of ${warmupDrain} queued jobs at ${warmup.join(", ")} jobs/s`,
        );
      }
      const throughputRounds: Record<string, unknown>[] = [];
      for (let round_ = 1; round_ <= roundsOf("throughput"); round_++) {
        // The baseline at the workers' total concurrency and at 64, whichever is faster: a plain
        // process would not run more fetches at once than helps it, so raising the workers'
        // concurrency cannot lower the bar.
        // Measured before and after the engine's runs, each concurrency's rate the mean of the two:
        // this machine's speed drifts over seconds, and one baseline taken before moved the ratio
        // by a fifth between rounds.
        const before = [];
        for (const c of baselineConcurrencies) before.push(await runBaseline(ROWS, c));
        const run = await pipelineRun(ROWS, "queued");
        const rest = await pipelineRun(ROWS, "rest");
        let base = { seconds: Infinity, rate: 0, cores: { fetcher: 0, fake: 0 }, before: 0, after: 0 };
        for (const [i, c] of [...baselineConcurrencies].entries()) {
          const after = await runBaseline(ROWS, c);
          const rate = round((before[i].rate + after.rate) / 2);
          if (rate > base.rate) {
            base = { ...after, rate, seconds: round(ROWS / rate), before: before[i].rate, after: after.rate };
          }
        }
        const ratio = Math.round((run.rate / base.rate) * 1000) / 1000;
        const restRatio = Math.round((rest.rate / base.rate) * 1000) / 1000;
        console.log(
          `   round ${round_}: engine drains ${ROWS} queued jobs in ${run.seconds} s = ${run.rate} jobs/s vs plain ` +
            `fetch ${base.rate}/s (${base.before} before, ${base.after} after)  ratio ${
              ratio.toFixed(3)
            }x (target >= 0.5x) ` +
            `${ratio >= 0.5 ? "ok" : "BELOW TARGET"}\n` +
            `            with the REST inserts in the window: ${rest.seconds} s (inserts ${rest.insert_seconds} s) = ` +
            `${rest.rate} jobs/s  ratio ${restRatio.toFixed(3)}x\n` +
            `            cores while draining: workers ${
              run.cores.workers.join(" + ")
            }, postgres ${run.cores.postgres}, ` +
            `bench and fake ${run.cores.bench_and_fake}; machine busy ${run.cores.machine_busy}, idle ` +
            `${run.cores.machine_idle}, stolen ${run.cores.machine_stolen}.  Plain fetch: fetcher ${base.cores.fetcher}, fake ~${base.cores.fake}`,
        );
        throughputRounds.push({ round: round_, engine: run, engine_with_rest_inserts: rest, baseline: base, ratio });
      }
      // One round's ratio moves by a fifth with this machine's load; the median of the rounds is the
      // figure judged, printed with how many rounds fell below.
      const ratios = throughputRounds.map((r) => r.ratio as number).sort((a, b) => a - b);
      const median = ratios.length ? ratios[Math.floor((ratios.length - 1) / 2)] : NaN;
      const below = ratios.filter((r) => r < 0.5).length;
      if (ratios.length > 0) {
        console.log(
          `   median over ${ratios.length} rounds: ${median.toFixed(3)}x (target >= 0.5x) ` +
            `${median >= 0.5 ? "ok" : "BELOW TARGET"}; range ${ratios[0].toFixed(3)}–${ratios.at(-1)!.toFixed(3)}x, ` +
            `${below} of ${ratios.length} rounds below 0.5x`,
        );
      }
      // The cold figure, for scale: the first warm-up drain (fresh workers) against the median baseline.
      const baselineRates = throughputRounds.map((r) => (r.baseline as { rate: number }).rate).sort((a, b) => a - b);
      const medianBaseline = baselineRates[Math.floor((baselineRates.length - 1) / 2)];
      const cold = warmup.length && medianBaseline ? Math.round((warmup[0] / medianBaseline) * 1000) / 1000 : NaN;
      if (ratios.length > 0 && warmup.length > 0) {
        console.log(`   cold: the first warm-up drain (fresh workers) at ${cold.toFixed(3)}x the median baseline`);
      }
      results.push({
        bench: "pipeline throughput (2 workers)",
        target: ">= 0.5x (median of the rounds)",
        workers: gateways.length,
        concurrency_per_worker: WORKER_CONCURRENCY,
        warmup_drain_rates: warmup,
        cold_ratio: cold,
        median_ratio: median,
        rounds_below: below,
        rounds: throughputRounds,
      });

      // ---- 2. Latency: one row at a time, insert response → the fake receiving the request. ------
      if (roundsOf("latency") > 0) {
        console.log(
          `\n2. latency from the REST insert's response to the action's request (${LATENCY_SAMPLES} sequential):`,
        );
      }
      const latencyRounds: Record<string, unknown>[] = [];
      for (let round_ = 1; round_ <= roundsOf("latency"); round_++) {
        const t = await makeTable("Latency", [
          { name: "Name", type: "text" },
          { name: "Call", type: "http_request", httpUrl: `${FAKE}/lat?n={Name}` },
        ]);
        const samples: number[] = [];
        for (let i = -10; i < LATENCY_SAMPLES; i++) { // the first 10 warm up
          const n = `${t.id}-${i}`;
          const arrived = new Promise<void>((resolve) => waiting.set(n, resolve));
          const res = await fetch(`${gateways[0].url}/functions/v1/rest-api/tables/${t.id}/records`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ row_data: { Name: n } }),
          });
          const t0 = performance.now();
          const body = await res.json();
          if (res.status !== 201) throw new Error(`insert: ${res.status} ${JSON.stringify(body)}`);
          const timeout = sleep(10_000).then(() => {
            throw new Error(`no request for row ${n} within 10 s`);
          });
          await Promise.race([arrived, timeout]);
          waiting.delete(n);
          if (i >= 0) samples.push(arrivals.get(n)! - t0);
          arrivals.delete(n);
          // Let the job finish (result and log written) so every sample starts from an idle queue.
          for (let k = 0; k < 400; k++) {
            const [c] = await db`select count(*)::int as n from public.column_executions
                               where table_id = ${t.id} and record_id = ${body.id}`;
            if (c.n > 0) break;
            await sleep(5);
          }
        }
        samples.sort((a, b) => a - b);
        const r = {
          round: round_,
          samples: samples.length,
          p50_ms: quantile(samples, 0.5),
          p90_ms: quantile(samples, 0.9),
          p99_ms: quantile(samples, 0.99),
          min_ms: round(samples[0]),
          max_ms: round(samples.at(-1)!),
          over_500_ms: samples.filter((s) => s > 500).length,
        };
        console.log(
          `   round ${round_}: p50 ${r.p50_ms} ms (target < 50 ms) ${r.p50_ms < 50 ? "ok" : "ABOVE TARGET"}  ` +
            `p90 ${r.p90_ms} ms  p99 ${r.p99_ms} ms  min ${r.min_ms}  max ${r.max_ms}  (>500 ms: ${r.over_500_ms})`,
        );
        latencyRounds.push(r);
      }
      results.push({ bench: "insert → action latency", target: "p50 < 50 ms", rounds: latencyRounds });

      for (const g of gateways) await g.stop();
    }
    await saveResults("engine", results);
    return results;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await Promise.allSettled([...children].map(stopChild));
    // The bench's tables keep their rows (like the other benches); only unfinished jobs are dropped.
    if (tableIds.length > 0) {
      await db`delete from public.engine_jobs where table_id = any(${tableIds})`.catch(() => {});
    }
    await db.end();
    await fake.shutdown();
  }
}

/** JSON over the REST API of one gateway; throws on a non-2xx answer. */
function client(base: string) {
  return async (method: string, path: string, token: string, body?: unknown): Promise<Any> => {
    const res = await fetch(`${base}/functions/v1/rest-api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

if (import.meta.main) {
  const spec = Deno.env.get("BENCH_ENGINE_FETCH");
  if (spec) await baselineChild(spec);
  else await bench();
}
