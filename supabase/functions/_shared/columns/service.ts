// Columns: metadata rows in app_columns whose physical col_<id> follows them (a database trigger
// adds, drops and indexes it). Type changes convert stored values here, or are refused.
import type { Principal } from "../auth/principal.ts";
import type { Tx } from "../db/client.ts";
import { asOwner, sql } from "../db/client.ts";
import { badRequest, conflict, notFound } from "../http/errors.ts";
import { findColumn, type TableMeta, withTable } from "../tables/meta.ts";
import { scrubColumnFromViews } from "../views/service.ts";
import { convertColumn } from "./convert.ts";
import { type ColumnType, registry, typeOf } from "./registry.ts";
import { type ColumnInput, parseColumnBody } from "./schemas.ts";
import { checkEngineConfig } from "../engine/safety.ts";
import { checkActionConfig } from "../integrations/column.ts";
import { hasSecrets, seal, storeSecrets } from "../integrations/secrets.ts";
import { CellError, type Column } from "./type.ts";

const COLUMN_FIELDS = `id, table_id, name, type, position, required, options, config, default_value, ai_populates,
  ai_purpose, pg_type, created_at, updated_at`;

/** The API shape: common fields, then the type's settings flat (camelCase), as in the seed. */
export function toApiColumn(c: Column) {
  const impl = typeOf(c.type);
  return {
    id: c.id,
    table_id: c.table_id,
    key: `col_${c.id}`,
    name: c.name,
    type: c.type,
    family: impl.family,
    position: c.position,
    required: c.required,
    ...(impl.hasOptions ? { options: c.options } : {}),
    default: c.default_value ?? null,
    ai_populates: c.ai_populates,
    ai_purpose: c.ai_purpose,
    ...c.config,
    created_at: c.created_at,
    updated_at: c.updated_at,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks shared by create and update
// ---------------------------------------------------------------------------------------------
async function checkConfig(
  tx: Tx,
  table: TableMeta,
  type: ColumnType,
  config: Record<string, unknown>,
  self: { id: number; name: string },
) {
  checkEngineConfig(table, type, config, self);
  if (type === "action") await checkActionConfig(tx, table, config);
  if (type === "rollup") {
    const relation = table.columns.find((c) => c.id === Number(config.rollupRelationColumnId))!;
    const ref = String(config.rollupTargetColumnId);
    const [target] = await tx<{ id: number; type: string }[]>`
      select id, type from public.app_columns
      where table_id = ${Number(relation.config.relationTableId)} and pg_type is not null
        and (id::text = ${ref.replace(/^col_/, "")} or lower(name) = lower(${ref}))
      order by (id::text = ${ref.replace(/^col_/, "")}) desc limit 1`;
    if (!target) throw badRequest(`rollupTargetColumnId: the linked table has no column '${ref}'`);
    const numeric = ["sum", "avg"].includes(String(config.rollupAggregator));
    if (numeric && !["number", "formula", "rollup", "json_parser"].includes(target.type)) {
      throw badRequest(`rollupAggregator: ${config.rollupAggregator} needs a number column, not ${target.type}`);
    }
    config.rollupTargetColumnId = target.id;
  }
  if ("targetTableId" in config) {
    const target = Number(config.targetTableId);
    const [row] = await tx<{ columns: string[] }[]>`
      select coalesce((select array_agg(lower(c.name)) || array_agg('col_' || c.id) || array_agg(c.id::text)
                       from public.app_columns c where c.table_id = t.id), '{}') as columns
      from public.app_tables t where t.id = ${target} and t.workspace_id = ${table.workspace_id}`;
    if (!row) throw badRequest(`targetTableId: no table ${target} in this workspace`);
    const unknown = Object.keys((config.fieldMappings ?? {}) as Record<string, unknown>)
      .filter((k) => !row.columns.includes(k.toLowerCase()));
    if (unknown.length > 0) throw badRequest(`fieldMappings: table ${target} has no column ${unknown.join(", ")}`);
  }
  if (type === "relation") {
    const target = Number(config.relationTableId);
    const [row] = await tx<{ id: number }[]>`
      select id from public.app_tables where id = ${target} and workspace_id = ${table.workspace_id}`;
    if (!row) throw badRequest(`relationTableId: no table ${target} in this workspace`);
  }
}

async function checkName(tx: Tx, table: TableMeta, name: string, exceptId?: number) {
  const [dup] = await tx<{ id: number }[]>`
    select id from public.app_columns
    where table_id = ${table.id} and lower(name) = lower(${name}) and id <> ${exceptId ?? 0}`;
  if (dup) throw conflict(`Table ${table.id} already has a column named '${name}' (col_${dup.id})`);
}

/** The stored default: coerced like a cell; references are checked when records use it. */
function coerceDefault(value: unknown, column: Column): unknown {
  if (value === null || value === undefined || value === "") return null;
  const impl = typeOf(column.type);
  if (!impl.writable || column.pg_type === null) throw badRequest(`default: ${column.type} columns take no default`);
  if (column.type === "relation") throw badRequest("default: relation columns take no default");
  try {
    return impl.coerce(value, column);
  } catch (e) {
    if (e instanceof CellError) throw badRequest(`default: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------
/** Inserts one column into a table the caller may change (used by POST /columns and POST /tables). */
export async function insertColumn(tx: Tx, table: TableMeta, input: ColumnInput): Promise<Column> {
  const type = input.type!;
  const impl = registry[type];
  await checkConfig(tx, table, type, input.config, { id: 0, name: input.name! });
  await checkName(tx, table, input.name!);
  const sealed = seal(type, input.config);
  input.config = sealed.config;
  const draft: Column = {
    id: 0,
    table_id: table.id,
    name: input.name!,
    type,
    position: input.position ?? 0,
    required: input.required ?? false,
    options: impl.hasOptions ? input.options ?? [] : [],
    config: input.config,
    default_value: null,
    ai_populates: input.ai_populates ?? true,
    ai_purpose: input.ai_purpose ?? null,
    pg_type: impl.pgType(input.config),
  };
  const defaultValue = input.hasDefault ? coerceDefault(input.default, draft) : null;
  const [row] = await tx<Column[]>`
    insert into public.app_columns (table_id, workspace_id, name, type, position, required, options, config,
                                    default_value, ai_populates, ai_purpose, pg_type)
    values (${table.id}, ${table.workspace_id}, ${draft.name}, ${type},
            coalesce(${input.position ?? null}::double precision,
                     (select coalesce(max(position), 0) + 1 from public.app_columns where table_id = ${table.id})),
            ${draft.required}, ${tx.json(draft.options as never)}, ${tx.json(draft.config as never)},
            ${defaultValue === null ? null : JSON.stringify(defaultValue)}::text::jsonb, ${draft.ai_populates},
            ${draft.ai_purpose}, ${draft.pg_type})
    returning ${tx.unsafe(COLUMN_FIELDS)}`;
  if (hasSecrets(type)) await storeSecrets(tx, row.id, table.workspace_id, sealed);
  table.columns.push(row);
  return row;
}

export function createColumn(p: Principal, tableId: number, body: unknown) {
  const input = parseColumnBody(body, "create");
  return withTable(p, tableId, "schema", async (tx, table) => toApiColumn(await insertColumn(tx, table, input)));
}

// ---------------------------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------------------------
export async function listColumns(p: Principal, tableId: number) {
  const columns = await withTable(p, tableId, "see", (_tx, table) => Promise.resolve(table.columns));
  return await withRecompute(tableId, columns);
}

/** Computed columns being recomputed in the background show their progress. */
async function withRecompute(tableId: number, columns: Column[]) {
  const api = columns.map(toApiColumn);
  if (!columns.some((c) => typeOf(c.type).family === "computed")) return api;
  const running = await sql<{ column_id: number; progress: { done: number; total: number | null } }[]>`
    select column_id, progress from public.engine_jobs where table_id = ${tableId} and reason = 'backfill'`;
  return api.map((c) => {
    const job = running.find((r) => r.column_id === c.id);
    return job ? { ...c, recompute: { ...job.progress, running: true } } : c;
  });
}

export async function getColumn(p: Principal, tableId: number, columnId: string | number) {
  const column = await withTable(p, tableId, "see", (_tx, table) => Promise.resolve(columnOf(table, columnId)));
  return (await withRecompute(tableId, [column]))[0];
}

/** A column of the table by id, col_<id> or name (as everywhere else in the API). */
function columnOf(table: TableMeta, key: string | number): Column {
  const column = findColumn(table, key);
  if (!column) throw notFound(`column ${key} in table ${table.id}`);
  return column;
}

// ---------------------------------------------------------------------------------------------
// Update
// ---------------------------------------------------------------------------------------------
export function updateColumn(p: Principal, tableId: number, columnId: string | number, body: unknown) {
  return withTable(p, tableId, "schema", async (tx, table) => {
    const before = columnOf(table, columnId);
    const input = parseColumnBody(body, "update", before.type as ColumnType);
    const type = input.type ?? (before.type as ColumnType);
    const impl = registry[type];
    const typeChanged = type !== before.type;
    if (typeChanged && impl.family !== typeOf(before.type).family) {
      throw badRequest(
        `A ${before.type} column cannot become ${type} (a ${impl.family} column): add a new column instead`,
      );
    }
    const merged = typeChanged ? input.config : { ...before.config, ...input.config };
    await checkConfig(tx, table, type, merged, { id: before.id, name: input.name ?? before.name });
    const sealed = seal(type, merged);
    const config = sealed.config;
    if (hasSecrets(type) || hasSecrets(before.type)) await storeSecrets(tx, before.id, table.workspace_id, sealed);
    if (input.name !== undefined) await checkName(tx, table, input.name, before.id);
    if (input.options && !impl.hasOptions) throw badRequest(`options apply only to select columns, not ${type}`);

    const after: Column = {
      ...before,
      name: input.name ?? before.name,
      type,
      position: input.position ?? before.position,
      required: input.required ?? before.required,
      options: impl.hasOptions ? input.options ?? (typeOf(before.type).hasOptions ? before.options : []) : [],
      config,
      ai_populates: input.ai_populates ?? before.ai_populates,
      ai_purpose: input.ai_purpose === undefined ? before.ai_purpose : input.ai_purpose,
      pg_type: impl.pgType(config),
    };
    // A new type starts without a default unless one is given; a kept type keeps its own.
    after.default_value = input.hasDefault
      ? coerceDefault(input.default, after)
      : typeChanged
      ? null
      : before.default_value;

    if (before.pg_type !== null && after.pg_type !== null) {
      await asOwner(tx, async () => {
        if (
          before.type === "relation" && type === "relation" && before.config.relationTableId !== config.relationTableId
        ) {
          await refuseIfFilled(tx, table, before, "point it at another table");
        }
        await convertColumn(tx, table.pg_table_name, before, after);
        if (impl.hasOptions && typeOf(before.type).hasOptions) await dropRemovedOptions(tx, table, before, after);
      });
    }
    const [row] = await tx<Column[]>`
      update public.app_columns set
        name = ${after.name}, type = ${after.type}, position = ${after.position}, required = ${after.required},
        options = ${tx.json(after.options as never)}, config = ${tx.json(after.config as never)},
        default_value = ${after.default_value === null ? null : JSON.stringify(after.default_value)}::text::jsonb,
        ai_populates = ${after.ai_populates}, ai_purpose = ${after.ai_purpose}, pg_type = ${after.pg_type}
      where id = ${before.id}
      returning ${tx.unsafe(COLUMN_FIELDS)}`;
    return toApiColumn(row);
  });
}

async function refuseIfFilled(tx: Tx, table: TableMeta, column: Column, what: string) {
  const c = tx(`col_${column.id}`);
  const rows = await tx<{ id: number }[]>`
    select id from ${tx("public." + table.pg_table_name)} where ${c} is not null and cardinality(${c}) > 0
    order by id limit 5`;
  if (rows.length > 0) {
    throw badRequest(
      `Cannot ${what} while column '${column.name}' holds links: records ${rows.map((r) => r.id).join(", ")}`,
    );
  }
}

/** Values naming an option that no longer exists are cleared (they would be dangling ids). */
async function dropRemovedOptions(tx: Tx, table: TableMeta, before: Column, after: Column) {
  const kept = new Set(after.options.map((o) => o.id));
  if (before.options.every((o) => kept.has(o.id))) return;
  const ids = [...kept];
  const t = tx("public." + table.pg_table_name);
  const c = tx(`col_${after.id}`);
  if (after.pg_type === "text[]") {
    await tx`update ${t} set ${c} = array(select e from unnest(${c}) e where e = any(${ids}::text[]))
             where not (${c} <@ ${ids}::text[])`;
  } else {
    await tx`update ${t} set ${c} = null where ${c} is not null and ${c} <> all(${ids}::text[])`;
  }
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------
export function deleteColumn(p: Principal, tableId: number, columnId: string | number) {
  return withTable(p, tableId, "schema", async (tx, table) => {
    const column = columnOf(table, columnId);
    await tx`delete from public.app_columns where id = ${column.id}`;
    await scrubColumnFromViews(tx, table, column);
    return { id: column.id, deleted: true };
  });
}
