// Inputs of the workspace administration endpoints.
import { z } from "zod";
import { ROLES } from "../auth/workspace.ts";
import { TOKEN_TYPES } from "../auth/tokens.ts";

const name = z.string().trim().min(1, "must not be empty").max(200);

export const createWorkspaceInput = z.strictObject({ name });
export const updateWorkspaceInput = z.strictObject({ name: name.optional() });

export const addMemberInput = z.strictObject({
  user_id: z.uuid().optional(),
  email: z.email().optional(),
  role: z.enum(ROLES).default("viewer"),
}).refine((v) => (v.user_id === undefined) !== (v.email === undefined), {
  message: "give exactly one of user_id or email",
});

export const updateMemberInput = z.strictObject({ role: z.enum(ROLES) });

export const tablePermissionInput = z.strictObject({
  table_id: z.coerce.number().int().positive(),
  can_read_all: z.boolean().default(false),
  can_create: z.boolean().default(false),
  can_edit: z.boolean().default(false),
  can_delete: z.boolean().default(false),
});

const permissions = z.array(tablePermissionInput).max(10_000).refine(
  (rows) => new Set(rows.map((r) => r.table_id)).size === rows.length,
  { message: "each table_id may appear once" },
);

export const createTokenInput = z.strictObject({
  name,
  token_type: z.enum(TOKEN_TYPES),
  expires_at: z.iso.datetime({ offset: true }).optional().refine((v) => v === undefined || Date.parse(v) > Date.now(), {
    message: "must be in the future",
  }),
  rate_limit_per_minute: z.number().int().positive().max(1_000_000).optional(),
  permissions: permissions.optional(),
});

export const setPermissionsInput = z.strictObject({ permissions });

export type TablePermissionInput = z.infer<typeof tablePermissionInput>;
