#!/usr/bin/env node
// The local stack, with no dependencies of its own so it can run on a bare machine:
//   node scripts/stack.mjs setup      install what is missing, start Postgres, migrate, seed
//   node scripts/stack.mjs start      setup, then serve the gateway on :54321 (Ctrl-C stops all)
//   node scripts/stack.mjs test [f…]  setup, then every check; ends with "N passed, N failed"
//                                     (files given: only those Deno tests; AITIZER_TEST_PORT moves the gateway)
//   node scripts/stack.mjs demo-env   shell lines with the local demo credentials
//   node scripts/stack.mjs stop       stop the project-owned Postgres cluster
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { DEMO } from "./demo.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const LOCAL = join(ROOT, ".local");
const PGDATA = join(LOCAL, "pgdata");
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_EXT = "/usr/share/postgresql/15/extension";
const PG_PORT = 54322;
const LOCAL_DB_URL = `postgresql://postgres:postgres@127.0.0.1:${PG_PORT}/postgres`;
const BIN = join(ROOT, "node_modules", ".bin");

const external = process.env.DATABASE_URL ?? process.env.SUPABASE_DB_URL;
const DB_URL = external ?? LOCAL_DB_URL;

const log = (msg) => console.error(`\x1b[2m[stack]\x1b[0m ${msg}`);

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: opts.quiet ? "pipe" : "inherit", cwd: ROOT, ...opts });
  if (res.status !== 0) {
    const out = opts.quiet ? `\n${res.stdout ?? ""}${res.stderr ?? ""}` : "";
    throw new Error(`${cmd} ${args.join(" ")} exited with ${res.status ?? res.signal}${out}`);
  }
  return res.stdout?.toString() ?? "";
}

// ---------------------------------------------------------------------------------------------
// npm dependencies (deno and the supabase CLI among them)
// ---------------------------------------------------------------------------------------------
function ensureNpm() {
  const stamp = join(ROOT, "node_modules", ".package-lock.json");
  const lock = join(ROOT, "package-lock.json");
  const fresh = existsSync(stamp) && existsSync(join(BIN, "deno")) && existsSync(join(BIN, "supabase")) &&
    statSync(stamp).mtimeMs >= statSync(lock).mtimeMs;
  if (fresh) return;
  // `npm install` rather than `npm ci`: the lock pins every version, but registries that carry only
  // this platform's optional binaries (@supabase/cli-darwin-*, …) make `npm ci` refuse the lock as
  // "out of sync". `npm install` honours the lock and skips optional packages it cannot fetch.
  log("installing pinned npm dependencies (npm install, from package-lock.json)");
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"]);
}

// ---------------------------------------------------------------------------------------------
// Debian packages and pgvector
// ---------------------------------------------------------------------------------------------
const APT_PACKAGES = [
  "postgresql-15",
  "postgresql-client-15",
  "postgresql-15-cron",
  "postgresql-15-pgtap",
  "postgresql-15-plpgsql-check",
  "postgresql-server-dev-15",
  "libtap-parser-sourcehandler-pgtap-perl", // pg_prove
  "dpkg-dev", // apt-get source
];

