// Records: one row of a user table. Every write is one statement for the whole batch (rows go to
// Postgres as one JSON document and come out typed by jsonb_populate_recordset).
import type { Fragment } from "postgres";
import type { Principal } from "../auth/principal.ts";
import { typeOf } from "../columns/registry.ts";
import type { Column } from "../columns/type.ts";
import { CellError } from "../columns/type.ts";
import type { Tx } from "../db/client.ts";
import { HttpError, notFound } from "../http/errors.ts";
import { allowsText, colKey, peekTableVersion, type TableMeta, type TableShape, withTable } from "../tables/meta.ts";
import { claimsText } from "../auth/principal.ts";
import { claimsSource, principalPool, principalSql } from "../db/client.ts";
import { type ListQuery, listRecords, type ListResult, projection, recordColumnNames, selectList } from "./query.ts";
import {
  type ApiRecord,
  checkReferences,
  type CoerceOptions,
  coerceRow,
  type StoredRow,
  toApiRecord,
} from "./values.ts";

export interface WriteOptions {
  /** MCP writes drop columns flagged ai_populates: false. */
  stripAiOwned?: boolean;
}

export interface IndexedError {
  index: number;
  error: { message: string; code: string };
}

const rowError = (index: number, message: string): IndexedError => ({
  index,
  error: { message, code: "validation_failed" },
});

function join(tx: Tx, parts: Fragment[], sep: Fragment): Fragment {
  return parts.reduce((acc, f, i) => (i === 0 ? f : tx`${acc}${sep}${f}`), tx``);
}

const tableRef = (tx: Tx, table: Pick<TableMeta, "pg_table_name">) => tx("public." + table.pg_table_name);

// ---------------------------------------------------------------------------------------------
// Validation of many rows: coercion per row, then reference checks per column
// ---------------------------------------------------------------------------------------------
async function validateRows(tx: Tx, table: TableMeta, inputs: unknown[], opts: CoerceOptions) {
  const errors: IndexedError[] = [];
  const rows: (StoredRow | null)[] = [];
  const stripped = new Set<string>();
  inputs.forEach((input, index) => {
    try {
      const { values, stripped: s } = coerceRow(table, input, opts);
      s.forEach((k) => stripped.add(k));
      rows.push(values);
    } catch (e) {
      if (!(e instanceof CellError)) throw e;
      errors.push(rowError(index, e.message));
      rows.push(null);
    }
  });
  for (const [index, message] of await checkReferences(tx, table, rows)) {
    errors.push(rowError(index, message));
    rows[index] = null;
  }
  errors.sort((a, b) => a.index - b.index);
  return { rows, errors, stripped: [...stripped] };
}

