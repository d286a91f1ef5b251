// Workspace administration: workspaces, members, tokens and their per-table grids.
// Every function runs as the caller (RLS applies) after an explicit role check that gives a
// precise 403/404.
import { claimsText, forgetToken, type Principal } from "../auth/principal.ts";
import { generateToken, hashToken, type TokenType } from "../auth/tokens.ts";
import { requireRole, type Role, roleRank } from "../auth/workspace.ts";
import { asPrincipal, sql, type Tx } from "../db/client.ts";
import { badRequest, conflict, forbidden, HttpError, notFound } from "../http/errors.ts";
import type { TablePermissionInput } from "./schemas.ts";

interface WorkspaceRow {
  id: number;
  name: string;
  created_at: string;
  updated_at: string;
}

const run = <T>(p: Principal, fn: (tx: Tx) => Promise<T>) => asPrincipal(claimsText(p), fn);

function requireUser(p: Principal): asserts p is Extract<Principal, { kind: "user" }> {
  if (p.kind !== "user") {
    throw forbidden("Workspace administration needs a signed-in user (a user JWT); workspace tokens cannot do it");
  }
}

// ---------------------------------------------------------------------------------------------
// Workspaces
// ---------------------------------------------------------------------------------------------
export function listWorkspaces(p: Principal) {
  return run(
    p,
    (tx) =>
      p.kind === "token"
        ? tx`select w.id, w.name, w.created_at, w.updated_at, null as role from public.workspaces w where w.id = ${p.workspaceId}`
        : tx`select w.id, w.name, w.created_at, w.updated_at, m.role
           from public.workspaces w join public.workspace_members m on m.workspace_id = w.id and m.user_id = ${p.userId}
           order by w.id`,
  );
}

export function createWorkspace(p: Principal, name: string) {
  requireUser(p);
  return run(p, async (tx) => {
    const [{ id }] = await tx<{ id: number }[]>`select public.create_workspace(${name}) as id`;
    // The workspace's system token for the Vibe Builder, shown once like every token secret.
    const vibe = await insertToken(tx, p, id, { name: "Vibe Builder", token_type: "vibe_mcp" });
    const [ws] = await tx<
      WorkspaceRow[]
    >`select id, name, created_at, updated_at from public.workspaces where id = ${id}`;
    return { ...ws, role: "super_admin" as Role, vibe_mcp_token: vibe };
  });
}

export function getWorkspace(p: Principal, id: number) {
  return run(p, async (tx) => {
    let role: Role | null = null;
    if (p.kind === "token") {
      if (p.workspaceId !== id) throw notFound(`workspace ${id}`);
    } else {
      role = await requireRole(tx, p, id, "viewer");
    }
    const [ws] = await tx`select id, name, created_at, updated_at from public.workspaces where id = ${id}`;
    if (!ws) throw notFound(`workspace ${id}`);
    return { ...ws, role };
  });
}

