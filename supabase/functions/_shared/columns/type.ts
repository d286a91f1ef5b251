// The interface every column type implements. Data types store a typed physical column; the
// computed and action families implement the same interface (with `compute`/`execute` hooks added
// by the engine) and are registered in the same table (registry.ts).
import type { z } from "zod";

export const FILTER_OPS = [
  "eq",
  "neq",
  "contains",
  "ncontains",
  "gt",
  "gte",
  "lt",
  "lte",
  "empty",
  "nempty",
  "in",
  "nin",
  "starts_with",
] as const;
export type FilterOp = typeof FILTER_OPS[number];

export type PgType =
  | "text"
  | "double precision"
  | "boolean"
  | "date"
  | "timestamptz"
  | "jsonb"
  | "text[]"
  | "uuid[]"
  | "bigint[]";

export type ColumnFamily = "data" | "computed" | "action";

/** A column as stored in app_columns. */
export interface Column {
  id: number;
  table_id: number;
  name: string;
  type: string;
  position: number;
  required: boolean;
  options: SelectOption[];
  config: Record<string, unknown>;
  default_value: unknown;
  ai_populates: boolean;
  ai_purpose: string | null;
  pg_type: PgType | null;
  created_at?: string;
  updated_at?: string;
}

export interface SelectOption {
  id: string;
  label: string;
  color?: string;
}

/** Raised by coerce(); the service prefixes the column's name. */
export class CellError extends Error {}

export interface ColumnTypeImpl {
  family: ColumnFamily;
  /** Type-specific settings accepted in the column body (merged into `config`). */
  configSchema: z.ZodObject;
  /** Whether `options: [{id, label, color}]` applies. */
  hasOptions?: boolean;
  /** The physical column type for a column with this config; null when nothing is stored. */
  pgType(config: Record<string, unknown>): PgType | null;
  /**
   * API value → stored value (what is sent to Postgres as JSON). Throws CellError with a message a
   * client can act on. null/undefined/"" mean empty and are handled before this is called.
   */
  coerce(value: unknown, column: Column): unknown;
  /** Stored value (as postgres.js returns it) → API value. */
  serialize(value: unknown, column: Column): unknown;
  /** Filter operators the type supports. */
  operators: readonly FilterOp[];
  /** Whether the column can be a sort key. */
  sortable: boolean;
  /** Whether values are written by clients (false for computed and action columns). */
  writable: boolean;
  /**
   * Values that must exist elsewhere, checked in one query per column per write:
   * users of the workspace, or rows of the table named by config.relationTableId.
   */
  references?: { kind: "workspace_users" } | { kind: "rows" };
}
