import { z } from "zod";
import { CellError, type ColumnTypeImpl } from "../type.ts";
import { describe } from "./text.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One or more users of this workspace (checked against workspace_members when written). */
export const userReference: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({ multiple: z.boolean().optional(), indexed: z.boolean().optional() }),
  pgType: () => "uuid[]",
  coerce(value, column) {
    const list = Array.isArray(value) ? value : [value];
    const ids = list.map((v) => {
      const id = typeof v === "object" && v !== null && "id" in v ? (v as { id: unknown }).id : v;
      if (typeof id !== "string" || !UUID.test(id)) {
        throw new CellError(`expected a user id (UUID), got ${describe(v)}`);
      }
      return id.toLowerCase();
    });
    const unique = [...new Set(ids)];
    if (column.config.multiple === false && unique.length > 1) throw new CellError("takes a single user");
    return unique;
  },
  serialize: (value) => value ?? [],
  operators: ["contains", "ncontains", "in", "nin", "empty", "nempty"],
  sortable: false,
  writable: true,
  references: { kind: "workspace_users" },
};

/** Links to rows of another table of the same workspace; deleting a row unlinks it everywhere. */
export const relation: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({
    relationTableId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]),
    multiple: z.boolean().optional(),
  }),
  pgType: () => "bigint[]",
  coerce(value, column) {
    const list = Array.isArray(value) ? value : [value];
    const ids = list.map((v) => {
      const id = typeof v === "object" && v !== null && "id" in v ? (v as { id: unknown }).id : v;
      const n = typeof id === "string" && /^\d{1,15}$/.test(id) ? Number(id) : id;
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
        throw new CellError(`expected record ids, got ${describe(v)}`);
      }
      return n;
    });
    const unique = [...new Set(ids)];
    if (column.config.multiple === false && unique.length > 1) throw new CellError("takes a single record");
    return unique;
  },
  serialize: (value) => value ?? [],
  operators: ["contains", "ncontains", "in", "nin", "empty", "nempty"],
  sortable: false,
  writable: true,
  references: { kind: "rows" },
};
