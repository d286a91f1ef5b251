// Row data in and out: API values (keyed by col_<id> or name) ↔ stored values, with every error
// naming its column, and the cross-row checks (workspace users, related rows) done per column.
import { typeOf } from "../columns/registry.ts";
import { CellError, type Column } from "../columns/type.ts";
import type { Tx } from "../db/client.ts";
import { colKey, findColumn, type TableMeta, type TableShape } from "../tables/meta.ts";

export type StoredRow = Record<string, unknown>;

export interface RowError {
  message: string;
  code: "validation_failed";
}

const isEmpty = (v: unknown) => v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);

export interface CoerceOptions {
  mode: "create" | "update";
  /** Drop columns flagged ai_populates: false (MCP writes); their keys are reported back. */
  stripAiOwned?: boolean;
}

export interface CoercedRow {
  values: StoredRow;
  stripped: string[];
}

/** Validates one row_data object. Throws CellError("<column>: why") on the first problem. */
export function coerceRow(table: TableShape, rowData: unknown, opts: CoerceOptions): CoercedRow {
  if (typeof rowData !== "object" || rowData === null || Array.isArray(rowData)) {
    throw new CellError("row_data must be an object of column → value");
  }
  const values: StoredRow = {};
  const stripped: string[] = [];
  const seen = new Set<number>();
  for (const [key, raw] of Object.entries(rowData)) {
    const column = findColumn(table, key);
    if (!column) throw new CellError(`unknown column '${key}'`);
    if (seen.has(column.id)) throw new CellError(`column '${column.name}' is given twice`);
    seen.add(column.id);
    const impl = typeOf(column.type);
    if (!impl.writable || column.pg_type === null) {
      throw new CellError(`column '${column.name}' is computed by the table and cannot be written`);
    }
    if (opts.stripAiOwned && !column.ai_populates) {
      stripped.push(column.name);
      continue;
    }
    if (isEmpty(raw)) {
      if (column.required) throw new CellError(`column '${column.name}' is required`);
      values[colKey(column)] = null;
      continue;
    }
    try {
      values[colKey(column)] = impl.coerce(raw, column);
    } catch (e) {
      if (e instanceof CellError) throw new CellError(`column '${column.name}': ${e.message}`);
      throw e;
    }
  }
  if (opts.mode === "create") {
    for (const column of table.columns) {
      if (seen.has(column.id) || column.pg_type === null || !typeOf(column.type).writable) continue;
      if (column.default_value !== null && column.default_value !== undefined) {
        values[colKey(column)] = column.default_value;
      } else if (column.required) {
        throw new CellError(`column '${column.name}' is required`);
      }
    }
  }
  return { values, stripped };
}

/**
 * Checks references across many rows with one query per column: users must be members of the
 * workspace, related rows must exist (and be visible to the caller). Returns the index → error of
 * rows that fail.
 */
export async function checkReferences(
  tx: Tx,
  table: TableMeta,
  rows: (StoredRow | null)[],
): Promise<Map<number, string>> {
  const errors = new Map<number, string>();
  for (const column of table.columns) {
    const refs = typeOf(column.type).references;
    if (!refs) continue;
    const key = colKey(column);
    const all = new Set<string | number>();
    rows.forEach((r) => (r?.[key] as (string | number)[] | null | undefined)?.forEach((v) => all.add(v)));
    if (all.size === 0) continue;
    const found = new Set<string | number>(
      refs.kind === "workspace_users"
        ? (await tx<{ id: string }[]>`
            select user_id::text as id from public.workspace_members
            where workspace_id = ${table.workspace_id} and user_id = any(${[...all]}::uuid[])`).map((r) => r.id)
        : await existingRows(tx, table, column, [...all] as number[]),
    );
    rows.forEach((r, i) => {
      if (!r || errors.has(i)) return;
      const missing = ((r[key] as (string | number)[] | null) ?? []).filter((v) => !found.has(v));
      if (missing.length > 0) {
        errors.set(
          i,
          refs.kind === "workspace_users"
            ? `column '${column.name}': ${missing.join(", ")} ${
              missing.length > 1 ? "are not members" : "is not a member"
            } of this workspace`
            : `column '${column.name}': no record ${missing.join(", ")} in table ${column.config.relationTableId}`,
        );
      }
    });
  }
  return errors;
}

async function existingRows(tx: Tx, table: TableMeta, column: Column, ids: number[]): Promise<number[]> {
  const [target] = await tx<{ pg_table_name: string }[]>`
    select pg_table_name from public.app_tables
    where id = ${Number(column.config.relationTableId)} and workspace_id = ${table.workspace_id}`;
  if (!target) return [];
  const rows = await tx<{ id: number }[]>`select id from ${
    tx("public." + target.pg_table_name)
  } where id = any(${ids}::bigint[])`;
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// Out
// ---------------------------------------------------------------------------------------------
export interface ApiRecord {
  id: number;
  row_data: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  created_by: string | null;
  created_by_token?: number | null;
}

/** A physical row → the API shape; `only` limits row_data to some columns (fields=). */
export function toApiRecord(table: TableShape, row: Record<string, unknown>, only?: Column[]): ApiRecord {
  const row_data: Record<string, unknown> = {};
  for (const column of only ?? table.columns) {
    if (column.pg_type === null) continue;
    const key = colKey(column);
    if (key in row) row_data[key] = typeOf(column.type).serialize(row[key], column);
  }
  return {
    id: row.id as number,
    row_data,
    created_at: row.created_at as string,
    updated_at: row.updated_at as string,
    created_by: (row.created_by as string | null) ?? null,
    ...(row.created_by_token ? { created_by_token: row.created_by_token as number } : {}),
  };
}
