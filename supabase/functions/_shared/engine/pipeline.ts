// One record's pipeline: its computed and action columns, left to right by position. Computed
// columns compute inline; action columns execute; each result is visible to every column to its
// right. Every run of a column is logged. The engine acts as the system (the connection's own
// role), on the one record of the one table its job names.
import type { Fragment } from "postgres";
import { type Column } from "../columns/type.ts";
import { typeOf } from "../columns/registry.ts";
import { sql, type Tx } from "../db/client.ts";
import { guardedFetch, OutboundRefused } from "../net/guarded_fetch.ts";
import type { TableShape } from "../tables/meta.ts";
import { loadShape } from "./loader.ts";
import { acquire, recordKey, release } from "./locks.ts";
import { runAction } from "../integrations/column.ts";
import { reveal } from "../integrations/secrets.ts";
import { runCrossTable } from "./crosstable.ts";
export { loadShape };
import { toApiRecord } from "../records/values.ts";
import { evaluateFormula, FormulaError } from "./sandbox.ts";
import { asJson, extractPath, renderJson, renderText, TemplateError, type TemplateScope } from "./templates.ts";

export type Reason = "create" | "edit" | "manual" | "recompute";

/** Items a loop runs its columns for, at most. */
const MAX_LOOP_ITEMS = 500;

export interface PipelineJob {
  id?: number;
  table_id: number;
  record_id: number;
  reason: Reason;
  attempts?: number;
  /** Manual runs may name the action columns to run (computed columns always compute). */
  column_ids?: number[] | null;
  /** Records the chain that led here passed through ("<table>:<record>"). */
  chain?: string[];
  /** A parked job resumes after this (delay) column. */
  resume_after?: number | null;
  /** Background recomputation: only failures are logged. */
  quiet?: boolean;
}

export interface ColumnResult {
  record_id: number;
  column_id: number;
  success: boolean;
  status: "success" | "skipped_condition" | "failed" | "timed_out";
  result?: unknown;
  error?: string;
}

import { RetryableError } from "./errors.ts";
export { RetryableError };

interface Execution {
  column_id: number;
  status: ColumnResult["status"];
  request: unknown;
  response: unknown;
  error: string | null;
  duration_ms: number;
}

// ---------------------------------------------------------------------------------------------
/** The row's values by column name, as the API shows them. */
function valuesByName(table: TableShape, row: Record<string, unknown>): Record<string, unknown> {
  const api = toApiRecord(table, row);
  const byName: Record<string, unknown> = {};
  for (const c of table.columns) if (c.pg_type !== null) byName[c.name] = api.row_data[`col_${c.id}`] ?? null;
  return byName;
}

/**
 * Runs the pipeline of one record; writes its results; returns what each column did. Pipelines of
 * one record never overlap (a record lock, see locks.ts): a background
 * recomputation cannot write values computed from a row another run is changing.
 */
export async function runPipeline(job: PipelineJob): Promise<ColumnResult[]> {
  return (await runJob(job)).results;
}

/** runPipeline, also saying whether a delay column parked the job (it stays queued). */
export async function runJob(job: PipelineJob): Promise<{ results: ColumnResult[]; parked: boolean }> {
  const key = recordKey(job.table_id, job.record_id);
  await acquire(key);
  try {
    return await runLocked(job);
  } finally {
    await release([key]).catch(() => {});
  }
}

async function runLocked(job: PipelineJob): Promise<{ results: ColumnResult[]; parked: boolean }> {
  const table = await loadShape(sql, job.table_id);
  if (!table) return { results: [], parked: false };
  const t = sql(`public.${table.pg_table_name}`);
  const [row] = await sql<Record<string, unknown>[]>`select * from ${t} where id = ${job.record_id}`;
  if (!row) return { results: [], parked: false }; // deleted since: nothing to do
  const outcome = await computePipeline(job, table, row);
  await sql.begin((tx) => writeOutcome(tx, outcome));
  if (outcome.park) await parkJob(job, table.workspace_id, outcome.park);
  if (outcome.retry) throw outcome.retry;
  return { results: outcome.results, parked: outcome.park !== null };
}

