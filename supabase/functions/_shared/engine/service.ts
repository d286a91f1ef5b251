// The engine's API: executions of a record, run-actions on demand, recompute one cell. Each
// checks the caller's rights on the table first (as every endpoint does), then runs as the engine.
import { z } from "zod";
import type { Principal } from "../auth/principal.ts";
import { typeOf } from "../columns/registry.ts";
import { sql } from "../db/client.ts";
import { badRequest, notFound } from "../http/errors.ts";
import { parseWith } from "../http/validate.ts";
import { requireColumn, withTable } from "../tables/meta.ts";
import { type ColumnResult, loadShape, RetryableError, runColumn, runPipeline } from "./pipeline.ts";
import { toApiRecord } from "../records/values.ts";

const id = z.union([
  z.number().int().positive(),
  z.string().regex(/^(col_)?\d{1,15}$/).transform((s) => Number(s.replace("col_", ""))),
]);
export const runActionsInput = z.strictObject({
  record_ids: z.array(id).min(1).max(100),
  column_ids: z.array(id).max(100).optional(),
  mode: z.enum(["sequential", "parallel"]).default("sequential"),
});

/**
 * The record's execution log, newest first, headed by its pending pipeline jobs: `queued` (waiting,
 * possibly backing off after `error`) or `running` (claimed by a worker), column_id null.
 */
export async function listExecutions(p: Principal, tableId: number, recordId: number, limit = 100) {
  const logged = await withTable(p, tableId, "read", async (tx) => {
    return await tx`
      select id, column_id, job_id, status, request, response, error, duration_ms::float8 as duration_ms, attempt,
             created_at
      from public.column_executions where table_id = ${tableId} and record_id = ${recordId}
      order by id desc limit ${limit}`;
  });
  // The queue is not readable by API roles; the permission check above already passed.
  const pending = await sql`
    select null::bigint as id, null::bigint as column_id, id as job_id,
           case when private.job_running(id) then 'running' else 'queued' end as status,
           null::jsonb as request, null::jsonb as response, last_error as error, null::float8 as duration_ms,
           attempts + 1 as attempt, created_at, run_at, reason
    from public.engine_jobs where table_id = ${tableId} and record_id = ${recordId} and reason <> 'backfill'
    order by id desc`;
  return [...pending, ...logged];
}

/** POST /run-actions: the pipeline of each record, now, answering with what each column did. */
export async function runActions(p: Principal, tableId: number, body: unknown) {
  const input = parseWith(runActionsInput, body, "Invalid run-actions request");
  const table = await withTable(p, tableId, "edit", async (tx, t) => {
    const ids = input.record_ids;
    const found = await tx<{ id: number }[]>`
      select id from ${tx(`public.${t.pg_table_name}`)} where id = any(${ids}::bigint[])`;
    const missing = ids.filter((i) => !found.some((r) => r.id === i));
    if (missing.length > 0) throw notFound(`records ${missing.join(", ")} in table ${tableId}`);
    for (const c of input.column_ids ?? []) {
      const column = requireColumn(t, c);
      if (typeOf(column.type).family === "data") throw badRequest(`column_ids: '${column.name}' is a data column`);
    }
    return t;
  });
  const run = async (recordId: number): Promise<ColumnResult[]> => {
    try {
      return await runPipeline({
        table_id: table.id,
        record_id: recordId,
        reason: "manual",
        column_ids: input.column_ids,
      });
    } catch (e) {
      if (e instanceof RetryableError) {
        // Not retried here: the caller asked for now; the failure is in the log and the results.
        const [last] = await sql<{ column_id: number; error: string }[]>`
          select column_id, error from public.column_executions
          where table_id = ${table.id} and record_id = ${recordId} order by id desc limit 1`;
        return [{
          record_id: recordId,
          column_id: last?.column_id ?? 0,
          success: false,
          status: "failed",
          error: e.message,
        }];
      }
      throw e;
    }
  };
  const results = input.mode === "parallel"
    ? (await Promise.all(input.record_ids.map(run))).flat()
    : await input.record_ids.reduce(
      async (acc, r) => [...await acc, ...await run(r)],
      Promise.resolve([] as ColumnResult[]),
    );
  return { results };
}

/** Recomputes one computed cell of one record, stores and returns it. */
export async function computeCell(p: Principal, tableId: number, recordId: number, columnKey: string | number) {
  const column = await withTable(p, tableId, "edit", async (tx, t) => {
    const c = requireColumn(t, columnKey);
    if (typeOf(c.type).family !== "computed") {
      throw badRequest(
        `Column '${c.name}' is a ${c.type} column: only computed columns (formula, json_parser, rollup) are recomputed`,
      );
    }
    const [row] = await tx`select id from ${tx(`public.${t.pg_table_name}`)} where id = ${recordId}`;
    if (!row) throw notFound(`record ${recordId} in table ${tableId}`);
    return c;
  });
  const table = (await loadShape(sql, tableId))!;
  const [row] = await sql<Record<string, unknown>[]>`select * from ${
    sql(`public.${table.pg_table_name}`)
  } where id = ${recordId}`;
  if (!row) throw notFound(`record ${recordId} in table ${tableId}`);
  const api = toApiRecord(table, row);
  const values: Record<string, unknown> = {};
  for (const c of table.columns) if (c.pg_type !== null) values[c.name] = api.row_data[`col_${c.id}`] ?? null;
  const fresh = table.columns.find((c) => c.id === column.id) ?? column;
  let value: unknown;
  let error: string | null = null;
  const started = performance.now();
  try {
    value = (await runColumn(fresh, values, table, { recordId })).value;
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    value = null;
  }
  await sql.begin(async (tx) => {
    await tx`select set_config('aitizer.engine_write', 'on', true)`;
    await tx`update ${tx(`public.${table.pg_table_name}`)} set ${tx(`col_${column.id}`)} =
               ${value === null ? null : JSON.stringify(value)}::text::jsonb where id = ${recordId}`;
    await tx`insert into public.column_executions
               (workspace_id, table_id, record_id, column_id, status, response, error, duration_ms)
             values (${table.workspace_id}, ${table.id}, ${recordId}, ${column.id}, ${error ? "failed" : "success"},
                     ${error ? null : JSON.stringify(value)}::text::jsonb, ${error},
                     ${Math.round((performance.now() - started) * 100) / 100})`;
  });
  if (error) throw badRequest(`Column '${column.name}': ${error}`);
  return { record_id: recordId, column_id: column.id, column: column.name, value };
}
