// sql_query: one read-only SELECT written with the workspace's table and column names. The query
// is parsed (pgsql-ast-parser), refused unless it is a single SELECT over this workspace's tables
// calling only allow-listed functions, rewritten to physical names, and run read-only as the
// token (RLS) with a statement timeout and a row cap.
import { astMapper, parse, type QNameAliased, type Statement, toSql } from "pgsql-ast-parser";
import type { TokenPrincipal } from "../auth/principal.ts";
import { claimsText } from "../auth/principal.ts";
import { asPrincipal } from "../db/client.ts";
import { badRequest } from "../http/errors.ts";

export const SQL_ROW_CAP = 500;
export const SQL_TIMEOUT_MS = 3_000;

/** Functions a query may call: pure, side-effect free, no access outside the query's own rows. */
const FUNCTIONS = new Set([
  // aggregates
  "count",
  "sum",
  "avg",
  "min",
  "max",
  "string_agg",
  "array_agg",
  "bool_and",
  "bool_or",
  "every",
  "json_agg",
  "jsonb_agg",
  "json_object_agg",
  "jsonb_object_agg",
  "stddev",
  "variance",
  "percentile_cont",
  "percentile_disc",
  "mode",
  // text
  "lower",
  "upper",
  "initcap",
  "length",
  "char_length",
  "trim",
  "btrim",
  "ltrim",
  "rtrim",
  "substring",
  "substr",
  "replace",
  "concat",
  "concat_ws",
  "left",
  "right",
  "position",
  "strpos",
  "split_part",
  "starts_with",
  "reverse",
  "lpad",
  "rpad",
  "repeat",
  "format",
  "md5",
  "regexp_replace",
  "regexp_match",
  "regexp_matches",
  "to_char",
  // logic and numbers
  "coalesce",
  "nullif",
  "greatest",
  "least",
  "abs",
  "round",
  "ceil",
  "ceiling",
  "floor",
  "trunc",
  "mod",
  "power",
  "sqrt",
  "sign",
  "exists",
  // time
  "now",
  "current_date",
  "current_timestamp",
  "date_trunc",
  "date_part",
  "age",
  "to_date",
  "to_timestamp",
  "make_date",
  "make_interval",
  // arrays and JSON
  "array_length",
  "cardinality",
  "unnest",
  "array_to_string",
  "array_position",
  "any",
  "all",
  "jsonb_array_length",
  "json_array_length",
  "jsonb_typeof",
  "jsonb_extract_path_text",
  "jsonb_build_object",
  "json_build_object",
  "to_json",
  "to_jsonb",
  // window functions
  "row_number",
  "rank",
  "dense_rank",
  "lag",
  "lead",
  "first_value",
  "last_value",
  "ntile",
]);

const SYSTEM_COLUMNS = new Set(["id", "created_at", "updated_at", "created_by", "created_by_token"]);
const READ_STATEMENTS = new Set(["select", "union", "union all", "with", "with recursive", "values"]);
/** Statement kinds of pgsql-ast-parser that may never appear, at any depth (e.g. in a CTE). */
const WRITE_OR_UTILITY =
  /^(insert|update|delete|create|alter|drop|comment|truncate|do|set|show|begin|commit|rollback|start|tablespace|raise|refresh|prepare|deallocate|copy|grant|revoke|lock|listen|notify|vacuum|analyze|reindex|cluster|discard|execute)\b/i;

interface SqlTable {
  id: number;
  name: string;
  pg_table_name: string;
  columns: { id: number; name: string }[];
}

export interface SqlResult {
  columns: string[];
  rows: Record<string, unknown>[];
  row_count: number;
  truncated: boolean;
}

