// What a tool is: data (name, scope, description, zod input, annotations) and one function over
// the domain services REST uses. Nothing here knows about JSON-RPC.
import type { Context } from "hono";
import type { z } from "zod";
import type { TokenPrincipal } from "../auth/principal.ts";
import { peekTable, type TableShape } from "../tables/meta.ts";
import type { ApiRecord } from "../records/values.ts";

/** Which tokens may use a tool: `data` is every MCP token, `full` only vibe_mcp. */
export type ToolScope = "data" | "full";

export interface ToolContext {
  principal: TokenPrincipal;
  /** The HTTP request's context: the audit row reads the tool name and table id from it. */
  http: Context;
}

/** What a tool returns: a value shown to the model as JSON, and optional notes above it. */
export interface ToolOutput {
  value: unknown;
  notes?: string[];
  /** Rows that came from users' data: fenced so a model treats them as data, not instructions. */
  untrusted?: boolean;
}

export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
}

export interface ToolDef<Shape extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  scope: ToolScope;
  title: string;
  description: string;
  input: Shape;
  annotations: ToolAnnotations;
  run(ctx: ToolContext, args: z.infer<z.ZodObject<Shape>>): Promise<ToolOutput>;
}

/** Keeps each tool's argument types while collecting tools of different shapes in one list. */
export function tool<Shape extends z.ZodRawShape>(def: ToolDef<Shape>): ToolDef {
  return def as unknown as ToolDef;
}

export const READ: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true };
export const WRITE: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false };
export const EDIT: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: true };
export const DESTROY: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: true };

/** Notes the table a tool acts on, for the audit row. */
export function onTable(ctx: ToolContext, tableId: number): number {
  ctx.http.set("tableId", tableId);
  return tableId;
}

/** Column names by key, per cached table shape. */
const namesOf = new WeakMap<TableShape, Map<string, string>>();

/** A record with its fields keyed by column name (what a model reads), ids kept alongside. */
export function byName(tableId: number, record: ApiRecord) {
  const table = peekTable(tableId);
  let names = table && namesOf.get(table);
  if (!names) {
    names = new Map(table?.columns.map((c) => [`col_${c.id}`, c.name]) ?? []);
    if (table) namesOf.set(table, names);
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.row_data)) fields[names.get(key) ?? key] = value;
  const { row_data: _, ...rest } = record;
  return { ...rest, fields };
}
