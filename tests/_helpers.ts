// deno-lint-ignore-file no-explicit-any -- response bodies are arbitrary JSON
// Shared by the integration tests: the gateway the test run started, a service connection to
// assert on the database, and personas (users with roles, tokens with grids) made per test.
import postgres from "postgres";
import { SignJWT } from "jose";
import { assert } from "@std/assert";

export const BASE = Deno.env.get("AITIZER_URL") ?? "http://127.0.0.1:54321";
export const DB_URL = Deno.env.get("DATABASE_URL") ?? "postgresql://postgres:postgres@127.0.0.1:54322/postgres";
const JWT_SECRET = Deno.env.get("SUPABASE_JWT_SECRET") ?? "super-secret-jwt-token-with-at-least-32-characters-long";

/** A service-role connection for arranging and asserting; never used by the code under test. */
export const db = postgres(DB_URL, {
  max: 4,
  onnotice: () => {},
  types: {
    bigint: { to: 20, from: [20], serialize: (x: number) => x.toString(), parse: (x: string) => Number(x) },
  },
});

/** Deno.test without the op/resource sanitizers: the db pool and the gateway outlive one test. */
export function test(name: string, fn: (t: Deno.TestContext) => Promise<void> | void) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

export type Role = "viewer" | "editor" | "admin" | "super_admin";

export interface User {
  id: string;
  email: string;
  jwt: string;
}

export const uniq = () => crypto.randomUUID().slice(0, 8);

export async function signJwt(claims: Record<string, unknown>, secret = JWT_SECRET, expiresIn = "1h") {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

export async function createUser(label = "user"): Promise<User> {
  const email = `${label}-${uniq()}@test.aitizer.local`;
  const [row] = await db<{ id: string }[]>`insert into auth.users (email) values (${email}) returning id`;
  const jwt = await signJwt({ sub: row.id, role: "authenticated", aud: "authenticated", email });
  return { id: row.id, email, jwt };
}

export interface ApiResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function api<T = any>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: BodyInit } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(`${BASE}/functions/v1${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch { /* not JSON: keep the text */ }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export interface Workspace {
  id: number;
  owner: User;
  vibeToken: string;
}

/** A fresh workspace owned (super_admin) by a fresh user. */
export async function createWorkspace(name = `ws-${uniq()}`): Promise<Workspace> {
  const owner = await createUser("owner");
  const res = await api("POST", "/rest-api/workspaces", { token: owner.jwt, body: { name } });
  assert(res.status === 201, `workspace creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, owner, vibeToken: res.body.vibe_mcp_token.token };
}

/** A new user holding `role` in the workspace (inserted directly: arranging, not testing). */
export async function member(ws: Workspace, role: Role): Promise<User> {
  const user = await createUser(role);
  await db`insert into public.workspace_members (workspace_id, user_id, role) values (${ws.id}, ${user.id}, ${role})`;
  return user;
}

export interface Grant {
  table_id: number;
  can_read_all?: boolean;
  can_create?: boolean;
  can_edit?: boolean;
  can_delete?: boolean;
}

/** A token of the given type created through the API by the workspace owner. */
export async function createToken(
  ws: Workspace,
  tokenType: "rest_api" | "user_mcp" | "vibe_mcp",
  extra: { permissions?: Grant[]; rate_limit_per_minute?: number; expires_at?: string } = {},
): Promise<{ id: number; token: string }> {
  const res = await api("POST", `/rest-api/workspaces/${ws.id}/tokens`, {
    token: ws.owner.jwt,
    body: { name: `${tokenType}-${uniq()}`, token_type: tokenType, ...extra },
  });
  assert(res.status === 201, `token creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, token: res.body.token };
}

/** Polls (bounded) until `check` returns a value: for what happens asynchronously (the engine). */
export async function until<T>(
  what: string,
  check: () => Promise<T | null | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits (bounded, polling) for the audit row of a request; audit rows are written in batches. */
export async function auditRow(requestId: string | null, timeoutMs = 5_000) {
  assert(requestId, "response has no x-request-id");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [row] = await db`select * from public.api_usage_logs where request_id = ${requestId}`;
    if (row) return row;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no audit row for request ${requestId} within ${timeoutMs} ms`);
}

/** Asserts the seed's error envelope and returns its code. */
export function assertEnvelope(res: ApiResult, status: number, code?: string) {
  assert(
    res.status === status,
    `expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`,
  );
  assert(res.body && res.body.data === null && typeof res.body.error?.message === "string", "not the error envelope");
  if (code) assert(res.body.error.code === code, `expected code ${code}, got ${res.body.error.code}`);
  return res.body.error.code as string;
}
