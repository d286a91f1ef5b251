// A table's metadata (row + ordered columns) and what the acting principal may do with it,
// read in one query under RLS. Column keys: `col_<id>`, the bare id, or the name (any case).
import { claimsText, type Principal, type TablePermission } from "../auth/principal.ts";
import type { Role } from "../auth/workspace.ts";
import type { Column } from "../columns/type.ts";
import type { Fragment } from "postgres";
import { asPrincipal, sql, type Tx } from "../db/client.ts";
import { badRequest, forbidden, type HttpError, notFound } from "../http/errors.ts";

export interface TableMeta {
  id: number;
  workspace_id: number;
  name: string;
  icon: string | null;
  pg_table_name: string;
  created_at: string;
  updated_at: string;
  columns: Column[];
  permissions: TablePermission;
}

export type TableOp = "see" | "read" | "create" | "edit" | "delete" | "schema" | "drop";

const USER_GRID: Record<Role, TablePermission> = {
  viewer: { can_read_all: true, can_create: false, can_edit: false, can_delete: false },
  editor: { can_read_all: true, can_create: true, can_edit: true, can_delete: true },
  admin: { can_read_all: true, can_create: true, can_edit: true, can_delete: true },
  super_admin: { can_read_all: true, can_create: true, can_edit: true, can_delete: true },
};
const NONE: TablePermission = { can_read_all: false, can_create: false, can_edit: false, can_delete: false };

/**
 * The caller's role (users) or grid row (tokens) for the table `t` of a query, read fresh in the
 * request's transaction: a grant or revocation applies to the very next request.
 */
export function permissionColumns(tx: Tx, p: Principal): Fragment {
  return p.kind === "user"
    ? tx`(select m.role from public.workspace_members m
          where m.workspace_id = t.workspace_id and m.user_id = ${p.userId}::uuid) as role, null::json as grid`
    : tx`null::public.workspace_role as role,
         (select json_build_object('can_read_all', g.can_read_all, 'can_create', g.can_create,
                                   'can_edit', g.can_edit, 'can_delete', g.can_delete)
          from public.token_table_permissions g where g.token_id = ${p.tokenId} and g.table_id = t.id) as grid`;
}

/** The caller's grid row for a table: a token's explicit row, or what a user's role implies. */
export function permissionsFor(
  p: Principal,
  row: { role: Role | null; grid: TablePermission | null },
): TablePermission {
  if (p.kind === "token") return row.grid ?? NONE;
  return row.role ? USER_GRID[row.role] : NONE;
}

// ---------------------------------------------------------------------------------------------
// Metadata cache: a table's row and columns, per instance, checked against app_tables'
// schema_version (moved by triggers on every change) in the same query as the permission check.
// A stale entry is replaced by the metadata that query returns; nothing is trusted unchecked.
// ---------------------------------------------------------------------------------------------
/** A table without the caller's permissions: what the cache holds. */
export type TableShape = Omit<TableMeta, "permissions">;
type Meta = TableShape;
const metaCache = new Map<number, { version: number; meta: Meta }>();
const META_CACHE_MAX = 5_000;

/** The cached metadata of a table, unchecked: only for work that is verified before it is used. */
export function peekTable(tableId: number): Meta | undefined {
  return metaCache.get(tableId)?.meta;
}

/** The cached metadata of a table with the schema version it was read at, unchecked (see peekTable). */
export function peekTableVersion(tableId: number): { version: number; meta: Meta } | undefined {
  return metaCache.get(tableId);
}

/**
 * The access check of a one-statement request (db/client.ts `claimsSource`, whose `s` it depends
 * on): public.table_allows() (migration 0020) is true only while the caller may `op` the table and
 * its schema is still at the version the parameter `known` holds, and leaves the grant the table's
 * policies read. False says nothing more: the checked path finds out why.
 */
export const allowsText = (op: TableOp, table: string, known: string) =>
  `public.table_allows(case when s.principal then ${table}::bigint end, ${known}, '${op}')`;

interface AccessRow {
  workspace_id: number;
  version: number;
  role: Role | null;
  grid: TablePermission | null;
  fresh: Meta | null;
}

/**
 * The statement behind every table-scoped request: public.table_access() (migration 0009) reads
 * the caller from the transaction's claims and returns no row for a table the caller may not
 * see; the metadata comes back only when the cached copy is stale. (One-statement requests ask
 * public.table_allows() instead: `allowsText`.)
 */
function accessQuery(tx: Tx, tableId: number) {
  const cached = metaCache.get(tableId);
  const query = tx<AccessRow[]>`select * from public.table_access(${tableId}, ${cached?.version ?? -1})`;
  return { query, cached };
}

