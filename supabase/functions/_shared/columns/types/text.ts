import { z } from "zod";
import { CellError, type ColumnTypeImpl } from "../type.ts";

export const text: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({ richText: z.boolean().optional(), indexed: z.boolean().optional() }),
  pgType: () => "text",
  coerce(value) {
    if (typeof value === "string") {
      if (value.includes("\u0000")) throw new CellError("text cannot contain the NUL character (\\u0000)");
      return value;
    }
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    throw new CellError(`expected text, got ${describe(value)}`);
  },
  serialize: (value) => value,
  operators: [
    "eq",
    "neq",
    "contains",
    "ncontains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "empty",
    "nempty",
  ],
  sortable: true,
  writable: true,
};

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `"${value.length > 40 ? value.slice(0, 40) + "…" : value}"`;
  return `${typeof value} ${String(value)}`;
}
