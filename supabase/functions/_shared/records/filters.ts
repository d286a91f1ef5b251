// The filter model shared by records, views and MCP: conditions on columns (by name or col_<id>)
// combined in AND/OR groups, parsed from query strings or JSON and compiled to SQL fragments.
import { parseDateTime } from "../columns/types/date.ts";
import { z } from "zod";
import type { Fragment } from "postgres";
import type { Column, FilterOp } from "../columns/type.ts";
import { FILTER_OPS } from "../columns/type.ts";
import { typeOf } from "../columns/registry.ts";
import { optionId } from "../columns/types/select.ts";
import type { Tx } from "../db/client.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import { describeIssues } from "../http/validate.ts";
import { findColumn, type TableMeta, type TableShape } from "../tables/meta.ts";

export interface Condition {
  field: string;
  op: FilterOp;
  value?: unknown;
}
export type FilterNode = Condition | { and: FilterNode[] } | { or: FilterNode[] };

const condition = z.strictObject({
  field: z.union([z.string().min(1), z.number()]).transform(String),
  op: z.enum(FILTER_OPS).default("eq"),
  value: z.unknown().optional(),
});
export const filterNode: z.ZodType<FilterNode> = z.lazy(() =>
  z.union([
    condition,
    z.strictObject({ and: z.array(filterNode).max(100) }),
    z.strictObject({ or: z.array(filterNode).max(100) }),
  ])
) as z.ZodType<FilterNode>;
/** A saved or JSON filter: one node, or a list meaning AND. */
export const filterInput = z.union([filterNode, z.array(filterNode).max(100)]);

export function normaliseFilter(input: z.infer<typeof filterInput> | undefined): FilterNode | undefined {
  if (input === undefined) return undefined;
  return Array.isArray(input) ? (input.length === 0 ? undefined : { and: input }) : input;
}

/** `filter[Field]=v`, `filter[Field][op]=v` and `filters=<json>` from a query string, ANDed. */
export function filtersFromQuery(params: URLSearchParams): FilterNode | undefined {
  const nodes: FilterNode[] = [];
  for (const [key, value] of params) {
    if (key === "filters") {
      let json: unknown;
      try {
        json = JSON.parse(value);
      } catch {
        throw badRequest("filters: not valid JSON");
      }
      const parsed = filterInput.safeParse(json);
      if (!parsed.success) throw new HttpError(400, "validation_failed", `filters: ${describeIssues(parsed.error)}`);
      const node = normaliseFilter(parsed.data);
      if (node) nodes.push(node);
      continue;
    }
    const m = /^filter\[([^\]]+)\](?:\[([^\]]+)\])?$/.exec(key);
    if (!m) continue;
    const op = (m[2] ?? "eq") as FilterOp;
    if (!FILTER_OPS.includes(op)) {
      throw badRequest(`filter[${m[1]}][${m[2]}]: unknown operator; use one of ${FILTER_OPS.join(", ")}`);
    }
    nodes.push({ field: m[1], op, value });
  }
  return nodes.length === 0 ? undefined : nodes.length === 1 ? nodes[0] : { and: nodes };
}

// ---------------------------------------------------------------------------------------------
// Fields: data columns plus the system fields every record has.
// ---------------------------------------------------------------------------------------------
export interface Field {
  /** Physical column name. */
  sqlName: string;
  /** Element type for arrays, scalar type otherwise. */
  pgType: string;
  kind: "text" | "number" | "boolean" | "date" | "select" | "array" | "json" | "system_id" | "system_time";
  operators: readonly FilterOp[];
  sortable: boolean;
  column?: Column;
  label: string;
}

