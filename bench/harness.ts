// A small load harness: runs an async operation with fixed concurrency for a fixed time and
// reports throughput and latency; results are compared as ratios measured in the same run.
import postgres from "postgres";

export const DB_URL = Deno.env.get("DATABASE_URL") ?? "postgresql://postgres:postgres@127.0.0.1:54322/postgres";
export const JWT_SECRET = Deno.env.get("SUPABASE_JWT_SECRET") ??
  "super-secret-jwt-token-with-at-least-32-characters-long";

export interface Measurement {
  name: string;
  requests: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
}

export interface RunOptions {
  concurrency?: number;
  seconds?: number;
  warmupSeconds?: number;
}

/** Runs `op` (given a worker-unique counter) with `concurrency` loops for `seconds`. */
export async function measure(
  name: string,
  op: (i: number) => Promise<unknown>,
  { concurrency = 8, seconds = 3, warmupSeconds = 0.5 }: RunOptions = {},
): Promise<Measurement> {
  let counter = 0;
  const loop = async (until: number, latencies: number[] | null) => {
    while (performance.now() < until) {
      const started = performance.now();
      await op(counter++);
      latencies?.push(performance.now() - started);
    }
  };
  const warm = performance.now() + warmupSeconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, () => loop(warm, null)));
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, () => loop(until, latencies)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  return {
    name,
    requests: latencies.length,
    seconds: round(elapsed),
    rps: round(latencies.length / elapsed),
    p50_ms: q(0.5),
    p99_ms: q(0.99),
  };
}

/**
 * Two operations measured in alternating windows (A B, B A, A B, …) rather than one after the
 * other: this machine's speed drifts over seconds, and a ratio of two measurements taken at
 * different moments moved by a quarter between runs. Each side's figures add up its windows.
 */
export async function measurePair(
  a: { name: string; op: (i: number) => Promise<unknown> },
  b: { name: string; op: (i: number) => Promise<unknown> },
  { concurrency = 8, seconds = 3, windows = 6 }: { concurrency?: number; seconds?: number; windows?: number } = {},
): Promise<[Measurement, Measurement]> {
  const parts: [Measurement[], Measurement[]] = [[], []];
  const window = seconds / windows;
  for (let w = 0; w < windows; w++) {
    const order = w % 2 === 0 ? [0, 1] as const : [1, 0] as const;
    for (const k of order) {
      const side = k === 0 ? a : b;
      parts[k].push(
        await measure(side.name, side.op, { concurrency, seconds: window, warmupSeconds: w === 0 ? 0.5 : 0.1 }),
      );
    }
  }
  const sum = (ms: Measurement[], name: string): Measurement => {
    const requests = ms.reduce((n, m) => n + m.requests, 0);
    const secs = ms.reduce((n, m) => n + m.seconds, 0);
    const median = (key: "p50_ms" | "p99_ms") => ms.map((m) => m[key]).sort((x, y) => x - y)[Math.floor(ms.length / 2)];
    return {
      name,
      requests,
      seconds: round(secs),
      rps: round(requests / secs),
      p50_ms: median("p50_ms"),
      p99_ms: median("p99_ms"),
    };
  };
  return [sum(parts[0], a.name), sum(parts[1], b.name)];
}

/** Times one operation `repeat` times and returns the median duration in ms. */
export async function medianMs(op: () => Promise<unknown>, repeat = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    await op();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return round(times[Math.floor(times.length / 2)]);
}

export const round = (x: number) => Math.round(x * 100) / 100;

export interface Comparison {
  bench: string;
  candidate: Measurement;
  baseline: Measurement;
  driver?: Measurement;
  ratio: number;
  target: string;
  pass: boolean;
}

/** candidate rps / baseline rps, printed with the target it must meet. */
export function compare(
  bench: string,
  candidate: Measurement,
  baseline: Measurement,
  min: number,
  driver?: Measurement,
): Comparison {
  const ratio = round(candidate.rps / baseline.rps);
  const c: Comparison = { bench, candidate, baseline, driver, ratio, target: `>= ${min}x`, pass: ratio >= min };
  console.log(
    `${bench.padEnd(40)} ${String(candidate.rps).padStart(8)} req/s vs raw HTTP ${String(baseline.rps).padStart(8)}` +
      `  ratio ${ratio.toFixed(2)}x (target ${c.target}) ${c.pass ? "ok" : "BELOW TARGET"}` +
      (driver ? `  [bare driver ${driver.rps} req/s, ${round(candidate.rps / driver.rps)}x]` : ""),
  );
  return c;
}

export function rawDb(max = 8) {
  return postgres(DB_URL, {
    max,
    onnotice: () => {},
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => x.toString(), parse: (x: string) => Number(x) },
    },
  });
}

/** The gateway under test: AITIZER_URL if set, else one started here (rate limit off). */
export async function startGateway(
  port = 54391,
): Promise<{ url: string; pid: number | null; stop: () => Promise<void> }> {
  const given = Deno.env.get("AITIZER_URL");
  if (given) return { url: given, pid: null, stop: async () => {} };
  const deno = new URL("../node_modules/.bin/deno", import.meta.url).pathname;
  const child = new Deno.Command(deno, {
    args: ["run", "-A", "--quiet", "scripts/gateway.ts"],
    cwd: new URL("..", import.meta.url).pathname,
    env: {
      DATABASE_URL: DB_URL,
      SUPABASE_JWT_SECRET: JWT_SECRET,
      PORT: String(port),
      AITIZER_RATE_LIMIT_PER_MINUTE: "0",
      AITIZER_LOG_LEVEL: "error",
      // No engine worker: on a shared database it would take other gateways' jobs.
      AITIZER_ENGINE_WORKER: "false",
    },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${url}/functions/v1/rest-api/health`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** The baseline HTTP server (bench/raw_server.ts) in its own process, for `table` and its columns. */
export async function startRawServer(table: string, columns: string[], port = 54393) {
  const deno = new URL("../node_modules/.bin/deno", import.meta.url).pathname;
  const child = new Deno.Command(deno, {
    args: ["run", "-A", "--quiet", "bench/raw_server.ts"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { DATABASE_URL: DB_URL, PORT: String(port), BENCH_TABLE: table, BENCH_COLUMNS: columns.join(",") },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${url}/none`);
      await res.body?.cancel();
      break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Appends this run's results to bench/results/<date>.json (ignored by git). */
export async function saveResults(name: string, results: unknown) {
  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const file = new URL(`${name}-${new Date().toISOString().replaceAll(":", "-")}.json`, dir);
  await Deno.writeTextFile(file, JSON.stringify(results, null, 2));
}