function failBatch(errors: IndexedError[], total: number): never {
  const first = errors[0];
  const message = total === 1
    ? first.error.message
    : `${errors.length} of ${total} rows are invalid; first, row ${first.index}: ${first.error.message}`;
  throw new HttpError(400, "validation_failed", message, {}, errors);
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------
/**
 * SQL text built once per shape (table, columns, principal kind) rather than from tagged-template
 * fragments on every request: each fragment is a postgres.js query object, and building a create
 * that way was a fifth of its JavaScript. Parameters carry everything else; a schema change makes
 * new shapes and the old ones age out.
 */
const texts = new Map<string, string>();
const TEXTS_MAX = 2_000;

function cachedText(key: string, build: () => string): string {
  let text = texts.get(key);
  if (text === undefined) {
    text = build();
    if (texts.size >= TEXTS_MAX) texts.delete(texts.keys().next().value!);
    texts.set(key, text);
  }
  return text;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The insert of `rows`. With `guard`, a one-statement request for principalSql (claims first, see
 * `claimsSource`) that inserts nothing unless the caller may create in the table and its schema is
 * still at `guard.version`.
 */
function insertStatement(p: Principal, table: TableShape, rows: StoredRow[], guard?: { version: number }) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const returned = recordColumnNames(projection(table, undefined));
  const text = cachedText(`insert:${table.pg_table_name}:${keys}:${returned}:${guard ? "guarded" : ""}`, () => {
    const t = `public.${ident(table.pg_table_name)}`;
    const [by, token, json] = guard ? ["$2", "$3", "$4"] : ["$1", "$2", "$3"];
    // Guarded: the claims, the check, then the rows, each laterally on the one before (a check in
    // WHERE would be pushed into the claims' subquery and run before them).
    const rows = guard
      ? `${claimsSource("$1")} cross join lateral ${allowsText("create", "$5", "$6")} a(ok) cross join lateral
         jsonb_populate_recordset(null::${t}, case when a.ok then ${json}::text::jsonb end) p`
      : `jsonb_populate_recordset(null::${t}, ${json}::text::jsonb) p`;
    return `insert into ${t} (created_by, created_by_token${keys.map((k) => `, ${ident(k)}`).join("")})
      select ${by}::uuid, ${token}::bigint${keys.map((k) => `, p.${ident(k)}`).join("")}
      from ${rows}
      returning ${returned.map(ident).join(", ")}`;
  });
  const params = [
    ...(guard ? [claimsText(p)] : []),
    p.kind === "user" ? p.userId : p.createdBy,
    p.kind === "token" ? p.tokenId : null,
    JSON.stringify(rows),
    ...(guard ? [table.id, guard.version] : []),
  ];
  return { text, params };
}

/**
 * GET /records/:id's one statement, on the principal pool: the claims, the access check and the
 * record, each depending laterally on the one before it, so they run in that order (the OFFSET
 * keeps the record's subquery from being flattened into the join). Always one row: `principal`
 * false means the session was not `authenticated` and nothing ran; `ok` false, that the caller
 * may not read the table or the cached schema is stale. The check is `see`: any right on a table
 * reads records (RLS narrows a token without can_read_all to the records it created).
 */
function guardedReadText(table: TableShape, columns: Column[]): string {
  return `select s.principal, a.ok, r.* from ${claimsSource("$1")}
    left join lateral ${allowsText("see", "$2", "$3")} a(ok) on true
    left join lateral (
      select ${recordColumnNames(columns).map(ident).join(", ")} from public.${ident(table.pg_table_name)}
      where id = $4 and a.ok offset 0) r on true`;
}

/** The read statement and its columns per cached table shape and `fields=` (null: a field unknown to the shape). */
const readStatements = new WeakMap<TableShape, Map<string, { columns: Column[]; text: string } | null>>();

export function readStatement(table: TableShape, fields: string[] | undefined) {
  let byFields = readStatements.get(table);
  if (!byFields) readStatements.set(table, byFields = new Map());
  const key = fields ? fields.join("\0") : "";
  let statement = byFields.get(key);
  if (statement === undefined) {
    try {
      const columns = projection(table, fields);
      statement = { columns, text: guardedReadText(table, columns) };
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      statement = null; // the checked path says what is wrong, against current metadata
    }
    if (byFields.size < 64) byFields.set(key, statement);
  }
  return statement;
}

/**
 * What the one-statement paths did: answered the request, or handed it to the checked path
 * (refused, stale metadata, a failed statement). A fast path that silently always hands over is
 * still correct, only slow; tests watch these to see it answer.
 */
export const oneStatement = { answered: 0, handedOver: 0 };

/** Identity values are drawn in insertion order, so id order is input order. */
const inInputOrder = (table: TableShape, inserted: Record<string, unknown>[]) =>
  inserted.sort((a, b) => (a.id as number) - (b.id as number)).map((r) => toApiRecord(table, r));

async function insertRows(tx: Tx, p: Principal, table: TableMeta, rows: StoredRow[]) {
  const { text, params } = insertStatement(p, table, rows);
  return inInputOrder(table, await tx.unsafe<Record<string, unknown>[]>(text, params, { prepare: true }));
}

/**
 * One record. With the table's metadata cached and no references to check, the row is coerced
 * against the cache and inserted by a statement that refuses itself (inserts nothing) unless the
 * caller may create in the table and its schema is still the cached version, sent alone on the
 * principal pool: one statement in its own implicit transaction. If nothing was inserted (refused,
 * stale cache) or the statement failed, nothing was written and the checked path runs (and
 * reports any error against the current schema).
 */
export async function createRecord(p: Principal, tableId: number, rowData: unknown, opts: WriteOptions = {}) {
  const cached = peekTableVersion(tableId);
  const guess = cached?.meta;
  const coerced = guess && tryCoerce(guess, rowData, opts);
  if (cached && guess && coerced && principalPool.usable) {
    try {
      const { text, params } = insertStatement(p, guess, [coerced.values], { version: cached.version });
      const inserted = await principalSql.unsafe<Record<string, unknown>[]>(text, params, { prepare: true });
      if (inserted.length === 1) {
        oneStatement.answered++;
        return { record: inInputOrder(guess, inserted)[0], stripped: coerced.stripped };
      }
    } catch (e) {
      // The statement failed, so its implicit transaction rolled back: nothing was written, and
      // the checked path reports the error. Anything else (a lost connection) may have written
      // the row: retrying could create it twice, so it surfaces.
      if ((e as { name?: string }).name !== "PostgresError") throw e;
    }
    oneStatement.handedOver++;
  }
  return await withTable(p, tableId, "create", async (tx, table) => {
    const { rows, errors, stripped } = await validateRows(tx, table, [rowData], { mode: "create", ...opts });
    if (errors.length > 0) failBatch(errors, 1);
    const [record] = await insertRows(tx, p, table, rows as StoredRow[]);
    return { record, stripped };
  });
}

/** The row coerced against cached metadata, if that needs no database lookups; else null. */
function tryCoerce(table: TableShape, rowData: unknown, opts: WriteOptions) {
  try {
    const coerced = coerceRow(table, rowData, { mode: "create", ...opts });
    const needsLookup = table.columns.some((c) => {
      const v = coerced.values[colKey(c)];
      return typeOf(c.type).references && Array.isArray(v) && v.length > 0;
    });
    return needsLookup ? null : coerced;
  } catch (e) {
    if (e instanceof CellError) return null; // reported by the checked path, against fresh metadata
    throw e;
  }
}

export interface BatchCreateResult {
  records: ApiRecord[];
  created: { index: number; id: number }[];
  errors: IndexedError[];
  stripped: string[];
}

export function createRecords(
  p: Principal,
  tableId: number,
  inputs: unknown[],
  atomic: boolean,
  opts: WriteOptions = {},
): Promise<BatchCreateResult> {
  return withTable(p, tableId, "create", async (tx, table) => {
    const { rows, errors, stripped } = await validateRows(tx, table, inputs, { mode: "create", ...opts });
    if (errors.length > 0 && (atomic || errors.length === inputs.length)) failBatch(errors, inputs.length);
    const indexes = rows.flatMap((r, i) => (r ? [i] : []));
    const records = indexes.length > 0 ? await insertRows(tx, p, table, indexes.map((i) => rows[i]!)) : [];
    return { records, created: records.map((r, k) => ({ index: indexes[k], id: r.id })), errors, stripped };
  });
}

// ---------------------------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------------------------
/**
 * One record. With the table's metadata cached, the row is read on the principal pool in one
 * statement with the claims and the permission and schema-version check (RLS guards the row
 * either way). If the check finds the cache stale, or the read fails because the schema moved, it
 * runs again checked.
 */
export async function getRecord(p: Principal, tableId: number, recordId: number, fields?: string[]) {
  const cached = peekTableVersion(tableId);
  const statement = cached && principalPool.usable ? readStatement(cached.meta, fields) : null;
  if (cached && statement) {
    const [row] = await principalSql.unsafe<({ principal: boolean; ok: boolean | null } & Record<string, unknown>)[]>(
      statement.text,
      [claimsText(p), tableId, cached.version, recordId],
      { prepare: true },
    ).catch(() => []); // the schema moved under the cached statement: the checked path reads it
    if (row && !row.principal) principalPool.refused();
    else if (row?.ok) {
      oneStatement.answered++;
      if (row.id === null) throw notFound(`record ${recordId} in table ${tableId}`);
      return toApiRecord(cached.meta, row, statement.columns);
    }
    oneStatement.handedOver++;
  }
  return await withTable(p, tableId, "read", async (tx, table) => {
    const columns = projection(table, fields);
    const [row] = await tx<Record<string, unknown>[]>`
      select ${selectList(tx, columns)} from ${tableRef(tx, table)} where id = ${recordId}`;
    if (!row) throw notFound(`record ${recordId} in table ${tableId}`);
    return toApiRecord(table, row, columns);
  });
}

export function queryRecords(p: Principal, tableId: number, q: ListQuery): Promise<ListResult> {
  return withTable(p, tableId, "read", (tx, table) => listRecords(tx, table, q));
}

// ---------------------------------------------------------------------------------------------
// Update (merge) and delete
// ---------------------------------------------------------------------------------------------
async function updateRows(tx: Tx, table: TableMeta, rows: { id: number; values: StoredRow }[]) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  const columns = projection(table, undefined);
  const t = tableRef(tx, table);
  const json = JSON.stringify(rows.map((r) => ({ id: r.id, v: r.values })));
  if (keys.length === 0) {
    // Nothing to change: still a write (updated_at moves), as a client that PATCHes {} expects.
    return await tx<Record<string, unknown>[]>`
      update ${t} set updated_at = now() where id = any(${rows.map((r) => r.id)}::bigint[])
      returning ${selectList(tx, columns)}`;
  }
  // Merge: each row's JSON is laid over the current row (jsonb_populate_record with the row as
  // base), so a key one row of the batch leaves out keeps its value there.
  const cols = join(tx, keys.map((k) => tx`${tx(k)}`), tx`, `);
  const picked = join(tx, keys.map((k) => tx`p.${tx(k)}`), tx`, `);
  const set = keys.length === 1
    ? tx`${cols} = (select ${picked} from jsonb_populate_record(r, x.value -> 'v') p)`
    : tx`(${cols}) = (select ${picked} from jsonb_populate_record(r, x.value -> 'v') p)`;
  const returned = ["id", "created_at", "updated_at", "created_by", "created_by_token", ...columns.map(colKey)];
  return await tx<Record<string, unknown>[]>`
    update ${t} as r set ${set}
    from jsonb_array_elements(${json}::text::jsonb) x
    where r.id = (x.value ->> 'id')::bigint and r.id = any(${rows.map((r) => r.id)}::bigint[])
    returning ${join(tx, returned.map((n) => tx`r.${tx(n)}`), tx`, `)}`;
}