const SYSTEM: Record<string, Field> = {
  id: {
    sqlName: "id",
    pgType: "bigint",
    kind: "system_id",
    operators: ["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin"],
    sortable: true,
    label: "id",
  },
  created_at: {
    sqlName: "created_at",
    pgType: "timestamptz",
    kind: "system_time",
    operators: ["eq", "neq", "gt", "gte", "lt", "lte"],
    sortable: true,
    label: "created_at",
  },
  updated_at: {
    sqlName: "updated_at",
    pgType: "timestamptz",
    kind: "system_time",
    operators: ["eq", "neq", "gt", "gte", "lt", "lte"],
    sortable: true,
    label: "updated_at",
  },
};

export function resolveField(table: TableShape, key: string): Field {
  const column = findColumn(table, key);
  if (!column) {
    if (Object.hasOwn(SYSTEM, key)) return SYSTEM[key];
    const known = table.columns.slice(0, 20).map((c) => `${c.name} (col_${c.id})`).join(", ");
    throw badRequest(`Unknown field '${key}' in table ${table.id}; fields are: ${known || "none"}, id, created_at`);
  }
  const impl = typeOf(column.type);
  if (!column.pg_type) throw badRequest(`Column '${column.name}' stores no value and cannot be filtered or sorted`);
  const pg = column.pg_type;
  const kind: Field["kind"] = pg.endsWith("[]")
    ? "array"
    : pg === "jsonb"
    ? "json"
    : impl.hasOptions
    ? "select"
    : pg === "double precision"
    ? "number"
    : pg === "boolean"
    ? "boolean"
    : pg === "date" || pg === "timestamptz"
    ? "date"
    : "text";
  return {
    sqlName: `col_${column.id}`,
    pgType: pg.replace("[]", ""),
    kind,
    operators: impl.operators,
    sortable: impl.sortable,
    column,
    label: column.name,
  };
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------
function listOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return value === "" ? [] : value.split(",").map((s) => s.trim());
  if (value === undefined || value === null) return [];
  return [value];
}

