// Cross-table actions: create_record, update_record (rows matching a filter), delete_record (by
// filter), fetch_records (query another table, stored as JSON). They act as the engine on a
// table of the same workspace; a write to another table enqueues that table's pipeline, carrying
// the chain of records that led to it, so a chain that comes back to one of them stops.
import { CellError, type Column } from "../columns/type.ts";
import { sql } from "../db/client.ts";
import { filterInput, type FilterNode, normaliseFilter } from "../records/filters.ts";
import { compileFilter } from "../records/filters.ts";
import { listRecords } from "../records/query.ts";
import { coerceRow, toApiRecord } from "../records/values.ts";
import type { TableMeta, TableShape } from "../tables/meta.ts";
import { renderValue, type TemplateScope } from "./templates.ts";
import { loadShape } from "./loader.ts";

const ALL: TableMeta["permissions"] = { can_read_all: true, can_create: true, can_edit: true, can_delete: true };

export interface CrossContext {
  workspaceId: number;
  /** "<table>:<record>" of every record the chain has passed through, this one included. */
  chain: string[];
}

async function target(cfg: Record<string, unknown>, ctx: CrossContext): Promise<TableMeta> {
  const shape = await loadShape(sql, Number(cfg.targetTableId));
  if (!shape || shape.workspace_id !== ctx.workspaceId) {
    throw new Error(`targetTableId: table ${cfg.targetTableId} is not in this workspace`);
  }
  return { ...shape, permissions: ALL };
}

function rowData(cfg: Record<string, unknown>, scope: TemplateScope): Record<string, unknown> {
  const mappings = (cfg.fieldMappings ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(mappings).map(([k, v]) => [k, renderValue(v, scope)]));
}

/** The filter with its string values' tags filled in. */
function filterOf(cfg: Record<string, unknown>, scope: TemplateScope): FilterNode | undefined {
  const fill = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(fill);
    if (node && typeof node === "object") {
      const o = node as Record<string, unknown>;
      if ("and" in o || "or" in o) return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fill(v)]));
      return { ...o, value: typeof o.value === "string" ? renderValue(o.value, scope) : o.value };
    }
    return node;
  };
  const parsed = filterInput.safeParse(fill(cfg.filters));
  if (!parsed.success) throw new Error("filters: invalid once its tags are filled in");
  return normaliseFilter(parsed.data);
}

const keyOf = (table: TableShape, id: number) => `${table.id}:${id}`;

export async function runCrossTable(
  column: Column,
  scope: TemplateScope,
  ctx: CrossContext,
): Promise<{ value: unknown; request: unknown; response?: unknown }> {
  const cfg = column.config;
  const table = await target(cfg, ctx);
  const t = sql(`public.${table.pg_table_name}`);
  switch (column.type) {
    case "create_record": {
      const data = rowData(cfg, scope);
      let values;
      try {
        values = coerceRow(table, data, { mode: "create" }).values;
      } catch (e) {
        if (e instanceof CellError) throw new Error(`create_record into ${table.name}: ${e.message}`);
        throw e;
      }
      const created = await sql.begin(async (tx) => {
        await tx`select set_config('aitizer.chain', ${JSON.stringify(ctx.chain)}, true)`;
        const keys = Object.keys(values);
        const [row] = await tx<Record<string, unknown>[]>`
          insert into ${t} ${keys.length ? tx(values as Record<string, unknown>, ...keys) : tx`default values`}
          returning *`;
        return row;
      });
      const record = toApiRecord(table, created);
      return { value: { id: record.id, table_id: table.id }, request: { table_id: table.id, row_data: data } };
    }
    case "update_record": {
      const data = rowData(cfg, scope);
      const filter = filterOf(cfg, scope);
      let values;
      try {
        values = coerceRow(table, data, { mode: "update" }).values;
      } catch (e) {
        if (e instanceof CellError) throw new Error(`update_record in ${table.name}: ${e.message}`);
        throw e;
      }
      if (Object.keys(values).length === 0) throw new Error("update_record: fieldMappings sets nothing");
      const result = await sql.begin(async (tx) => {
        await tx`select set_config('aitizer.chain', ${JSON.stringify(ctx.chain)}, true)`;
        const looped = ctx.chain.filter((k) => k.startsWith(`${table.id}:`)).map((k) => Number(k.split(":")[1]));
        const rows = await tx<{ id: number }[]>`
          update ${t} set ${tx(values as Record<string, unknown>, ...Object.keys(values))}
          where ${compileFilter(tx as never, table, filter)} and not (id = any(${looped}::bigint[]))
          returning id`;
        const skipped = await tx<{ id: number }[]>`
          select id from ${t} where ${compileFilter(tx as never, table, filter)} and id = any(${looped}::bigint[])`;
        return { updated: rows.map((r) => r.id), skipped: skipped.map((r) => r.id) };
      });
      if (result.skipped.length > 0 && result.updated.length === 0) {
        throw new Error(
          `update_record: the chain came back to record${result.skipped.length > 1 ? "s" : ""} ` +
            `${result.skipped.map((id) => keyOf(table, id)).join(", ")}; stopped instead of looping`,
        );
      }
      return {
        value: { updated: result.updated.length, ids: result.updated },
        request: { table_id: table.id, row_data: data, filters: filter ?? null },
      };
    }
    case "delete_record": {
      const filter = filterOf(cfg, scope);
      if (!filter) throw new Error("delete_record: a filter is required (it would delete every row)");
      const rows = await sql.begin(async (tx) =>
        await tx<{ id: number }[]>`delete from ${t} where ${compileFilter(tx as never, table, filter)} returning id`
      );
      return {
        value: { deleted: rows.length, ids: rows.map((r) => r.id) },
        request: { table_id: table.id, filters: filter },
      };
    }
    case "fetch_records": {
      const filter = filterOf(cfg, scope);
      const limit = Math.min(Number(cfg.fetchLimit ?? 100), 1000);
      const page = await sql.begin(async (tx) => await listRecords(tx as never, table, { filter, limit }));
      const names = new Map(table.columns.map((c) => [`col_${c.id}`, c.name]));
      const records = page.records.map((r) => ({
        id: r.id,
        ...Object.fromEntries(Object.entries(r.row_data).map(([k, v]) => [names.get(k) ?? k, v])),
      }));
      return { value: records, request: { table_id: table.id, filters: filter ?? null, limit } };
    }
    default:
      throw new Error(`${column.type} is not a cross-table action`);
  }
}