type Cached = ReturnType<typeof metaCache.get>;

/**
 * Turns the access row into the caller's table (404 if absent), refreshing the cache from it if
 * the copy the query was built against was stale; then checks `op`.
 */
function accessGranted(
  p: Principal,
  tableId: number,
  cached: Cached,
  row: AccessRow | undefined,
  op: TableOp,
): TableMeta {
  if (!row || (p.kind === "token" && row.workspace_id !== p.workspaceId)) throw notFound(`table ${tableId}`);
  let meta = cached?.meta;
  if (row.fresh) {
    meta = row.fresh;
    if (metaCache.size >= META_CACHE_MAX) metaCache.delete(metaCache.keys().next().value!);
    metaCache.set(tableId, { version: row.version, meta });
  }
  // Callers may add columns to their copy (table creation); the cached entry stays as read.
  const table: TableMeta = { ...meta!, columns: [...meta!.columns], permissions: permissionsFor(p, row) };
  assertAllowed(p, table, op);
  return table;
}

/**
 * Why a caller has no access row for a table: a workspace token whose grid has no row for a table
 * of its own workspace lacks permission (403, as the seed says); a table of another workspace, or
 * none at all, does not exist for the caller (404, revealing nothing). Only on this refusal path
 * is the table looked up as the system.
 */
async function unseen(p: Principal, tableId: number): Promise<HttpError> {
  if (p.kind === "token") {
    const [t] = await sql<{ workspace_id: number }[]>`
      select workspace_id from public.app_tables where id = ${tableId}`;
    if (t?.workspace_id === p.workspaceId) {
      return forbidden(`This ${p.tokenType} token has no permission on table ${tableId}: its grid has no row for it`);
    }
  }
  return notFound(`table ${tableId}`);
}

/** Loads a table the caller can see (404 otherwise) and checks `op` (403 with what is missing). */
export async function loadTable(tx: Tx, p: Principal, tableId: number, op: TableOp): Promise<TableMeta> {
  const { query, cached } = accessQuery(tx, tableId);
  const [row] = await query;
  if (!row) throw await unseen(p, tableId);
  return accessGranted(p, tableId, cached, row, op);
}

function allows(p: Principal, g: TablePermission, op: TableOp): boolean {
  switch (op) {
    case "see":
      return true;
    case "read":
      // Without can_read_all a token still reads the records it created (RLS narrows the rows).
      return g.can_read_all || (p.kind === "token" && (g.can_create || g.can_edit || g.can_delete));
    case "create":
      return g.can_create;
    case "edit":
      return g.can_edit;
    case "delete":
      return g.can_delete;
    case "schema":
      return g.can_edit && (p.kind === "user" || p.tokenType !== "user_mcp");
    case "drop":
      return g.can_delete && (p.kind === "user" || p.tokenType !== "user_mcp");
  }
}

export function assertAllowed(p: Principal, table: TableMeta, op: TableOp) {
  const ok = allows(p, table.permissions, op);
  if (ok) return;
  const what = {
    see: "see",
    read: "read records of",
    create: "create records in",
    edit: "edit records of",
    delete: "delete records of",
    schema: "change the schema of",
    drop: "delete",
  }[op];
  const who = p.kind === "token" ? `this ${p.tokenType} token` : "your role";
  throw forbidden(`Not allowed to ${what} table ${table.id} with ${who}`);
}

/** Finds a column by `col_<id>`, id, or name (case-insensitive). */
export function findColumn(table: TableShape, key: string | number): Column | undefined {
  const s = String(key);
  const m = /^(?:col_)?(\d+)$/.exec(s);
  if (m) {
    const byId = table.columns.find((c) => c.id === Number(m[1]));
    if (byId) return byId;
  }
  const lower = s.toLowerCase();
  return table.columns.find((c) => c.name.toLowerCase() === lower);
}

export function requireColumn(table: TableMeta, key: string | number, where = "column"): Column {
  const column = findColumn(table, key);
  if (!column) {
    const known = table.columns.slice(0, 20).map((c) => `${c.name} (col_${c.id})`).join(", ");
    throw badRequest(`Unknown ${where} '${key}' in table ${table.id}; columns are: ${known || "none"}`);
  }
  return column;
}

export const colKey = (c: Pick<Column, "id">) => `col_${c.id}`;

/** Runs `fn` as the caller, in one transaction, on a table the caller may `op`. */
export function withTable<T>(p: Principal, tableId: number, op: TableOp, fn: (tx: Tx, t: TableMeta) => Promise<T>) {
  return asPrincipal(claimsText(p), async (tx) => fn(tx, await loadTable(tx, p, tableId, op)));
}
