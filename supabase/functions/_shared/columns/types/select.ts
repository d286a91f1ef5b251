import { z } from "zod";
import { CellError, type Column, type ColumnTypeImpl } from "../type.ts";
import { describe } from "./text.ts";

/** An option id, or a label (case-insensitive) mapped to its id. */
function optionId(value: unknown, column: Column): string {
  if (typeof value !== "string" && typeof value !== "number") {
    throw new CellError(`expected an option id or label, got ${describe(value)}`);
  }
  const s = String(value);
  const byId = column.options.find((o) => o.id === s);
  if (byId) return byId.id;
  const lower = s.toLowerCase();
  const byLabel = column.options.find((o) => o.label.toLowerCase() === lower);
  if (byLabel) return byLabel.id;
  const known = column.options.slice(0, 10).map((o) => `${o.id} (${o.label})`).join(", ");
  throw new CellError(`"${s}" is not one of its options: ${known || "the column has no options"}`);
}

const config = z.object({ indexed: z.boolean().optional() });

export const singleSelect: ColumnTypeImpl = {
  family: "data",
  configSchema: config,
  hasOptions: true,
  pgType: () => "text",
  coerce: (value, column) => optionId(value, column),
  serialize: (value) => value,
  operators: ["eq", "neq", "in", "nin", "empty", "nempty"],
  sortable: true,
  writable: true,
};

export const multiSelect: ColumnTypeImpl = {
  family: "data",
  configSchema: config,
  hasOptions: true,
  pgType: () => "text[]",
  coerce(value, column) {
    const list = Array.isArray(value) ? value : [value];
    return [...new Set(list.map((v) => optionId(v, column)))];
  },
  serialize: (value) => value ?? [],
  operators: ["contains", "ncontains", "eq", "in", "nin", "empty", "nempty"],
  sortable: false,
  writable: true,
};

/** Used by filters: the stored id of an option given by id or label. */
export { optionId };