/** One filter value converted to what the column stores (element type for arrays). */
function scalar(field: Field, value: unknown): string | number | boolean {
  const bad = (why: string): never => {
    throw badRequest(`filter on '${field.label}': ${why}`);
  };
  if (value === undefined || value === null) bad("a value is required");
  switch (field.kind) {
    case "number":
    case "system_id": {
      const n = typeof value === "number"
        ? value
        : typeof value === "string" && value.trim() !== ""
        ? Number(value)
        : NaN;
      if (!Number.isFinite(n)) bad(`expected a number, got ${JSON.stringify(value)}`);
      if (field.kind === "system_id" && !Number.isSafeInteger(n)) bad("expected an integer id");
      return n;
    }
    case "boolean":
      if (value === true || value === "true") return true;
      if (value === false || value === "false") return false;
      return bad(`expected true or false, got ${JSON.stringify(value)}`);
    case "date":
    case "system_time": {
      if (typeof value !== "string") return bad("expected an ISO 8601 date");
      if (field.column) {
        try {
          return typeOf(field.column.type).coerce(value, field.column) as string;
        } catch (e) {
          return bad((e as Error).message);
        }
      }
      try {
        return /^\d{4}-\d{2}-\d{2}$/.test(value) ? parseDateTime(`${value}T00:00:00Z`) : parseDateTime(value);
      } catch (e) {
        return bad((e as Error).message);
      }
    }
    case "select":
    case "array":
      if (field.column && field.column.options.length > 0) {
        try {
          return optionId(value, field.column);
        } catch (e) {
          return bad((e as Error).message);
        }
      }
      if (field.pgType === "bigint") return scalar({ ...field, kind: "number" }, value) as number;
      if (field.pgType === "uuid") {
        if (typeof value !== "string" || !/^[0-9a-f-]{36}$/i.test(value)) bad("expected a user id (UUID)");
        return (value as string).toLowerCase();
      }
      return String(value);
    default:
      if (typeof value === "object") bad("expected text");
      if (String(value).includes("\u0000")) bad("text cannot contain the NUL character");
      return String(value);
  }
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------
function compileCondition(tx: Tx, table: TableMeta, c: Condition): Fragment {
  const f = resolveField(table, c.field);
  if (!f.operators.includes(c.op)) {
    throw badRequest(
      `Operator '${c.op}' is not supported on '${f.label}' (${f.column?.type ?? f.kind}); ` +
        `supported: ${f.operators.join(", ")}`,
    );
  }
  const col = tx(f.sqlName);
  const type = tx.unsafe(f.pgType);
  const v = () => scalar(f, c.value);
  const list = () => listOf(c.value).map((x) => scalar(f, x));
  const isArray = f.kind === "array";
  const isText = f.kind === "text" || f.kind === "select";

  switch (c.op) {
    case "empty":
      return isArray
        ? tx`(${col} is null or cardinality(${col}) = 0)`
        : f.kind === "json"
        ? tx`(${col} is null or jsonb_array_length(${col}) = 0)`
        : isText
        ? tx`(${col} is null or ${col} = '')`
        : f.kind === "boolean"
        ? tx`(${col} is null or ${col} = false)`
        : tx`${col} is null`;
    case "nempty":
      return tx`not ${compileCondition(tx, table, { ...c, op: "empty" })}`;
    case "eq":
      if (isArray) {
        const vals = list();
        return vals.length === 0
          ? compileCondition(tx, table, { ...c, op: "empty" })
          : tx`(${col} @> ${vals}::${type}[] and ${col} <@ ${vals}::${type}[])`;
      }
      if (f.kind === "boolean") return tx`coalesce(${col}, false) = ${v()}::boolean`;
      return tx`${col} = ${v()}::${type}`;
    case "neq":
      if (f.kind === "boolean") return tx`coalesce(${col}, false) <> ${v()}::boolean`;
      return tx`${col} is distinct from ${v()}::${type}`;
    case "gt":
      return tx`${col} > ${v()}::${type}`;
    case "gte":
      return tx`${col} >= ${v()}::${type}`;
    case "lt":
      return tx`${col} < ${v()}::${type}`;
    case "lte":
      return tx`${col} <= ${v()}::${type}`;
    case "contains":
      return isArray
        ? tx`coalesce(${col} @> array[${v()}::${type}], false)`
        : tx`${col} ilike ${"%" + likeEscape(String(v())) + "%"}`;
    case "ncontains":
      return tx`not ${compileCondition(tx, table, { ...c, op: "contains" })}`;
    case "starts_with":
      return tx`${col} ilike ${likeEscape(String(v())) + "%"}`;
    case "in": {
      const vals = list();
      return isArray ? tx`coalesce(${col} && ${vals}::${type}[], false)` : tx`${col} = any(${vals}::${type}[])`;
    }
    case "nin":
      return tx`not ${compileCondition(tx, table, { ...c, op: "in" })}`;
  }
}

/** Compiles a filter tree to a boolean SQL fragment; `true` when there is none. */
export function compileFilter(tx: Tx, table: TableMeta, node: FilterNode | undefined, depth = 0): Fragment {
  if (!node) return tx`true`;
  if (depth > 10) throw badRequest("filters: groups nest at most 10 deep");
  if ("and" in node || "or" in node) {
    const children = ("and" in node ? node.and : node.or).map((n) => compileFilter(tx, table, n, depth + 1));
    if (children.length === 0) return tx`true`;
    const joiner = "and" in node ? tx`and` : tx`or`;
    // The whole group is parenthesised: callers append "and …" (a cursor, a chain guard).
    const group = children.reduce((acc, f, i) => (i === 0 ? tx`(${f})` : tx`${acc} ${joiner} (${f})`), tx``);
    return tx`(${group})`;
  }
  // Comparisons with empty cells are unknown (null) in SQL. The tree has no NOT, so a null in a
  // positive condition acts as false, as wanted, and the plain form keeps indexes usable; a
  // negated condition must match empty cells (as a spreadsheet user expects), so it is coalesced.
  const sql = compileCondition(tx, table, node);
  return node.op === "ncontains" || node.op === "nin" ? tx`coalesce(${sql}, true)` : sql;
}
