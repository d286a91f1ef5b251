// "Custom HTTP": endpoints a workspace admin registered as reusable actions (custom_actions).
// Their URL, headers and body are templates over the action's inputs ({name}); they go out
// through the guarded fetch like every user-configured request.
import { z } from "zod";
import { ActionFailed, RetryableError } from "../../engine/errors.ts";
import { renderJson, renderText, type TemplateScope } from "../../engine/templates.ts";
import { guardedFetch, OutboundRefused } from "../../net/guarded_fetch.ts";
import type { ActionDef, IntegrationGroup } from "../types.ts";

export const INPUT_TYPES = ["string", "number", "boolean", "object", "array"] as const;

export const inputSchemaInput = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "input names are identifiers (letters, digits, _)"),
  z.strictObject({
    type: z.enum(INPUT_TYPES).default("string"),
    required: z.boolean().default(false),
    description: z.string().max(500).optional(),
  }),
).refine((o) => Object.keys(o).length <= 50, { message: "at most 50 inputs" });

export interface CustomActionRow {
  id: number;
  workspace_id: number;
  name: string;
  description: string | null;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  input_schema: z.infer<typeof inputSchemaInput>;
  credential_id: number | null;
  auth_header: string;
  auth_scheme: string;
}

const FIELD: Record<typeof INPUT_TYPES[number], () => z.ZodType> = {
  string: () => z.string().max(100_000),
  number: () => z.coerce.number(),
  boolean: () => z.coerce.boolean(),
  object: () => z.record(z.string(), z.unknown()),
  array: () => z.array(z.unknown()),
};

function inputOf(row: CustomActionRow): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(row.input_schema ?? {})) {
    const field = FIELD[spec.type]();
    const described = spec.description ? field.describe(spec.description) : field;
    shape[name] = spec.required ? described : described.optional();
  }
  return z.object(shape);
}

export function customAction(row: CustomActionRow): ActionDef {
  return {
    name: row.name,
    label: row.name,
    description: row.description ?? `${row.method} ${row.url}`,
    input: inputOf(row),
    async run(input, ctx) {
      const scope: TemplateScope = { row: input as Record<string, unknown> };
      const url = renderText(row.url, scope, { url: true });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(row.headers ?? {})) headers[k] = renderText(v, scope);
      let body: string | undefined;
      if (row.body && row.method !== "GET") {
        const json = /^\s*[[{]/.test(row.body);
        body = json ? renderJson(row.body, scope) : renderText(row.body, scope);
        if (json) headers["content-type"] ??= "application/json";
      }
      const request = { method: row.method, url, headers: { ...headers }, body: body ?? null };
      if (row.credential_id !== null) {
        if (!ctx.secret) throw new ActionFailed(`custom action ${row.name}: its credential was removed`);
        headers[row.auth_header] = row.auth_scheme ? `${row.auth_scheme} ${ctx.secret}` : ctx.secret;
        request.headers[row.auth_header] = "***";
      }
      let res;
      try {
        res = await guardedFetch(url, {
          method: row.method,
          headers,
          body,
          credentialHeaders: row.credential_id !== null ? [row.auth_header] : [],
        });
      } catch (e) {
        if (e instanceof OutboundRefused) throw new ActionFailed(e.message);
        throw new RetryableError(`${new URL(url).host}: ${(e as Error).message}`);
      }
      let parsed: unknown = res.body;
      try {
        parsed = JSON.parse(res.body);
      } catch { /* text */ }
      const response = { status: res.status, body: parsed };
      if (res.status === 429 || res.status >= 500) {
        throw new RetryableError(`HTTP ${res.status} from ${new URL(res.url).host}`);
      }
      if (res.status >= 400) throw new ActionFailed(`HTTP ${res.status} from ${new URL(res.url).host}`, response);
      return { value: parsed, request, response };
    },
  };
}

/** The group as listed: its actions are the workspace's own (see catalog.groupsFor). */
export const customHttp = (rows: CustomActionRow[]): IntegrationGroup => ({
  id: "custom_http",
  label: "Custom HTTP",
  category: "Dev & data",
  description: "Any HTTP endpoint, registered by a workspace admin as a reusable action (POST /custom-actions).",
  credential: { label: "Set on the custom action by the admin (a workspace credential)", modes: [] },
  actions: rows.map(customAction),
});
