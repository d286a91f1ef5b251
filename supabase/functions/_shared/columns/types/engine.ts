// The computed and action families: the engine (../../engine) computes or executes them; here
// they are column types like any other (settings, physical type, operators), values written by
// the engine only.
import { z } from "zod";
import { CellError, type ColumnTypeImpl } from "../type.ts";

/**
 * A column of the same table: its id, `col_<id>`, or its name (resolved to the id when the column
 * is saved, so earlier columns of a new table can be named).
 */
export const columnRef = z.union([z.number().int().positive(), z.string().trim().min(1).max(200)]);

const CONDITION_OPS = [
  "equals",
  "not_equals",
  "contains",
  "not_contains",
  "gt",
  "lt",
  "is_empty",
  "is_not_empty",
] as const;
export type ConditionOp = typeof CONDITION_OPS[number];

/** When an action column runs: on create, on edit, and only if every condition holds. */
export const triggerSettings = {
  executeOnCreate: z.boolean().optional(),
  executeOnEdit: z.boolean().optional(),
  conditions: z.array(z.strictObject({
    column: z.union([z.string().min(1), z.number().int().positive()]),
    operator: z.enum(CONDITION_OPS),
    value: z.unknown().optional(),
  })).max(20).optional(),
};

const readOnly = (type: string) => () => {
  throw new CellError(`${type} values are written by the automation engine, not by clients`);
};

/** JSON values the engine stores: shown as stored. */
const stored = (value: unknown) => value ?? null;

export const formula: ColumnTypeImpl = {
  family: "computed",
  configSchema: z.object({
    formula: z.string().min(1).max(20_000),
    formulaMode: z.enum(["expression", "javascript"]).optional(),
  }),
  pgType: () => "jsonb",
  coerce: readOnly("formula"),
  serialize: stored,
  operators: ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "empty", "nempty"],
  sortable: true,
  writable: false,
};

export const jsonParser: ColumnTypeImpl = {
  family: "computed",
  configSchema: z.object({
    jsonSourceColumnId: columnRef,
    jsonPath: z.string().min(1).max(500),
  }),
  pgType: () => "jsonb",
  coerce: readOnly("json_parser"),
  serialize: stored,
  operators: ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "empty", "nempty"],
  sortable: true,
  writable: false,
};

/** A secret in a config: the value on input; stored encrypted and shown as { "set": true }. */
const secret = (max: number) => z.union([z.string().max(max), z.strictObject({ set: z.literal(true) })]);

export const httpRequest: ColumnTypeImpl = {
  family: "action",
  configSchema: z.object({
    httpMethod: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).optional(),
    httpUrl: z.string().min(1).max(4000),
    httpHeaders: z.record(z.string(), z.string().max(8000)).optional(),
    httpBody: z.string().max(100_000).optional(),
    httpAuth: z.strictObject({
      type: z.enum(["bearer", "basic", "header"]),
      token: secret(8000).optional(),
      username: z.string().max(500).optional(),
      password: secret(8000).optional(),
      header: z.string().max(200).optional(),
      value: secret(8000).optional(),
    }).optional(),
    ...triggerSettings,
  }),
  pgType: () => "jsonb",
  coerce: readOnly("http_request"),
  serialize: stored,
  operators: ["empty", "nempty"],
  sortable: false,
  writable: false,
};

/** A catalog integration action (GET /integrations), its inputs mapped from the row. */
export const integrationAction: ColumnTypeImpl = {
  family: "action",
  configSchema: z.object({
    integration: z.string().min(1).max(100),
    actionName: z.string().min(1).max(100),
    inputMapping: z.record(z.string().min(1).max(100), z.unknown()).optional(),
    credentialMode: z.enum(["admin_credential", "editor_credential", "platform_llm"]).optional(),
    credentialId: z.union([z.number().int().positive(), z.string().regex(/^\d{1,15}$/).transform(Number)]).optional(),
    credential: secret(8000).optional(),
    ...triggerSettings,
  }),
  pgType: () => "jsonb",
  coerce: readOnly("action"),
  serialize: stored,
  operators: ["eq", "neq", "contains", "empty", "nempty"],
  sortable: false,
  writable: false,
};

const targetTable = z.union([z.number().int().positive(), z.string().regex(/^\d{1,15}$/).transform(Number)]);
const fieldMappings = z.record(z.string().min(1), z.unknown());
const crossTable = (type: string, extra: z.ZodRawShape, operators: ColumnTypeImpl["operators"]) => ({
  family: "action" as const,
  configSchema: z.object({ targetTableId: targetTable, ...extra, ...triggerSettings }),
  pgType: () => "jsonb" as const,
  coerce: readOnly(type),
  serialize: stored,
  operators,
  sortable: false,
  writable: false,
});

export const createRecordAction: ColumnTypeImpl = crossTable("create_record", { fieldMappings }, ["empty", "nempty"]);
export const updateRecordAction: ColumnTypeImpl = crossTable(
  "update_record",
  { fieldMappings, filters: z.unknown() },
  ["empty", "nempty"],
);
export const deleteRecordAction: ColumnTypeImpl = crossTable("delete_record", { filters: z.unknown() }, [
  "empty",
  "nempty",
]);
export const fetchRecordsAction: ColumnTypeImpl = crossTable(
  "fetch_records",
  { filters: z.unknown().optional(), fetchLimit: z.number().int().min(1).max(1000).optional() },
  ["empty", "nempty"],
);

export const delay: ColumnTypeImpl = {
  family: "action",
  configSchema: z.object({ delaySeconds: z.number().int().min(1).max(7 * 86_400), ...triggerSettings }),
  pgType: () => "jsonb",
  coerce: readOnly("delay"),
  serialize: stored,
  operators: ["empty", "nempty"],
  sortable: false,
  writable: false,
};

/** Iterates an array: every column to its right runs once per item ({$item}, {$index}). */
export const loop: ColumnTypeImpl = {
  family: "action",
  configSchema: z.object({ loopSourceColumnId: columnRef, ...triggerSettings }),
  pgType: () => "jsonb",
  coerce: readOnly("loop"),
  serialize: stored,
  operators: ["empty", "nempty"],
  sortable: false,
  writable: false,
};

export const ROLLUP_AGGREGATORS = ["sum", "avg", "min", "max", "count", "count_distinct", "concat"] as const;

/** Aggregates a column of the rows a relation column links to; kept current as they change. */
export const rollup: ColumnTypeImpl = {
  family: "computed",
  configSchema: z.object({
    rollupRelationColumnId: columnRef,
    rollupTargetColumnId: columnRef,
    rollupAggregator: z.enum(ROLLUP_AGGREGATORS),
  }),
  pgType: () => "jsonb",
  coerce: readOnly("rollup"),
  serialize: stored,
  operators: ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "empty", "nempty"],
  sortable: true,
  writable: false,
};
