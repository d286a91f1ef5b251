import { z } from "zod";
import { CellError, type ColumnTypeImpl } from "../type.ts";
import { describe } from "./text.ts";

export const checkbox: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({ indexed: z.boolean().optional() }),
  pgType: () => "boolean",
  coerce(value) {
    if (typeof value === "boolean") return value;
    if (value === "true") return true;
    if (value === "false") return false;
    throw new CellError(`expected true or false, got ${describe(value)}`);
  },
  // An unticked box and an untouched one read the same.
  serialize: (value) => value === true,
  operators: ["eq", "neq", "empty", "nempty"],
  sortable: true,
  writable: true,
};