export function updateWorkspace(p: Principal, id: number, patch: { name?: string }) {
  return run(p, async (tx) => {
    const role = await requireRole(tx, p, id, "admin");
    const [ws] = await tx`
      update public.workspaces set name = coalesce(${patch.name ?? null}, name) where id = ${id}
      returning id, name, created_at, updated_at`;
    return { ...ws, role };
  });
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------
async function withEmails<T extends { user_id: string }>(rows: T[]): Promise<(T & { email: string | null })[]> {
  if (rows.length === 0) return [];
  // auth.users is not readable by API roles; emails of rows RLS already let through are looked up here.
  const users = await sql<{ id: string; email: string | null }[]>`
    select id, email from auth.users where id = any(${rows.map((r) => r.user_id)}::uuid[])`;
  const email = new Map(users.map((u) => [u.id, u.email]));
  return rows.map((r) => ({ ...r, email: email.get(r.user_id) ?? null }));
}

export async function listMembers(p: Principal, workspaceId: number) {
  const rows = await run(p, async (tx) => {
    await requireRole(tx, p, workspaceId, "viewer");
    return await tx<{ user_id: string; role: Role; created_at: string }[]>`
      select user_id, role, created_at, updated_at from public.workspace_members
      where workspace_id = ${workspaceId} order by created_at, user_id`;
  });
  return withEmails(rows);
}

export async function addMember(
  p: Principal,
  workspaceId: number,
  input: { user_id?: string; email?: string; role: Role },
) {
  const row = await run(p, async (tx) => {
    const own = await requireRole(tx, p, workspaceId, "admin");
    if (roleRank(input.role) > roleRank(own)) throw forbidden(`You cannot grant ${input.role}: your role is ${own}`);
    const [user] = input.user_id
      ? await sql<{ id: string }[]>`select id from auth.users where id = ${input.user_id}`
      : await sql<{ id: string }[]>`select id from auth.users where lower(email) = lower(${input.email!})`;
    if (!user) throw notFound(`user ${input.user_id ?? input.email}`);
    const [m] = await tx<{ user_id: string; role: Role; created_at: string }[]>`
      insert into public.workspace_members (workspace_id, user_id, role)
      values (${workspaceId}, ${user.id}, ${input.role})
      on conflict (workspace_id, user_id) do nothing
      returning user_id, role, created_at, updated_at`;
    if (!m) throw conflict(`User ${user.id} is already a member of workspace ${workspaceId}`);
    return m;
  });
  return (await withEmails([row]))[0];
}

async function memberRole(tx: Tx, workspaceId: number, userId: string): Promise<Role> {
  const [m] = await tx<{ role: Role }[]>`
    select role from public.workspace_members where workspace_id = ${workspaceId} and user_id = ${userId}`;
  if (!m) throw notFound(`member ${userId} in workspace ${workspaceId}`);
  return m.role;
}

export async function updateMember(p: Principal, workspaceId: number, userId: string, role: Role) {
  const row = await run(p, async (tx) => {
    const own = await requireRole(tx, p, workspaceId, "admin");
    const current = await memberRole(tx, workspaceId, userId);
    if (roleRank(current) > roleRank(own)) throw forbidden(`You cannot change a ${current}: your role is ${own}`);
    if (roleRank(role) > roleRank(own)) throw forbidden(`You cannot grant ${role}: your role is ${own}`);
    const [m] = await tx<{ user_id: string; role: Role; created_at: string }[]>`
      update public.workspace_members set role = ${role}
      where workspace_id = ${workspaceId} and user_id = ${userId}
      returning user_id, role, created_at, updated_at`;
    return m;
  });
  return (await withEmails([row]))[0];
}

export function removeMember(p: Principal, workspaceId: number, userId: string) {
  return run(p, async (tx) => {
    requireUser(p);
    const leaving = p.userId === userId;
    const own = await requireRole(tx, p, workspaceId, leaving ? "viewer" : "admin");
    const current = await memberRole(tx, workspaceId, userId);
    if (!leaving && roleRank(current) > roleRank(own)) {
      throw forbidden(`You cannot remove a ${current}: your role is ${own}`);
    }
    await tx`delete from public.workspace_members where workspace_id = ${workspaceId} and user_id = ${userId}`;
    return { workspace_id: workspaceId, user_id: userId, removed: true };
  });
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------
const TOKEN_COLUMNS = `id, name, token_type, prefix, created_by, created_at, last_used_at, expires_at, revoked_at,
  rate_limit_per_minute`;

async function grid(tx: Tx, tokenIds: number[]) {
  const rows = await tx<({ token_id: number } & TablePermissionInput)[]>`
    select token_id, table_id, can_read_all, can_create, can_edit, can_delete
    from public.token_table_permissions where token_id = any(${tokenIds}::bigint[]) order by table_id`;
  const byToken = new Map<number, TablePermissionInput[]>();
  for (const { token_id, ...perm } of rows) byToken.set(token_id, [...(byToken.get(token_id) ?? []), perm]);
  return byToken;
}

async function writeGrid(tx: Tx, workspaceId: number, tokenId: number, permissions: TablePermissionInput[]) {
  await tx`delete from public.token_table_permissions where token_id = ${tokenId}`;
  if (permissions.length === 0) return;
  const ids = permissions.map((r) => r.table_id);
  const found = await tx<{ id: number }[]>`
    select id from public.app_tables where workspace_id = ${workspaceId} and id = any(${ids}::bigint[])`;
  const known = new Set(found.map((r) => r.id));
  const missing = ids.filter((id) => !known.has(id));
  if (missing.length > 0) throw badRequest(`permissions: no table ${missing.join(", ")} in workspace ${workspaceId}`);
  await tx`insert into public.token_table_permissions ${
    tx(
      permissions.map((r) => ({ ...r, token_id: tokenId, workspace_id: workspaceId })),
      "token_id",
      "table_id",
      "workspace_id",
      "can_read_all",
      "can_create",
      "can_edit",
      "can_delete",
    )
  }`;
}

async function insertToken(
  tx: Tx,
  p: Principal & { kind: "user" },
  workspaceId: number,
  input: {
    name: string;
    token_type: TokenType;
    expires_at?: string;
    rate_limit_per_minute?: number;
    permissions?: TablePermissionInput[];
  },
) {
  const { token, prefix } = generateToken(input.token_type);
  const [row] = await tx`
    insert into public.api_tokens (workspace_id, name, token_type, prefix, token_hash, created_by, expires_at,
                                   rate_limit_per_minute)
    values (${workspaceId}, ${input.name}, ${input.token_type}, ${prefix}, ${await hashToken(token)}, ${p.userId},
            ${input.expires_at ?? null}, ${input.rate_limit_per_minute ?? null})
    returning ${tx.unsafe(TOKEN_COLUMNS)}`;
  if (input.permissions) await writeGrid(tx, workspaceId, row.id, input.permissions);
  const permissions = (await grid(tx, [row.id])).get(row.id) ?? [];
  return { ...row, token, permissions };
}

export function listTokens(p: Principal, workspaceId: number) {
  return run(p, async (tx) => {
    await requireRole(tx, p, workspaceId, "admin");
    const rows = await tx`
      select ${tx.unsafe(TOKEN_COLUMNS)} from public.api_tokens where workspace_id = ${workspaceId} order by id`;
    const grids = await grid(tx, rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, permissions: grids.get(r.id) ?? [] }));
  });
}

