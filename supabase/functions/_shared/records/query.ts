// Listing records: filters, multi-column sort, projection, offset or keyset (cursor) paging, count.
// The cursor carries the last row's sort values, so any depth costs the same as the first page.
import type { Fragment } from "postgres";
import type { Column } from "../columns/type.ts";
import type { Tx } from "../db/client.ts";
import { badRequest } from "../http/errors.ts";
import type { TableMeta, TableShape } from "../tables/meta.ts";
import { compileFilter, type Field, type FilterNode, resolveField } from "./filters.ts";
import { type ApiRecord, toApiRecord } from "./values.ts";

export interface SortKey {
  field: string;
  desc: boolean;
}

export interface ListQuery {
  filter?: FilterNode;
  sort?: SortKey[];
  fields?: string[];
  limit: number;
  offset?: number;
  cursor?: string;
  count?: boolean;
}

export interface ListResult {
  records: ApiRecord[];
  next_cursor: string | null;
  count?: number;
}

export function parseSort(raw: string | undefined): SortKey[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  return raw.split(",").map((s) => s.trim()).filter(Boolean).map((s) =>
    s.startsWith("-") ? { field: s.slice(1), desc: true } : { field: s.replace(/^\+/, ""), desc: false }
  );
}

interface ResolvedSort {
  field: Field;
  desc: boolean;
}

