// Column bodies: common fields plus the type's own settings, flat (camelCase) as in the seed.
import { z } from "zod";
import { badRequest, HttpError } from "../http/errors.ts";
import { describeIssues } from "../http/validate.ts";
import { COLUMN_TYPES, type ColumnType, registry } from "./registry.ts";

const option = z.strictObject({
  id: z.string().trim().min(1).max(100).optional(),
  label: z.string().trim().min(1).max(200),
  color: z.string().max(50).optional(),
});

const base = {
  name: z.string().trim().min(1, "must not be empty").max(200),
  type: z.enum(COLUMN_TYPES),
  required: z.boolean(),
  options: z.array(option).max(1000),
  position: z.number().finite(),
  default: z.unknown().optional(),
  ai_populates: z.boolean(),
  ai_purpose: z.string().max(2000).nullable(),
};
const BASE_KEYS = new Set(Object.keys(base));

export const createColumnBase = z.object({
  ...base,
  required: base.required.optional(),
  options: base.options.optional(),
  position: base.position.optional(),
  ai_populates: base.ai_populates.optional(),
  ai_purpose: base.ai_purpose.optional(),
});
export const updateColumnBase = createColumnBase.partial();

export type ColumnOption = { id: string; label: string; color?: string };

export interface ColumnInput {
  name?: string;
  type?: ColumnType;
  required?: boolean;
  options?: ColumnOption[];
  position?: number;
  default?: unknown;
  hasDefault: boolean;
  ai_populates?: boolean;
  ai_purpose?: string | null;
  /** The type-specific keys given in the body (validated by the type's schema). */
  config: Record<string, unknown>;
}

/** Option ids are slugs of their labels when not given; ids are unique within a column. */
function normaliseOptions(options: z.infer<typeof option>[] | undefined): ColumnOption[] | undefined {
  if (!options) return undefined;
  const seen = new Set<string>();
  return options.map((o, i) => {
    let id = o.id ?? (o.label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "") || `option_${i + 1}`);
    if (!o.id) { while (seen.has(id)) id = `${id}_${i + 1}`; }
    if (seen.has(id)) throw badRequest(`options: duplicate option id '${id}'`);
    seen.add(id);
    return { id, label: o.label, ...(o.color ? { color: o.color } : {}) };
  });
}

/**
 * Splits a column body into the common fields and the type's settings, validating both. `type`
 * is the column's type after the change (for an update without a type change, its current type).
 */
export function parseColumnBody(body: unknown, mode: "create" | "update", currentType?: ColumnType): ColumnInput {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("Invalid body: expected an object");
  }
  const common: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) (BASE_KEYS.has(k) ? common : rest)[k] = v;
  const schema = mode === "create" ? createColumnBase : updateColumnBase;
  const parsed = schema.safeParse(common);
  if (!parsed.success) throw new HttpError(400, "validation_failed", `Invalid column: ${describeIssues(parsed.error)}`);
  const type = (parsed.data.type ?? currentType) as ColumnType;
  const impl = registry[type];
  // An update that keeps the type may send any subset of its settings; a new type needs all of its own.
  const keepsType = mode === "update" && (parsed.data.type === undefined || parsed.data.type === currentType);
  const config = (keepsType ? impl.configSchema.partial() : impl.configSchema).strict().safeParse(rest);
  if (!config.success) {
    throw new HttpError(400, "validation_failed", `Invalid ${type} column settings: ${describeIssues(config.error)}`);
  }
  if (parsed.data.options && !impl.hasOptions) throw badRequest(`options apply only to select columns, not ${type}`);
  return {
    ...parsed.data,
    options: normaliseOptions(parsed.data.options),
    hasDefault: Object.hasOwn(common, "default"),
    config: config.data as Record<string, unknown>,
  };
}
