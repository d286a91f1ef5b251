// The engine reads table metadata as the system (no principal, no RLS).
import type { Sql } from "../db/client.ts";
import type { TableShape } from "../tables/meta.ts";

export async function loadShape(tx: Sql, tableId: number): Promise<TableShape | null> {
  const [row] = await tx<{ meta: TableShape }[]>`
    select json_build_object(
      'id', t.id, 'workspace_id', t.workspace_id, 'name', t.name, 'icon', t.icon,
      'pg_table_name', t.pg_table_name, 'created_at', t.created_at, 'updated_at', t.updated_at,
      'columns', coalesce((select json_agg(c order by c.position, c.id) from (
        select id, table_id, name, type, position, required, options, config, default_value, ai_populates,
               ai_purpose, pg_type, created_at, updated_at
        from public.app_columns where table_id = t.id) c), '[]')) as meta
    from public.app_tables t where t.id = ${tableId}`;
  return row?.meta ?? null;
}
