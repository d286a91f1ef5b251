// Tables: an app_tables row and its physical table (provisioned by a database trigger in the same
// transaction), created with its initial columns atomically.
import type { Context } from "hono";
import { z } from "zod";
import { claimsText, type Principal, type TablePermission } from "../auth/principal.ts";
import { type Role, workspaceOf } from "../auth/workspace.ts";
import { insertColumn, toApiColumn } from "../columns/service.ts";
import { parseColumnBody } from "../columns/schemas.ts";
import { asPrincipal, type Tx } from "../db/client.ts";
import { conflict, forbidden, HttpError } from "../http/errors.ts";
import { parseWith } from "../http/validate.ts";
import { permissionColumns, permissionsFor, type TableMeta, withTable } from "./meta.ts";

const name = z.string().trim().min(1, "must not be empty").max(200);
const icon = z.string().trim().max(100).nullable();
export const createTableInput = z.strictObject({
  name,
  icon: icon.optional(),
  columns: z.array(z.unknown()).max(200).optional(),
});
export const updateTableInput = z.strictObject({ name: name.optional(), icon: icon.optional() });

interface TableRow {
  id: number;
  workspace_id: number;
  name: string;
  icon: string | null;
  pg_table_name: string;
  created_at: string;
  updated_at: string;
}

const apiTable = (t: TableRow, permissions?: TablePermission) => ({
  id: t.id,
  workspace_id: t.workspace_id,
  name: t.name,
  icon: t.icon,
  pg_table_name: t.pg_table_name,
  created_at: t.created_at,
  updated_at: t.updated_at,
  ...(permissions ? { permissions } : {}),
});

async function checkName(tx: Tx, workspaceId: number, tableName: string, exceptId = 0) {
  const [dup] = await tx<{ id: number }[]>`
    select id from public.app_tables
    where workspace_id = ${workspaceId} and lower(name) = lower(${tableName}) and id <> ${exceptId}`;
  if (dup) throw conflict(`The workspace already has a table named '${tableName}' (table ${dup.id})`);
}

/** Every table of the workspace the caller may see, with what the caller may do with each. */
export function listTables(c: Context, p: Principal) {
  return asPrincipal(claimsText(p), async (tx) => {
    const ws = await workspaceOf(c, tx, p);
    const rows = await tx<(TableRow & { role: Role | null; grid: TablePermission | null })[]>`
      select t.id, t.workspace_id, t.name, t.icon, t.pg_table_name, t.created_at, t.updated_at, ${
      permissionColumns(tx, p)
    }
      from public.app_tables t where t.workspace_id = ${ws.id}
      order by t.id`;
    return rows.map((r) => apiTable(r, permissionsFor(p, r)));
  });
}

export function createTable(c: Context, p: Principal, body: unknown) {
  const input = parseWith(createTableInput, body, "Invalid table");
  // Column bodies are checked before anything is written, each error naming its index.
  const columns = (input.columns ?? []).map((col, i) => {
    try {
      return parseColumnBody(col, "create");
    } catch (e) {
      if (e instanceof HttpError) throw new HttpError(e.status, e.code, `columns.${i}: ${e.message}`);
      throw e;
    }
  });
  return asPrincipal(claimsText(p), async (tx) => {
    const ws = await workspaceOf(c, tx, p);
    const [{ allowed }] = await tx<{ allowed: boolean }[]>`select public.can_create_tables(${ws.id}) as allowed`;
    if (!allowed) {
      throw forbidden(
        p.kind === "token"
          ? `A ${p.tokenType} token cannot create tables`
          : "Creating tables needs the editor role or higher",
      );
    }
    await checkName(tx, ws.id, input.name);
    const [row] = await tx<TableRow[]>`
      insert into public.app_tables (workspace_id, name, icon, created_by, created_by_token)
      values (${ws.id}, ${input.name}, ${input.icon ?? null}, ${p.kind === "user" ? p.userId : p.createdBy}::uuid,
              ${p.kind === "token" ? p.tokenId : null}::bigint)
      returning id, workspace_id, name, icon, pg_table_name, created_at, updated_at`;
    c.set("tableId", row.id);
    const meta: TableMeta = {
      ...row,
      columns: [],
      permissions: { can_read_all: true, can_create: true, can_edit: true, can_delete: true },
    };
    const created = [];
    for (const [i, col] of columns.entries()) {
      try {
        created.push(toApiColumn(await insertColumn(tx, meta, col)));
      } catch (e) {
        if (e instanceof HttpError) throw new HttpError(e.status, e.code, `columns.${i}: ${e.message}`);
        throw e;
      }
    }
    return { ...apiTable(row), columns: created };
  });
}

export function getTable(p: Principal, tableId: number) {
  return withTable(
    p,
    tableId,
    "see",
    (_tx, t) => Promise.resolve({ ...apiTable(t, t.permissions), columns: t.columns.map(toApiColumn) }),
  );
}

export function updateTable(p: Principal, tableId: number, body: unknown) {
  const input = parseWith(updateTableInput, body, "Invalid table");
  return withTable(p, tableId, "schema", async (tx, t) => {
    if (input.name !== undefined) await checkName(tx, t.workspace_id, input.name, t.id);
    const [row] = await tx<TableRow[]>`
      update public.app_tables set name = ${input.name ?? t.name},
        icon = ${input.icon === undefined ? t.icon : input.icon}
      where id = ${t.id}
      returning id, workspace_id, name, icon, pg_table_name, created_at, updated_at`;
    return apiTable(row, t.permissions);
  });
}

/** Drops the table with its rows, columns, views, grid rows, and relation columns pointing at it. */
export function deleteTable(p: Principal, tableId: number) {
  return withTable(p, tableId, "drop", async (tx, t) => {
    await tx`delete from public.app_tables where id = ${t.id}`;
    return { id: t.id, deleted: true };
  });
}