/** What one run of a record's pipeline did, to be written (alone, or with others in a batch). */
export interface Outcome {
  job: PipelineJob;
  table: TableShape;
  /** Cells to store, by physical column name. */
  writes: Map<string, unknown>;
  executions: Execution[];
  results: ColumnResult[];
  /** A retryable failure stopped the pipeline: the job runs again later. */
  retry: RetryableError | null;
  /** A delay column parked the job: it resumes after that column. */
  park: { seconds: number; columnId: number } | null;
}

/**
 * Runs the pipeline of one record on its current values (the caller holds the record's lock):
 * computes, executes, and returns what to write. Actions may write elsewhere themselves
 * (cross-table actions); the record's own cells are written by writeOutcome.
 */
export async function computePipeline(
  job: PipelineJob,
  table: TableShape,
  row: Record<string, unknown>,
): Promise<Outcome> {
  const values = valuesByName(table, row);
  const writes = new Map<string, unknown>();
  const executions: Execution[] = [];
  const results: ColumnResult[] = [];
  let retry: RetryableError | null = null;
  let park: { seconds: number; columnId: number } | null = null;

  /**
   * A loop: item by item, every column to its right runs in order with {$item} and {$index};
   * each cell collects the per-item results. A delay in the loop pauses between items.
   */
  const runLoop = async (items: unknown[], inside: Column[]): Promise<RetryableError | null> => {
    const columns = inside.filter((c) => {
      const family = typeOf(c.type).family;
      return family !== "data" && !(job.column_ids && family === "action" && !job.column_ids.includes(c.id));
    });
    const collected = new Map<number, unknown[]>(columns.map((c) => [c.id, []]));
    const errors = new Map<number, string[]>(columns.map((c) => [c.id, []]));
    const started = performance.now();
    let failure: RetryableError | null = null;
    items: for (let i = 0; i < items.length; i++) {
      const scoped: Record<string, unknown> = { ...values, $item: items[i], $index: i };
      for (const c of columns) {
        let value: unknown = null;
        if (c.type === "delay") {
          if (i < items.length - 1) await pause(Number(c.config.delaySeconds));
        } else if (typeOf(c.type).family === "action" && !shouldRun(c, job.reason, scoped)) {
          value = null;
        } else {
          try {
            const run = { chain, item: { item: items[i], index: i }, recordId: job.record_id, jobId: job.id };
            value = (await runColumn(c, scoped, table, run)).value;
          } catch (e) {
            if (e instanceof RetryableError) {
              failure = e;
              break items;
            }
            errors.get(c.id)!.push(`item ${i}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        scoped[c.name] = value;
        collected.get(c.id)!.push(value);
      }
    }
    for (const c of columns) {
      const list = collected.get(c.id)!;
      const failed = errors.get(c.id)!;
      values[c.name] = list;
      writes.set(`col_${c.id}`, list);
      executions.push({
        column_id: c.id,
        status: failure || failed.length > 0 ? "failed" : "success",
        request: { items: items.length },
        response: list,
        error: failure ? `${failure.message} (will retry)` : failed.length > 0 ? failed.slice(0, 5).join("; ") : null,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      });
      results.push({
        record_id: job.record_id,
        column_id: c.id,
        success: !failure && failed.length === 0,
        status: failure || failed.length > 0 ? "failed" : "success",
        result: list,
        ...(failed.length > 0 ? { error: failed[0] } : {}),
      });
    }
    return failure;
  };
  const here = `${table.id}:${job.record_id}`;
  const chain = [...(job.chain ?? []), here];
  const looped = (job.chain ?? []).includes(here);
  let resuming = job.resume_after !== null && job.resume_after !== undefined &&
    table.columns.some((c) => c.id === job.resume_after);

  for (const column of table.columns) {
    const impl = typeOf(column.type);
    if (impl.family === "data") continue;
    if (resuming) {
      if (column.id === job.resume_after) resuming = false;
      continue;
    }
    if (retry || park) break;
    if (job.reason === "recompute" && impl.family !== "computed") continue; // related rows changed
    const manualPick = job.column_ids && impl.family === "action" && !job.column_ids.includes(column.id);
    if (manualPick) continue;
    const started = performance.now();
    const record = (status: ColumnResult["status"], out: { request?: unknown; response?: unknown; error?: string }) => {
      executions.push({
        column_id: column.id,
        status,
        request: out.request ?? null,
        response: out.response ?? null,
        error: out.error ?? null,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      });
      results.push({
        record_id: job.record_id,
        column_id: column.id,
        success: status === "success",
        status,
        ...(status === "success" ? { result: out.response } : {}),
        ...(out.error ? { error: out.error } : {}),
      });
    };

    if (impl.family === "action" && looped) {
      record("failed", {
        error: `the chain came back to record ${here} (${chain.join(" → ")}); stopped instead of looping`,
      });
      break;
    }
    if (impl.family === "action" && !shouldRun(column, job.reason, values)) {
      record("skipped_condition", {});
      continue;
    }
    if (column.type === "delay") {
      const seconds = Number(column.config.delaySeconds);
      park = { seconds, columnId: column.id };
      record("success", { response: { resumes_in_seconds: seconds } });
      break;
    }
    if (column.type === "loop") {
      const source = table.columns.find((c) => c.id === Number(column.config.loopSourceColumnId));
      const items = asJson(source ? values[source.name] : null);
      if (!Array.isArray(items)) {
        record("failed", { error: `loop: '${source?.name ?? "?"}' does not hold a list` });
        break; // the columns to its right run per item: with no list, they do not run
      }
      const list = items.slice(0, MAX_LOOP_ITEMS);
      const value = { items: list.length, ...(items.length > MAX_LOOP_ITEMS ? { truncated_from: items.length } : {}) };
      values[column.name] = value;
      writes.set(`col_${column.id}`, value);
      record("success", { response: value });
      retry = await runLoop(list, table.columns.slice(table.columns.indexOf(column) + 1));
      break;
    }
    try {
      const { value, request, response } = await runColumn(column, values, table, {
        chain,
        recordId: job.record_id,
        jobId: job.id,
      });
      values[column.name] = value;
      writes.set(`col_${column.id}`, value);
      record("success", { request, response: response ?? value });
    } catch (e) {
      if (e instanceof RetryableError) {
        retry = e;
        record("failed", { error: `${e.message} (will retry)`, request: (e as { request?: unknown }).request });
        break;
      }
      const message = e instanceof Error ? e.message : String(e);
      const timedOut = /took longer than|No answer from/.test(message);
      const detail = e as { request?: unknown; response?: unknown };
      record(timedOut ? "timed_out" : "failed", { error: message, request: detail.request, response: detail.response });
      values[column.name] = null;
      writes.set(`col_${column.id}`, null);
    }
  }

  return { job, table, writes, executions, results, retry, park };
}

/**
 * Writes outcomes in one transaction: each record's cells (one UPDATE each, pipelined) and every
 * execution log row (one INSERT). Engine writes do not re-trigger executeOnEdit.
 */
export async function writeOutcome(tx: Tx, ...outcomes: Outcome[]): Promise<void> {
  const statements: Promise<unknown>[] = [tx`select set_config('aitizer.engine_write', 'on', true)`.execute()];
  // Records of one table that write the same cells: one UPDATE for all of them (engine cells are
  // jsonb), so the table's statement triggers run once, not once per record.
  const groups = new Map<string, { table: TableShape; keys: string[]; rows: Record<string, unknown>[] }>();
  for (const o of outcomes) {
    if (o.writes.size === 0) continue;
    const keys = [...o.writes.keys()].sort();
    const group = `${o.table.id}|${keys.join(",")}`;
    if (!groups.has(group)) groups.set(group, { table: o.table, keys, rows: [] });
    groups.get(group)!.rows.push({ id: o.job.record_id, ...Object.fromEntries(o.writes) });
  }
  for (const { table, keys, rows } of groups.values()) {
    const sets = keys.map((k) => tx`${tx(k)} = nullif(v.${tx(k)}, 'null'::jsonb)`);
    const shape = keys.map((k) => tx`${tx(k)} jsonb`);
    // The id list lets the planner find the rows by primary key; joined to the recordset alone
    // (estimated at 100 rows) it scanned the whole table on every write.
    statements.push(tx`
      update ${tx(`public.${table.pg_table_name}`)} t set ${join(tx, sets)}
      from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as v(id bigint, ${join(tx, shape)})
      where t.id = v.id and t.id = any(${rows.map((r) => r.id as number)}::bigint[])`.execute());
  }
  const logged: Record<string, unknown>[] = [];
  for (const o of outcomes) {
    for (const e of o.job.quiet ? o.executions.filter((e) => e.status !== "success") : o.executions) {
      logged.push({
        ...e,
        workspace_id: o.table.workspace_id,
        table_id: o.table.id,
        record_id: o.job.record_id,
        job_id: o.job.id ?? null,
        attempt: o.job.attempts ?? 1,
      });
    }
  }
  if (logged.length > 0) {
    statements.push(tx`
      insert into public.column_executions
        (workspace_id, table_id, record_id, column_id, job_id, status, request, response, error, duration_ms, attempt)
      select e.workspace_id, e.table_id, e.record_id, e.column_id, e.job_id, e.status, e.request, e.response, e.error,
             e.duration_ms, e.attempt
      from jsonb_to_recordset(${JSON.stringify(logged)}::text::jsonb)
        as e(workspace_id bigint, table_id bigint, record_id bigint, column_id bigint, job_id bigint, status text,
             request jsonb, response jsonb, error text, duration_ms numeric, attempt integer)`.execute());
  }
  await Promise.all(statements);
}

/** An in-loop delay: a pause between items (at most a minute, checked when the column is saved). */
const pause = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

/** A delay: the job (or, for a run on demand, a new one) waits, then resumes after the column. */
async function parkJob(
  job: PipelineJob,
  workspaceId: number,
  park: { seconds: number; columnId: number },
) {
  const runAt = sql`now() + ${`${park.seconds} seconds`}::interval`;
  const jobId = job.id;
  if (jobId !== undefined) {
    await sql`update public.engine_jobs set attempts = 0, run_at = ${runAt}, resume_after = ${park.columnId}
              where id = ${jobId}`;
  } else {
    await sql`insert into public.engine_jobs (workspace_id, table_id, record_id, reason, chain, run_at, resume_after)
              values (${workspaceId}, ${job.table_id}, ${job.record_id}, 'manual', ${job.chain ?? []}, ${runAt},
                      ${park.columnId})`;
  }
}

function join(tx: Tx | typeof sql, parts: Fragment[]): Fragment {
  return parts.reduce((acc, f, i) => (i === 0 ? f : tx`${acc}, ${f}`), tx``);
}

// ---------------------------------------------------------------------------------------------
// When an action runs
// ---------------------------------------------------------------------------------------------
function shouldRun(column: Column, reason: Reason, values: Record<string, unknown>): boolean {
  const cfg = column.config as { executeOnCreate?: boolean; executeOnEdit?: boolean; conditions?: Condition[] };
  if (reason === "create" && cfg.executeOnCreate === false) return false;
  if (reason === "edit" && cfg.executeOnEdit !== true) return false;
  return (cfg.conditions ?? []).every((c) => holds(c, values));
}

interface Condition {
  column: string | number;
  operator: string;
  value?: unknown;
}

function holds(c: Condition, values: Record<string, unknown>): boolean {
  const key = Object.keys(values).find((k) => k.toLowerCase() === String(c.column).toLowerCase());
  const v = key === undefined ? null : values[key];
  const empty = v === null || v === "" || (Array.isArray(v) && v.length === 0);
  const text = (x: unknown) => (typeof x === "string" ? x : JSON.stringify(x ?? null)).toLowerCase();
  switch (c.operator) {
    case "is_empty":
      return empty;
    case "is_not_empty":
      return !empty;
    case "equals":
      return Array.isArray(v) ? v.includes(c.value) : v === c.value || text(v) === text(c.value);
    case "not_equals":
      return !(Array.isArray(v) ? v.includes(c.value) : v === c.value || text(v) === text(c.value));
    case "contains":
      return text(v).includes(text(c.value).replace(/^"|"$/g, ""));
    case "not_contains":
      return !text(v).includes(text(c.value).replace(/^"|"$/g, ""));
    case "gt":
      return Number(v) > Number(c.value);
    case "lt":
      return Number(v) < Number(c.value);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Each type's work
// ---------------------------------------------------------------------------------------------
interface ColumnOutcome {
  value: unknown;
  request?: unknown;
  response?: unknown;
}

export interface RunContext {
  /** Records the chain that led here passed through. */
  chain?: string[];
  /** Inside a loop: the item and its index. */
  item?: { item: unknown; index: number };
  recordId: number;
  jobId?: number;
}

export async function runColumn(
  column: Column,
  values: Record<string, unknown>,
  table: TableShape,
  run: RunContext,
): Promise<ColumnOutcome> {
  const scope: TemplateScope = { row: values, ...run.item };
  const cfg = column.config as Record<string, unknown>;
  switch (column.type) {
    case "formula": {
      const key = `${column.updated_at ?? ""}:${cfg.formula}`;
      try {
        const value = await evaluateFormula(
          column.id,
          key,
          String(cfg.formula),
          (cfg.formulaMode as "expression" | "javascript") ?? "expression",
          values,
        );
        return { value };
      } catch (e) {
        if (e instanceof FormulaError) throw new Error(`formula: ${e.message}`);
        throw e;
      }
    }
    case "rollup":
      return { value: await rollupValue(column, values, table) };
    case "json_parser": {
      const source = table.columns.find((c) => c.id === Number(cfg.jsonSourceColumnId));
      if (!source) throw new Error(`json_parser: source column ${cfg.jsonSourceColumnId} no longer exists`);
      return { value: extractPath(asJson(values[source.name]), String(cfg.jsonPath)) };
    }
    case "http_request":
      return await httpRequest(await reveal(column.type, column.id, cfg), scope);
    case "action":
      return await runAction(column, scope, table, run);
    case "create_record":
    case "update_record":
    case "delete_record":
    case "fetch_records":
      return await runCrossTable(column, scope, { workspaceId: table.workspace_id, chain: run.chain ?? [] });
    default:
      throw new Error(`${column.type} columns are not supported by this engine version`);
  }
}

const SECRET_HEADERS = /^(authorization|proxy-authorization|x-api-key|api-key|cookie)$/i;

async function httpRequest(cfg: Record<string, unknown>, scope: TemplateScope): Promise<ColumnOutcome> {
  const template = String(cfg.httpUrl);
  const method = String(cfg.httpMethod ?? (cfg.httpBody ? "POST" : "GET"));
  const shown: Record<string, unknown> = { method };
  try {
    // A tag that is the whole URL (or its start) is taken as is; tags elsewhere are encoded.
    const url = template.startsWith("{") && template.indexOf("}") > 0
      ? renderText(template.slice(0, template.indexOf("}") + 1), scope) +
        renderText(template.slice(template.indexOf("}") + 1), scope, { url: true })
      : renderText(template, scope, { url: true });
    shown.url = url;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((cfg.httpHeaders ?? {}) as Record<string, string>)) {
      headers[k] = renderText(v, scope);
    }
    const auth = cfg.httpAuth as {
      type: string;
      token?: string;
      username?: string;
      password?: string;
      header?: string;
      value?: string;
    } | undefined;
    if (auth?.type === "bearer") headers.authorization = `Bearer ${renderText(auth.token ?? "", scope)}`;
    if (auth?.type === "basic") {
      headers.authorization = `Basic ${btoa(`${auth.username ?? ""}:${auth.password ?? ""}`)}`;
    }
    if (auth?.type === "header" && auth.header) headers[auth.header] = renderText(auth.value ?? "", scope);
    let body: string | undefined;
    if (cfg.httpBody !== undefined && method !== "GET") {
      const raw = String(cfg.httpBody);
      const isJson = /^\s*[[{]/.test(raw) ||
        /json/i.test(Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1] ?? "");
      body = isJson ? renderJson(raw, scope) : renderText(raw, scope);
      if (isJson && !Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) {
        headers["content-type"] = "application/json";
      }
      shown.body = asJson(body);
    }
    shown.headers = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k, SECRET_HEADERS.test(k) || k === auth?.header ? "***" : v]),
    );
    const res = await guardedFetch(url, {
      method,
      headers,
      body,
      credentialHeaders: Object.keys(headers).filter((k) => SECRET_HEADERS.test(k) || k === auth?.header),
    });
    const parsed = asJson(res.body);
    const response = { status: res.status, body: parsed };
    if (res.status === 429 || res.status >= 500) {
      throw Object.assign(new RetryableError(`HTTP ${res.status} from ${new URL(res.url).host}`), { request: shown });
    }
    if (res.status >= 400) {
      throw Object.assign(new Error(`HTTP ${res.status} from ${new URL(res.url).host}`), { request: shown, response });
    }
    return { value: parsed, request: shown, response };
  } catch (e) {
    if (e instanceof RetryableError || e instanceof TemplateError || e instanceof OutboundRefused) {
      throw Object.assign(e, { request: shown });
    }
    if (e instanceof Error && "request" in e) throw e;
    // Network failures are worth another try.
    throw Object.assign(new RetryableError((e as Error).message), { request: shown });
  }
}

const AGGREGATE: Record<string, string> = {
  sum: "sum(v::float8)",
  avg: "avg(v::float8)",
  min: "min(v)",
  max: "max(v)",
  count: "count(v)",
  count_distinct: "count(distinct v)",
  concat: "string_agg(v #>> '{}', ', ' order by id)",
};

/** The aggregate of the target column over the rows the relation column links to. */
async function rollupValue(column: Column, values: Record<string, unknown>, table: TableShape): Promise<unknown> {
  const cfg = column.config;
  const relation = table.columns.find((c) => c.id === Number(cfg.rollupRelationColumnId));
  if (!relation) throw new Error("rollup: its relation column no longer exists");
  const target = await loadShape(sql, Number(relation.config.relationTableId));
  const targetColumn = target?.columns.find((c) => c.id === Number(cfg.rollupTargetColumnId));
  if (!target || !targetColumn) throw new Error("rollup: its target column no longer exists");
  const ids = (values[relation.name] ?? []) as number[];
  const aggregate = AGGREGATE[String(cfg.rollupAggregator)];
  if (!aggregate) throw new Error(`rollup: unknown aggregator ${cfg.rollupAggregator}`);
  const [row] = await sql<{ value: unknown }[]>`
    select ${sql.unsafe(aggregate)} as value
    from (select id, to_jsonb(${
    sql(targetColumn.pg_type === "jsonb" ? `col_${targetColumn.id}` : `col_${targetColumn.id}`)
  }) as v
          from ${sql(`public.${target.pg_table_name}`)} where id = any(${ids}::bigint[])) r
    where v is not null and v <> 'null'::jsonb`;
  const value = row?.value ?? null;
  return typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value) && cfg.rollupAggregator !== "concat"
    ? Number(value)
    : value;
}