function ensureApt() {
  const present = (pkg) =>
    spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).stdout?.includes("install ok installed");
  const missing = APT_PACKAGES.filter((p) => !present(p));
  if (missing.length === 0) return;
  log(`installing Debian packages: ${missing.join(" ")}`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

function ensurePgvector() {
  if (existsSync(join(PG_EXT, "vector.control"))) return;
  log("building pgvector from Debian's source package");
  const sources = "/etc/apt/sources.list.d/aitizer-trixie-src.sources";
  if (!existsSync(sources)) {
    writeFileSync(
      sources,
      "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n" +
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    );
    run("apt-get", ["update", "-qq"]);
  }
  const build = join(LOCAL, "build");
  mkdirSync(build, { recursive: true });
  run("apt-get", ["source", "-qq", "pgvector"], { cwd: build, quiet: true });
  const dir = readdirSync(build).find((d) => d.startsWith("pgvector-") && statSync(join(build, d)).isDirectory());
  const pgConfig = `PG_CONFIG=${PG_BIN}/pg_config`;
  // OPTFLAGS="" keeps the build portable (no -march=native).
  run("make", ["-s", pgConfig, "OPTFLAGS="], { cwd: join(build, dir), quiet: true });
  run("make", ["-s", "install", pgConfig], { cwd: join(build, dir), quiet: true });
}

// ---------------------------------------------------------------------------------------------
// The project-owned cluster on 127.0.0.1:54322
// ---------------------------------------------------------------------------------------------
function asPostgres(cmd, args, opts = {}) {
  return run("runuser", ["-u", "postgres", "--", join(PG_BIN, cmd), ...args], opts);
}

function clusterRunning() {
  if (!existsSync(join(PGDATA, "PG_VERSION"))) return false;
  return spawnSync("runuser", ["-u", "postgres", "--", join(PG_BIN, "pg_ctl"), "-D", PGDATA, "status"]).status === 0;
}

function ensureCluster() {
  mkdirSync(LOCAL, { recursive: true });
  if (!existsSync(join(PGDATA, "PG_VERSION"))) {
    log(`creating the local cluster in ${PGDATA}`);
    mkdirSync(PGDATA, { recursive: true, mode: 0o700 });
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    chownSync(PGDATA, uid, gid);
    const pwfile = join(LOCAL, "pwfile");
    writeFileSync(pwfile, "postgres\n");
    chownSync(pwfile, uid, gid);
    asPostgres("initdb", [
      "-D",
      PGDATA,
      "-U",
      "postgres",
      "--pwfile",
      pwfile,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
    ], { quiet: true });
    const conf = [
      `port = ${PG_PORT}`,
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      "shared_preload_libraries = 'pg_cron'",
      "cron.database_name = 'postgres'",
      // pg_cron runs its jobs (lease reclaim, worker wake-up) in background workers: connecting
      // back over TCP would need a password it does not have.
      "cron.use_background_workers = on",
      "max_worker_processes = 16",
      "max_connections = 300",
      "shared_buffers = 512MB",
      // A development cluster: commits need not wait for the disk.
      "synchronous_commit = off",
      "log_min_messages = warning",
    ].join("\n");
    writeFileSync(join(PGDATA, "postgresql.auto.conf"), conf + "\n", { flag: "a" });
  }
  if (clusterRunning()) return;
  log(`starting Postgres on 127.0.0.1:${PG_PORT}`);
  const logfile = join(LOCAL, "postgres.log");
  writeFileSync(logfile, "", { flag: "a" });
  chownSync(logfile, Number(execFileSync("id", ["-u", "postgres"]).toString()), 0);
  asPostgres("pg_ctl", ["-D", PGDATA, "-l", logfile, "-w", "-t", "60", "start"], { quiet: true });
}

function stopCluster() {
  if (!clusterRunning()) return;
  log("stopping Postgres");
  asPostgres("pg_ctl", ["-D", PGDATA, "-m", "fast", "-w", "stop"], { quiet: true });
}

// ---------------------------------------------------------------------------------------------
// Schema: platform shim, migrations (Supabase CLI), seed
// ---------------------------------------------------------------------------------------------
function psql(args, opts = {}) {
  return run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", DB_URL, ...args], opts);
}

function ensureSchema() {
  const hasAuth = psql(["-tAc", "select to_regclass('auth.users') is not null"], { quiet: true }).trim() === "t";
  if (!external || !hasAuth) {
    psql(["-f", join(ROOT, "scripts", "platform-shim.sql")], { quiet: true });
  }
  log("applying migrations (supabase db push)");
  run(join(BIN, "supabase"), ["db", "push", `--remote=${DB_URL}`, "--include-all", "--yes"], {
    quiet: true,
    env: { ...process.env, SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
  });
  psql(["-f", join(ROOT, "supabase", "seed.sql")], { quiet: true });
}

export function setup() {
  ensureNpm();
  ensureApt();
  if (!external) {
    ensurePgvector();
    ensureCluster();
  }
  ensureSchema();
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------
/** The key that encrypts stored secrets: the environment's, or one made once for this checkout. */
function secretsKey() {
  if (process.env.AITIZER_SECRETS_KEY) return process.env.AITIZER_SECRETS_KEY;
  const file = join(LOCAL, "secrets-key");
  if (!existsSync(file)) {
    mkdirSync(LOCAL, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  }
  return readFileSync(file, "utf8").trim();
}

export function gatewayEnv(extra = {}) {
  return {
    ...process.env,
    DATABASE_URL: DB_URL,
    SUPABASE_URL: process.env.SUPABASE_URL ?? "http://localhost:54321",
    SUPABASE_JWT_SECRET: process.env.SUPABASE_JWT_SECRET ?? DEMO.jwtSecret,
    AITIZER_SECRETS_KEY: secretsKey(),
    ...extra,
  };
}

function startGateway(port, extraEnv = {}) {
  return spawn(join(BIN, "deno"), ["run", "-A", "--quiet", "scripts/gateway.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: gatewayEnv({ PORT: String(port), ...extraEnv }),
  });
}

function start() {
  setup();
  const gw = startGateway(54321);
  const url = "http://localhost:54321";
  console.log(`
  AITIZER is serving on ${url}

  REST API     ${url}/functions/v1/rest-api
  MCP server   ${url}/functions/v1/mcp-server
  Database     ${DB_URL}

  Demo credentials (local only — npm run --silent demo-env prints them as shell lines):
    rest_api token   ${DEMO.restToken}
    user_mcp token   ${DEMO.userMcpToken}
    vibe_mcp token   ${DEMO.vibeMcpToken}
    user (owner)     ${DEMO.ownerEmail}

  Try:
    curl ${url}/functions/v1/rest-api/me -H "Authorization: Bearer ${DEMO.restToken}"

  Ctrl-C stops everything.
`);
  const stop = () => {
    gw.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  gw.on("exit", (code) => {
    if (!external) stopCluster();
    process.exit(code ?? 0);
  });
}

async function test() {
  setup();
  const results = [];
  const step = (name, cmd, args, parse, env) => {
    log(`running ${name}`);
    const res = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", env: env ?? process.env, maxBuffer: 1 << 28 });
    process.stdout.write(res.stdout ?? "");
    process.stderr.write(res.stderr ?? "");
    // deno colours its summary even when piped; counts are read from the plain text.
    const plain = stripVTControlCharacters(`${res.stdout}\n${res.stderr}`);
    const counts = parse ? parse(plain) : null;
    const ok = res.status === 0;
    results.push(counts ?? { name, passed: ok ? 1 : 0, failed: ok ? 0 : 1 });
    if (counts && !ok && counts.failed === 0) counts.failed = 1; // a crashed runner counts as a failure
  };
  const deno = join(BIN, "deno");
  step("deno fmt --check", deno, ["fmt", "--check", "--quiet"]);
  step("deno lint", deno, ["lint", "--quiet"]);
  const typed = ["supabase/functions", "scripts", "tests", "bench"].filter((d) => existsSync(join(ROOT, d)));
  step("deno check", deno, ["check", "--quiet", ...typed]);
  psql(["-c", "create extension if not exists pgtap with schema extensions"], { quiet: true });
  step("pgTAP", "pg_prove", ["--ext", ".sql", "-d", DB_URL, "supabase/tests/database/"], (out) => {
    const total = Number(/Tests=(\d+)/.exec(out)?.[1] ?? 0);
    const failedLine = out.match(/Failed (\d+)\/(\d+) subtests/g) ?? [];
    const failed = failedLine.reduce((n, l) => n + Number(/Failed (\d+)/.exec(l)[1]), 0);
    return { name: "pgTAP", passed: total - failed, failed };
  });

  const port = Number(process.env.AITIZER_TEST_PORT ?? 54331);
  // Local fakes of outside services listen on AITIZER_TEST_FAKE_PORT; only they are allow-listed.
  const fakePort = process.env.AITIZER_TEST_FAKE_PORT ?? "54340";
  // Fakes of OpenAI, Stripe, Slack, Telegram and Resend (tests/fakes/providers.ts) answer here.
  const providerPort = process.env.AITIZER_TEST_PROVIDER_PORT ?? "54341";
  const providers = `http://127.0.0.1:${providerPort}`;
  const testEnv = {
    AITIZER_TEST_FAKE_PORT: fakePort,
    AITIZER_TEST_PROVIDER_PORT: providerPort,
    AITIZER_WORKER_SECRET: "test-worker-secret",
    AITIZER_PLATFORM_OPENAI_KEY: "good-platform-key",
  };
  const gw = startGateway(port, {
    ...testEnv,
    AITIZER_LOG_LEVEL: process.env.AITIZER_LOG_LEVEL ?? "error",
    // Each test file that fakes a web endpoint has its own port: the base, +2 and +3.
    AITIZER_OUTBOUND_ALLOW: [0, 2, 3].map((d) => `127.0.0.1:${Number(fakePort) + d}`)
      .concat(`127.0.0.1:${providerPort}`).join(","),
    AITIZER_ENGINE_BACKOFF_MS: "20",
    AITIZER_FORMULA_TIMEOUT_MS: "200",
    AITIZER_OPENAI_BASE_URL: `${providers}/openai/v1`,
    AITIZER_STRIPE_API_BASE: providers,
    AITIZER_SLACK_API_BASE: `${providers}/slack/api`,
    AITIZER_TELEGRAM_API_BASE: `${providers}/telegram`,
    AITIZER_RESEND_API_BASE: `${providers}/resend`,
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/functions/v1/rest-api/health`);
    const only = process.argv.slice(3);
    step("deno test", deno, ["test", "-A", "--quiet", ...(only.length > 0 ? only : ["tests/"])], (out) => {
      const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(out);
      return m ? { name: "deno test", passed: Number(m[1]), failed: Number(m[2]) } : null;
    }, gatewayEnv({ AITIZER_URL: `http://127.0.0.1:${port}`, ...testEnv }));
  } finally {
    gw.kill("SIGTERM");
    await new Promise((r) => gw.once("exit", r));
  }

  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  for (const r of results) log(`${r.name}: ${r.passed} passed, ${r.failed} failed`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

async function waitForHttp(url) {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway did not come up at ${url}`);
}

function demoEnv() {
  console.log(`AITIZER_URL=http://localhost:54321
AITIZER_REST_TOKEN=${DEMO.restToken}
AITIZER_USER_MCP_TOKEN=${DEMO.userMcpToken}
AITIZER_VIBE_MCP_TOKEN=${DEMO.vibeMcpToken}
AITIZER_USER_JWT=${DEMO.ownerJwt}`);
}

const commands = { setup, start, test, "demo-env": demoEnv, stop: stopCluster };
const name = process.argv[2];
if (import.meta.url === `file://${process.argv[1]}`) {
  if (!commands[name]) {
    console.error(`usage: node scripts/stack.mjs ${Object.keys(commands).join("|")}`);
    process.exit(2);
  }
  try {
    await commands[name]();
  } catch (e) {
    console.error(`\n[stack] ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  }
}

export { DB_URL, readFileSync };