/** Parses, checks and rewrites `query`; throws a 400 naming what is not allowed. */
export function rewrite(query: string, tables: SqlTable[]): { sql: string; names: Map<string, string> } {
  let statements: Statement[];
  try {
    statements = parse(query);
  } catch (e) {
    throw badRequest(`The query could not be parsed: ${String((e as Error).message).split("\n")[0]}`);
  }
  if (statements.length !== 1) {
    throw badRequest(`Exactly one statement is allowed, got ${statements.length}`);
  }
  const [statement] = statements;
  if (!READ_STATEMENTS.has(statement.type)) {
    throw badRequest(`Only SELECT queries are allowed; this is ${statement.type.toUpperCase()}`);
  }

  // What the query names: CTEs, subquery aliases, and app tables (by name or alias).
  const byName = new Map(tables.map((t) => [t.name.toLowerCase(), t]));
  const ctes = new Set<string>();
  const scope = new Map<string, SqlTable>(); // alias or name → table
  const used: SqlTable[] = [];
  walk(statement, (node) => {
    const type = node.type;
    if (typeof type === "string" && WRITE_OR_UTILITY.test(type)) {
      throw badRequest(`Only SELECT is allowed; the query contains ${type.toUpperCase()}`);
    }
    if (type === "with" || type === "with recursive") {
      for (const b of node.bind as { alias: { name: string } }[]) ctes.add(b.alias.name.toLowerCase());
    }
    if (type === "call") {
      const fn = node.function as { name: string; schema?: string };
      const name = fn.name.toLowerCase();
      if ((fn.schema && fn.schema.toLowerCase() !== "pg_catalog") || !FUNCTIONS.has(name)) {
        throw badRequest(`Function ${fn.schema ? `${fn.schema}.` : ""}${fn.name}() is not allowed in sql_query`);
      }
    }
  });
  walk(statement, (node) => {
    if (node.type !== "table") return;
    const ref = node.name as QNameAliased;
    if (!ref.schema && ctes.has(ref.name.toLowerCase())) return;
    if (ref.schema) throw badRequest(`Schema-qualified names are not allowed: ${ref.schema}.${ref.name}`);
    const table = byName.get(ref.name.toLowerCase());
    if (!table) {
      const known = tables.map((t) => t.name).join(", ") || "none";
      throw badRequest(`No table named '${ref.name}' in this workspace; tables: ${known}`);
    }
    scope.set((ref.alias ?? ref.name).toLowerCase(), table);
    scope.set(table.name.toLowerCase(), table);
    if (!used.includes(table)) used.push(table);
  });

  const mapper = astMapper(() => ({
    tableRef: (ref) => {
      if (!ref.schema && ctes.has(ref.name.toLowerCase())) return ref;
      const table = byName.get(ref.name.toLowerCase())!;
      return { name: table.pg_table_name, alias: ref.alias ?? table.name };
    },
    ref: (ref) => {
      if (ref.name === "*") return ref;
      const lower = ref.name.toLowerCase();
      if (ref.table) {
        const table = scope.get(ref.table.name.toLowerCase());
        if (!table) return ref; // a CTE or subquery alias: its columns are named by the query
        if (SYSTEM_COLUMNS.has(lower)) return { ...ref, name: lower };
        const column = table.columns.find((c) => c.name.toLowerCase() === lower);
        if (!column) throw badRequest(`Table '${table.name}' has no column '${ref.name}'`);
        return { ...ref, name: `col_${column.id}` };
      }
      if (SYSTEM_COLUMNS.has(lower)) return { ...ref, name: lower };
      const found = new Set(
        used.flatMap((t) => t.columns.filter((c) => c.name.toLowerCase() === lower).map((c) => c.id)),
      );
      if (found.size > 1) throw badRequest(`Column '${ref.name}' is in several tables of the query: qualify it`);
      if (found.size === 1) return { ...ref, name: `col_${[...found][0]}` };
      return ref; // an output alias or a CTE column
    },
  }));
  const rewritten = mapper.statement(statement)!;
  const names = new Map<string, string>();
  for (const t of used) for (const c of t.columns) names.set(`col_${c.id}`, c.name);
  return { sql: toSql.statement(rewritten), names };
}

/** Runs a checked query read-only as the token, capped and timed out; rows come back by name. */
export async function runSql(principal: TokenPrincipal, query: string): Promise<SqlResult> {
  return await asPrincipal(claimsText(principal), async (tx) => {
    const tables = await tx<SqlTable[]>`
      select t.id, t.name, t.pg_table_name,
             coalesce((select json_agg(json_build_object('id', c.id, 'name', c.name) order by c.position, c.id)
                       from public.app_columns c where c.table_id = t.id and c.pg_type is not null), '[]') as columns
      from public.app_tables t where t.workspace_id = ${principal.workspaceId}`;
    const { sql, names } = rewrite(query, tables);
    await tx`select set_config('transaction_read_only', 'on', true),
                    set_config('statement_timeout', ${String(SQL_TIMEOUT_MS)}, true)`;
    let rows: Record<string, unknown>[];
    try {
      rows = await tx.unsafe(`select * from (${sql}) as q limit ${SQL_ROW_CAP + 1}`);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (err.code === "57014") throw badRequest(`The query ran longer than ${SQL_TIMEOUT_MS} ms and was stopped`);
      if (err.code && /^(22|42|0A)/.test(err.code)) throw badRequest(`The query failed: ${err.message}`);
      throw e;
    }
    const truncated = rows.length > SQL_ROW_CAP;
    const readable = rows.slice(0, SQL_ROW_CAP).map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(row)) {
        const name = names.get(key) ?? key;
        out[Object.hasOwn(out, name) ? key : name] = value;
      }
      return out;
    });
    return {
      columns: readable[0] ? Object.keys(readable[0]) : [],
      rows: readable,
      row_count: readable.length,
      truncated,
    };
  });
}

type Node = Record<string, unknown>;
function walk(value: unknown, visit: (node: Node) => void) {
  if (Array.isArray(value)) return value.forEach((v) => walk(v, visit));
  if (value === null || typeof value !== "object") return;
  visit(value as Node);
  for (const v of Object.values(value)) walk(v, visit);
}
