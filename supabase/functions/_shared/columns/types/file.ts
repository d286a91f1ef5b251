import { z } from "zod";
import { CellError, type ColumnTypeImpl } from "../type.ts";
import { describeIssues } from "../../http/validate.ts";

/** A reference to an object in Supabase Storage (bucket + path), with what a client shows. */
const fileRef = z.strictObject({
  bucket: z.string().min(1).max(100).regex(/^[a-z0-9][a-z0-9._-]*$/, "bucket ids are lowercase"),
  path: z.string().min(1).max(1024).refine((p) => !p.split("/").includes(".."), "path must not contain '..'"),
  name: z.string().max(255).optional(),
  size: z.number().int().nonnegative().optional(),
  mime_type: z.string().max(255).optional(),
});

export const file: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({ maxFiles: z.number().int().positive().max(100).optional() }),
  pgType: () => "jsonb",
  coerce(value, column) {
    const list = Array.isArray(value) ? value : [value];
    const parsed = z.array(fileRef).safeParse(list);
    if (!parsed.success) {
      throw new CellError(
        `expected a list of {bucket, path, name?, size?, mime_type?}: ${describeIssues(parsed.error)}`,
      );
    }
    const max = column.config.maxFiles as number | undefined;
    if (max !== undefined && parsed.data.length > max) throw new CellError(`at most ${max} files`);
    return parsed.data;
  },
  serialize: (value) => value ?? [],
  operators: ["empty", "nempty"],
  sortable: false,
  writable: true,
};