export function updateRecord(
  p: Principal,
  tableId: number,
  recordId: number,
  rowData: unknown,
  opts: WriteOptions = {},
) {
  return withTable(p, tableId, "edit", async (tx, table) => {
    const { rows, errors, stripped } = await validateRows(tx, table, [rowData], { mode: "update", ...opts });
    if (errors.length > 0) failBatch(errors, 1);
    const [row] = await updateRows(tx, table, [{ id: recordId, values: rows[0]! }]);
    if (!row) throw notFound(`record ${recordId} in table ${tableId}`);
    return { record: toApiRecord(table, row), stripped };
  });
}

export function updateRecords(
  p: Principal,
  tableId: number,
  inputs: { id: number; row_data: unknown }[],
  atomic: boolean,
) {
  return withTable(p, tableId, "edit", async (tx, table) => {
    const { rows, errors } = await validateRows(tx, table, inputs.map((i) => i.row_data), { mode: "update" });
    const seen = new Set<number>();
    inputs.forEach((input, index) => {
      if (seen.has(input.id) && rows[index]) {
        errors.push(rowError(index, `record ${input.id} appears twice in the batch`));
        rows[index] = null;
      }
      seen.add(input.id);
    });
    if (errors.length > 0 && (atomic || errors.length === inputs.length)) failBatch(errors, inputs.length);
    const indexes = rows.flatMap((r, i) => (r ? [i] : []));
    const updated = await updateRows(tx, table, indexes.map((i) => ({ id: inputs[i].id, values: rows[i]! })));
    const byId = new Map(updated.map((r) => [r.id as number, r]));
    const records: ApiRecord[] = [];
    for (const i of indexes) {
      const row = byId.get(inputs[i].id);
      if (row) records.push(toApiRecord(table, row));
      else errors.push({ index: i, error: { message: `No rows found: record ${inputs[i].id}`, code: "PGRST116" } });
    }
    if (atomic && errors.length > 0) failBatch(errors.sort((a, b) => a.index - b.index), inputs.length);
    return { records, errors: errors.sort((a, b) => a.index - b.index) };
  });
}

export function deleteRecords(p: Principal, tableId: number, ids: number[], atomic: boolean) {
  return withTable(p, tableId, "delete", async (tx, table) => {
    const rows = await tx<{ id: number }[]>`
      delete from ${tableRef(tx, table)} where id = any(${ids}::bigint[]) returning id`;
    const deleted = new Set(rows.map((r) => r.id));
    const errors = ids.flatMap((id, index) =>
      deleted.has(id) ? [] : [{ index, error: { message: `No rows found: record ${id}`, code: "PGRST116" } }]
    );
    if (errors.length > 0 && (atomic || ids.length === 1)) {
      if (ids.length === 1) throw notFound(`record ${ids[0]} in table ${tableId}`);
      throw new HttpError(
        400,
        "validation_failed",
        `${errors.length} of ${ids.length} records do not exist`,
        {},
        errors,
      );
    }
    return { deleted_ids: ids.filter((id) => deleted.has(id)), errors };
  });
}
