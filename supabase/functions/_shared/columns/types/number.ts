import { z } from "zod";
import { CellError, type ColumnTypeImpl } from "../type.ts";
import { describe } from "./text.ts";

export const number: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({ decimals: z.number().int().min(0).max(10).optional(), indexed: z.boolean().optional() }),
  pgType: () => "double precision",
  coerce(value) {
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof n === "number" && Number.isFinite(n)) return n;
    throw new CellError(`expected a number, got ${describe(value)}`);
  },
  serialize: (value) => value,
  operators: ["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "empty", "nempty"],
  sortable: true,
  writable: true,
};