export function createToken(p: Principal, workspaceId: number, input: Parameters<typeof insertToken>[3]) {
  return run(p, async (tx) => {
    await requireRole(tx, p, workspaceId, "admin");
    requireUser(p);
    return insertToken(tx, p, workspaceId, input);
  });
}

async function tokenIn(tx: Tx, workspaceId: number, tokenId: number) {
  const [row] =
    await tx`select id, revoked_at from public.api_tokens where id = ${tokenId} and workspace_id = ${workspaceId}`;
  if (!row) throw notFound(`token ${tokenId} in workspace ${workspaceId}`);
  return row;
}

export async function revokeToken(p: Principal, workspaceId: number, tokenId: number) {
  const row = await run(p, async (tx) => {
    await requireRole(tx, p, workspaceId, "admin");
    await tokenIn(tx, workspaceId, tokenId);
    const [r] = await tx`
      update public.api_tokens set revoked_at = coalesce(revoked_at, now())
      where id = ${tokenId} returning ${tx.unsafe(TOKEN_COLUMNS)}`;
    return r;
  });
  forgetToken(tokenId);
  return row;
}

export async function setPermissions(
  p: Principal,
  workspaceId: number,
  tokenId: number,
  permissions: TablePermissionInput[],
) {
  const result = await run(p, async (tx) => {
    await requireRole(tx, p, workspaceId, "admin");
    const token = await tokenIn(tx, workspaceId, tokenId);
    if (token.revoked_at) throw new HttpError(409, "conflict", `Token ${tokenId} is revoked`);
    await writeGrid(tx, workspaceId, tokenId, permissions);
    return { token_id: tokenId, permissions: (await grid(tx, [tokenId])).get(tokenId) ?? [] };
  });
  forgetToken(tokenId);
  return result;
}
