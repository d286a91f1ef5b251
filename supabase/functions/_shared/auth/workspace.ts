// Which workspace a request acts on, and with which role.
import type { Context } from "hono";
import type { Principal } from "./principal.ts";
import type { Tx } from "../db/client.ts";
import { badRequest, forbidden, notFound } from "../http/errors.ts";

export const ROLES = ["viewer", "editor", "admin", "super_admin"] as const;
export type Role = typeof ROLES[number];
export const roleRank = (role: Role) => ROLES.indexOf(role);

/**
 * The workspace of a request: a token's own; for a user, `X-Workspace-Id` (or `?workspace_id=`),
 * or the only workspace they belong to.
 */
export async function workspaceOf(c: Context, tx: Tx, p: Principal): Promise<{ id: number; role: Role | null }> {
  if (p.kind === "token") return { id: p.workspaceId, role: null };
  const raw = c.req.header("x-workspace-id") ?? c.req.query("workspace_id");
  if (raw !== undefined) {
    if (!/^\d{1,15}$/.test(raw)) throw badRequest(`X-Workspace-Id '${raw}' is not a workspace id`);
    const [m] = await tx<{ role: Role }[]>`
      select role from public.workspace_members where workspace_id = ${Number(raw)} and user_id = ${p.userId}`;
    if (!m) throw notFound(`workspace ${raw}`);
    c.set("workspaceId", Number(raw));
    return { id: Number(raw), role: m.role };
  }
  const rows = await tx<{ workspace_id: number; role: Role }[]>`
    select workspace_id, role from public.workspace_members where user_id = ${p.userId} limit 2`;
  if (rows.length === 0) throw forbidden("You are not a member of any workspace yet: create one with POST /workspaces");
  if (rows.length > 1) throw badRequest("You belong to several workspaces: choose one with the X-Workspace-Id header");
  c.set("workspaceId", rows[0].workspace_id);
  return { id: rows[0].workspace_id, role: rows[0].role };
}

/**
 * For workspace administration: the acting user's role in `workspaceId`, at least `needed`.
 * Another workspace is 404 (its existence is not revealed); too low a role is 403.
 */
export async function requireRole(tx: Tx, p: Principal, workspaceId: number, needed: Role): Promise<Role> {
  if (p.kind === "token") {
    if (p.workspaceId !== workspaceId) throw notFound(`workspace ${workspaceId}`);
    throw forbidden("Workspace administration needs a signed-in user (a user JWT); workspace tokens cannot do it");
  }
  const [m] = await tx<{ role: Role }[]>`
    select role from public.workspace_members where workspace_id = ${workspaceId} and user_id = ${p.userId}`;
  if (!m) throw notFound(`workspace ${workspaceId}`);
  if (roleRank(m.role) < roleRank(needed)) {
    throw forbidden(`This needs the ${needed} role or higher in workspace ${workspaceId}; you are ${m.role}`);
  }
  return m.role;
}