function resolveSort(table: TableMeta, sort: SortKey[] | undefined): ResolvedSort[] {
  const keys = (sort ?? []).map((s) => {
    const field = resolveField(table, s.field);
    if (!field.sortable) throw badRequest(`Cannot sort on '${field.label}' (${field.column?.type ?? field.kind})`);
    return { field, desc: s.desc };
  });
  if (keys.length > 5) throw badRequest("sort: at most 5 keys");
  if (!keys.some((k) => k.field.sqlName === "id")) keys.push({ field: resolveField(table, "id"), desc: false });
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Cursor: base64url JSON { s: the sort it belongs to, v: the last row's sort values }
// ---------------------------------------------------------------------------------------------
const sortSignature = (keys: ResolvedSort[]) => keys.map((k) => `${k.desc ? "-" : ""}${k.field.sqlName}`).join(",");

/** A sort value as the cursor keeps it: timestamps at full (microsecond) precision, as text. */
const cursorAlias = (i: number) => `__cursor_${i}`;

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function unbase64url(b64: string): string {
  const binary = atob(b64.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

function encodeCursor(keys: ResolvedSort[], row: Record<string, unknown>): string {
  const v = keys.map((k, i) => {
    const x = k.field.pgType === "timestamptz" ? row[cursorAlias(i)] : row[k.field.sqlName];
    return x instanceof Date ? x.toISOString() : x ?? null;
  });
  return base64url(JSON.stringify({ s: sortSignature(keys), v }));
}

const TIMESTAMP =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$/;
const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** Whether a cursor value can be the sort key's (a damaged or forged cursor is a 400, not a 500). */
function fits(value: unknown, pgType: string): boolean {
  if (value === null) return true;
  switch (pgType) {
    case "bigint":
      return Number.isSafeInteger(value);
    case "double precision":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "timestamptz":
      return typeof value === "string" && TIMESTAMP.test(value);
    case "date":
      return typeof value === "string" && DAY.test(value);
    default:
      return typeof value === "string" && !value.includes("\u0000");
  }
}

function decodeCursor(keys: ResolvedSort[], cursor: string): unknown[] {
  try {
    const json = JSON.parse(unbase64url(cursor));
    if (json.s !== sortSignature(keys) || !Array.isArray(json.v) || json.v.length !== keys.length) {
      throw new Error("mismatch");
    }
    if (!keys.every((k, i) => fits(json.v[i], k.field.pgType))) throw new Error("values");
    return json.v;
  } catch {
    throw badRequest("cursor: not a cursor of this query (it belongs to another sort, or is damaged)");
  }
}

/**
 * Rows after the cursor in (k1 dir1 nulls…, k2 …, id) order. Ascending keys sort nulls last and
 * descending ones nulls first, as Postgres does by default.
 */
function afterCursor(tx: Tx, keys: ResolvedSort[], values: unknown[]): Fragment {
  // Sent as text and cast in SQL: a parameter typed timestamptz would go through a JS Date (ms).
  const typed = (i: number) => tx`${String(values[i])}::text::${tx.unsafe(keys[i].field.pgType)}`;
  const col = (i: number) => tx(keys[i].field.sqlName);
  // System fields are never null: plain comparisons, which the primary key index can serve.
  const nullable = (i: number) => keys[i].field.column !== undefined;
  const after = (i: number): Fragment => {
    const isNull = values[i] === null;
    if (keys[i].desc) return isNull ? tx`${col(i)} is not null` : tx`${col(i)} < ${typed(i)}`;
    if (isNull) return tx`false`;
    return nullable(i) ? tx`(${col(i)} > ${typed(i)} or ${col(i)} is null)` : tx`${col(i)} > ${typed(i)}`;
  };
  const same = (i: number) => values[i] === null ? tx`${col(i)} is null` : tx`${col(i)} = ${typed(i)}`;
  // A single ascending id key is the common case: a plain range on the primary key.
  if (keys.length === 1) return after(0);
  let chain = after(keys.length - 1);
  for (let i = keys.length - 2; i >= 0; i--) chain = tx`(${after(i)} or (${same(i)} and ${chain}))`;
  return chain;
}

function orderBy(tx: Tx, keys: ResolvedSort[]): Fragment {
  return keys
    .map((k) => k.desc ? tx`${tx(k.field.sqlName)} desc nulls first` : tx`${tx(k.field.sqlName)} asc nulls last`)
    .reduce((acc, f, i) => (i === 0 ? f : tx`${acc}, ${f}`));
}

export function projection(table: TableShape, fields: string[] | undefined): Column[] {
  const stored = table.columns.filter((c) => c.pg_type !== null);
  if (!fields) return stored;
  return fields.map((f) => {
    const field = resolveField(table, f);
    if (!field.column) throw badRequest(`fields: '${f}' is not a column`);
    return field.column;
  });
}

/** The physical columns a record is read from: system fields, then `columns`. */
export const recordColumnNames = (columns: Column[]) =>
  ["id", "created_at", "updated_at", "created_by", "created_by_token"].concat(columns.map((c) => `col_${c.id}`));

export function selectList(tx: Tx, columns: Column[]): Fragment {
  return tx`${tx(recordColumnNames(columns))}`;
}

export async function listRecords(tx: Tx, table: TableMeta, q: ListQuery): Promise<ListResult> {
  if (q.cursor !== undefined && q.offset !== undefined) throw badRequest("Use either cursor or offset, not both");
  const keys = resolveSort(table, q.sort);
  const columns = projection(table, q.fields);
  const where = compileFilter(tx, table, q.filter);
  const keyset = q.cursor ? afterCursor(tx, keys, decodeCursor(keys, q.cursor)) : tx`true`;
  // Sort keys outside the projection are still read, for the cursor.
  const extra = keys.map((k) => k.field.column).filter((c): c is Column => !!c && !columns.includes(c));
  const t = tx("public." + table.pg_table_name);

  // Timestamps are read again as text for the cursor: a Date keeps milliseconds, Postgres micro.
  const exact = keys.reduce(
    (acc, k, i) =>
      k.field.pgType === "timestamptz" ? tx`${acc}, ${tx(k.field.sqlName)}::text as ${tx(cursorAlias(i))}` : acc,
    tx``,
  );
  const rowsQuery = tx<Record<string, unknown>[]>`
    select ${selectList(tx, [...columns, ...extra])} ${exact} from ${t}
    where (${where}) and ${keyset}
    order by ${orderBy(tx, keys)}
    limit ${q.limit + 1} offset ${q.offset ?? 0}`;
  const countQuery = q.count ? tx<{ n: number }[]>`select count(*)::int as n from ${t} where (${where})` : null;
  const [rows, counted] = await Promise.all([rowsQuery, countQuery]);

  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  return {
    records: page.map((r) => toApiRecord(table, r, columns)),
    next_cursor: more ? encodeCursor(keys, page[page.length - 1]) : null,
    ...(counted ? { count: counted[0].n } : {}),
  };
}
