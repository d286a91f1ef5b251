// Who is calling: a workspace token or a signed-in user, resolved from the request headers.
import { sql } from "../db/client.ts";
import type { RequestClaims } from "../db/client.ts";
import { config } from "../config.ts";
import { unauthorized } from "../http/errors.ts";
import { verifyUserJwt } from "./jwt.ts";
import { hashToken, looksLikeToken, type TokenType } from "./tokens.ts";

export interface TablePermission {
  can_read_all: boolean;
  can_create: boolean;
  can_edit: boolean;
  can_delete: boolean;
}

export interface UserPrincipal {
  kind: "user";
  userId: string;
  email?: string;
}

export interface TokenPrincipal {
  kind: "token";
  tokenId: number;
  tokenType: TokenType;
  workspaceId: number;
  /** The user who created the token; records it writes are `created_by` this user. */
  createdBy: string | null;
  rateLimitPerMinute: number | null;
  /** The explicit per-table grid; a table absent from it is not accessible. */
  grid: Map<number, TablePermission>;
}

export type Principal = UserPrincipal | TokenPrincipal;

function claimsFor(p: Principal): RequestClaims {
  return p.kind === "user"
    ? { sub: p.userId, role: "authenticated", email: p.email }
    : { sub: p.createdBy, role: "authenticated", aitizer_token_id: p.tokenId, aitizer_workspace_id: p.workspaceId };
}

const claimsTexts = new WeakMap<Principal, string>();

/** claimsFor(p) as JSON text, made once per principal (token principals are cached). */
export function claimsText(p: Principal): string {
  let text = claimsTexts.get(p);
  if (text === undefined) claimsTexts.set(p, text = JSON.stringify(claimsFor(p)));
  return text;
}

/** The bearer credential: `Authorization: Bearer …` or `X-MCP-Token: …`. */
export function credentialOf(headers: Headers): string | null {
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : "";
  }
  const mcp = headers.get("x-mcp-token");
  return mcp === null ? null : mcp.trim();
}

// ---------------------------------------------------------------------------------------------
// Token cache: a revoked or expired token stops working within config.authCacheMs (≤ 5 s)
// on every instance, and at once on the instance that revoked it.
// ---------------------------------------------------------------------------------------------
interface CacheEntry {
  principal: TokenPrincipal | null;
  expires: number;
}
const cache = new Map<string, CacheEntry>();
const CACHE_MAX = 10_000;

export function forgetToken(tokenId?: number) {
  if (tokenId === undefined) return cache.clear();
  for (const [key, entry] of cache) if (entry.principal?.tokenId === tokenId) cache.delete(key);
}

interface TokenRow {
  id: number;
  workspace_id: number;
  token_type: TokenType;
  created_by: string | null;
  rate_limit_per_minute: number | null;
  live: boolean;
  grid: [number, boolean, boolean, boolean, boolean][];
}

async function lookupToken(token: string): Promise<TokenPrincipal | null> {
  // Keyed by the secret itself: the process holds it while serving the request anyway, and a
  // warm hit then costs no hashing. Only the hash ever leaves the process.
  const now = Date.now();
  const hit = cache.get(token);
  if (hit && hit.expires > now) return hit.principal;
  const hash = await hashToken(token);

  const [row] = await sql<TokenRow[]>`
    select t.id, t.workspace_id, t.token_type, t.created_by, t.rate_limit_per_minute,
           (t.revoked_at is null and (t.expires_at is null or t.expires_at > now())) as live,
           coalesce((select json_agg(json_build_array(p.table_id, p.can_read_all, p.can_create, p.can_edit, p.can_delete))
                       from public.token_table_permissions p where p.token_id = t.id), '[]') as grid
    from public.api_tokens t
    where t.token_hash = ${hash}`;
  const principal: TokenPrincipal | null = row?.live
    ? {
      kind: "token",
      tokenId: row.id,
      tokenType: row.token_type,
      workspaceId: row.workspace_id,
      createdBy: row.created_by,
      rateLimitPerMinute: row.rate_limit_per_minute,
      grid: new Map(
        row.grid.map(([t, r, c, e, d]) => [t, { can_read_all: r, can_create: c, can_edit: e, can_delete: d }]),
      ),
    }
    : null;
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(token, { principal, expires: now + config.authCacheMs });
  return principal;
}

/** Resolves the caller, or throws 401 for a missing, malformed, unknown, expired or revoked credential. */
export async function authenticate(headers: Headers): Promise<Principal> {
  const credential = credentialOf(headers);
  if (credential === null) {
    throw unauthorized("Missing token: send Authorization: Bearer <token> or X-MCP-Token: <token>");
  }
  if (credential === "") throw unauthorized("Malformed Authorization header: expected 'Bearer <token>'");
  if (looksLikeToken(credential)) {
    const principal = await lookupToken(credential);
    if (!principal) throw unauthorized("Invalid token: unknown, expired or revoked");
    return principal;
  }
  if (credential.split(".").length === 3) {
    const user = await verifyUserJwt(credential);
    if (!user) throw unauthorized("Invalid or expired user JWT");
    return { kind: "user", userId: user.sub, email: user.email };
  }
  throw unauthorized("Malformed token: expected a workspace token (aitz_…) or a user JWT");
}
