// Every setting the functions read from the environment, parsed once with defaults.
// On hosted Supabase these come from `supabase secrets set`; locally from scripts/stack.mjs.

function env(name: string): string | undefined {
  const value = Deno.env.get(name);
  return value === undefined || value === "" ? undefined : value;
}

function int(name: string, fallback: number): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export const config = {
  /** Postgres connection string: SUPABASE_DB_URL on hosted Supabase, DATABASE_URL locally. */
  databaseUrl: env("SUPABASE_DB_URL") ?? env("DATABASE_URL") ??
    "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
  /** Connections per function instance. */
  dbPoolMax: int("AITIZER_DB_POOL_MAX", 10),
  /** Prepared statements; turn off behind a transaction-mode pooler (Supavisor :6543). */
  dbPrepare: env("AITIZER_DB_PREPARE") !== "false",
  /** HS256 secret of the project's JWTs (Settings → API → JWT secret). */
  jwtSecret: env("SUPABASE_JWT_SECRET") ?? env("JWT_SECRET"),
  /** Or a JWKS URL for asymmetric project keys, e.g. https://<ref>.supabase.co/auth/v1/.well-known/jwks.json */
  jwksUrl: env("SUPABASE_JWKS_URL"),
  /** How long a resolved token stays cached; revocation takes effect within this time. */
  authCacheMs: Math.min(int("AITIZER_AUTH_CACHE_MS", 2_000), 5_000),
  /** Default requests per minute per token and per user (a token may carry its own limit). */
  rateLimitPerMinute: int("AITIZER_RATE_LIMIT_PER_MINUTE", 600),
  /** Largest accepted request body. */
  maxBodyBytes: int("AITIZER_MAX_BODY_BYTES", 1_048_576),
  /** How often buffered audit rows are written. */
  auditFlushMs: int("AITIZER_AUDIT_FLUSH_MS", 250),
  logLevel: env("AITIZER_LOG_LEVEL") ?? "info",
  /** Hosts (host or host:port) user-configured requests may reach despite the public-address rule: local fakes. */
  outboundAllow: (env("AITIZER_OUTBOUND_ALLOW") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
  /** Per-evaluation time limit of a formula (QuickJS). */
  formulaTimeoutMs: int("AITIZER_FORMULA_TIMEOUT_MS", 200),
  /** Memory cap of a formula's QuickJS runtime. */
  formulaMemoryBytes: int("AITIZER_FORMULA_MEMORY_BYTES", 16 * 1024 * 1024),
  /** Base delay of the engine's exponential backoff (doubling per attempt). */
  engineBackoffMs: int("AITIZER_ENGINE_BACKOFF_MS", 2_000),
  /** Pipelines one worker runs at once (they mostly wait on HTTP; the database work is batched). */
  engineConcurrency: Math.max(1, int("AITIZER_ENGINE_CONCURRENCY", 128)),
  /** Whether this process runs the engine's worker loop (the local gateway does). */
  engineWorker: env("AITIZER_ENGINE_WORKER") !== "false",
  /** Browser origins allowed to call the MCP server (comma-separated, or *); non-browser clients send none. */
  mcpAllowedOrigins: (env("AITIZER_MCP_ALLOWED_ORIGINS") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
  /** Key of the pgcrypto encryption of credentials and column secrets (set it once; changing it loses them). */
  secretsKey: env("AITIZER_SECRETS_KEY"),
  /** The platform's own OpenAI key, for columns in credentialMode platform_llm (metered per workspace). */
  platformOpenAiKey: env("AITIZER_PLATFORM_OPENAI_KEY"),
  /** Shared secret the action-worker function requires (pg_net sends it; see private.engine_settings). */
  workerSecret: env("AITIZER_WORKER_SECRET"),
  /** How long one action-worker invocation drains the queue before it answers. */
  workerBudgetMs: int("AITIZER_WORKER_BUDGET_MS", 50_000),
  /** Provider endpoints: the real ones by default; tests point them at local fakes. */
  providers: {
    openai: env("AITIZER_OPENAI_BASE_URL") ?? "https://api.openai.com/v1",
    stripe: env("AITIZER_STRIPE_API_BASE") ?? "https://api.stripe.com",
    slack: env("AITIZER_SLACK_API_BASE") ?? "https://slack.com/api",
    telegram: env("AITIZER_TELEGRAM_API_BASE") ?? "https://api.telegram.org",
    resend: env("AITIZER_RESEND_API_BASE") ?? "https://api.resend.com",
  },
};
