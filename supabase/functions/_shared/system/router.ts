// /health (no auth) and /me (who is calling).
import type { Hono } from "hono";
import { requireAuth, resource } from "../http/app.ts";
import { claimsText } from "../auth/principal.ts";
import { workspaceOf } from "../auth/workspace.ts";
import { asPrincipal, sql } from "../db/client.ts";

export function mountSystem(app: Hono) {
  resource(app, "/health", {
    GET: async (c) => {
      const started = performance.now();
      try {
        const [row] = await sql<{ version: string | null }[]>`
          select case when to_regclass('supabase_migrations.schema_migrations') is null then null
                      else (select max(version) from supabase_migrations.schema_migrations) end as version`;
        return c.json({
          status: "ok",
          database: "reachable",
          migration_version: row.version,
          latency_ms: Math.round((performance.now() - started) * 100) / 100,
        });
      } catch {
        return c.json({ status: "degraded", database: "unreachable", migration_version: null }, 503);
      }
    },
  });

  resource(app, "/me", {
    GET: async (c) => {
      const p = c.var.principal;
      return c.json(
        await asPrincipal(claimsText(p), async (tx) => {
          const ws = p.kind === "token" || c.req.header("x-workspace-id") !== undefined
            ? await workspaceOf(c, tx, p)
            : await tx<{ workspace_id: number; role: string }[]>`
                select workspace_id, role from public.workspace_members where user_id = ${p.userId} limit 2`
              .then((rows) => rows.length === 1 ? { id: rows[0].workspace_id, role: rows[0].role } : null);
          const [workspace] = ws ? await tx`select id, name from public.workspaces where id = ${ws.id}` : [];
          const permissions = ws
            ? await tx`
              select a.id as table_id, a.name as table_name,
                     public.can_access_table(a.id, 'read') as can_read_all,
                     public.can_access_table(a.id, 'create') as can_create,
                     public.can_access_table(a.id, 'edit') as can_edit,
                     public.can_access_table(a.id, 'delete') as can_delete
              from public.app_tables a where a.workspace_id = ${ws.id} order by a.id`
            : [];
          const workspaces = p.kind === "user"
            ? await tx`
              select w.id, w.name, m.role from public.workspaces w
              join public.workspace_members m on m.workspace_id = w.id and m.user_id = ${p.userId} order by w.id`
            : undefined;
          return {
            principal: p.kind === "token"
              ? { kind: "token", token_id: p.tokenId, token_type: p.tokenType }
              : { kind: "user", user_id: p.userId, email: p.email ?? null, role: ws?.role ?? null },
            workspace: workspace ?? null,
            permissions,
            ...(workspaces ? { workspaces } : {}),
          };
        }),
      );
    },
  }, requireAuth());
}
