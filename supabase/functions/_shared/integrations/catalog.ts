// The integration catalog: every action group, as data. The `action` column type, the REST
// /integrations endpoints and the MCP catalog tools all read it from here.
import { z } from "zod";
import type { Sql, Tx } from "../db/client.ts";
import { type CustomActionRow, customHttp } from "./groups/custom_http.ts";
import { openai } from "./groups/openai.ts";
import { resend } from "./groups/resend.ts";
import { slack } from "./groups/slack.ts";
import { stripe } from "./groups/stripe.ts";
import { telegram } from "./groups/telegram.ts";
import type { ActionDef, IntegrationGroup } from "./types.ts";

/** Built-in groups; "custom_http" is added per workspace from its custom actions. */
export const BUILT_IN: readonly IntegrationGroup[] = [openai, stripe, slack, telegram, resend];

export const CUSTOM_ACTION_FIELDS = `id, workspace_id, name, description, method, url, headers, body, input_schema,
  credential_id, auth_header, auth_scheme`;

export async function customActions(tx: Tx | Sql, workspaceId: number): Promise<CustomActionRow[]> {
  return await tx<CustomActionRow[]>`
    select ${
    tx.unsafe(CUSTOM_ACTION_FIELDS)
  } from public.custom_actions where workspace_id = ${workspaceId} order by name`;
}

/** Every group a workspace can use. */
export async function groupsFor(tx: Tx, workspaceId: number): Promise<IntegrationGroup[]> {
  return [...BUILT_IN, customHttp(await customActions(tx, workspaceId))];
}

/**
 * One action of one group, or null. Custom actions are looked up in the workspace and come with
 * the workspace credential they carry.
 */
export async function findAction(
  tx: Tx | Sql,
  workspaceId: number,
  group: string,
  name: string,
): Promise<{ group: IntegrationGroup; action: ActionDef; credentialId?: number | null } | null> {
  if (group === "custom_http") {
    const [row] = await tx<CustomActionRow[]>`
      select ${tx.unsafe(CUSTOM_ACTION_FIELDS)} from public.custom_actions
      where workspace_id = ${workspaceId} and name = ${name}`;
    if (!row) return null;
    const g = customHttp([row]);
    return { group: g, action: g.actions[0], credentialId: row.credential_id };
  }
  const g = BUILT_IN.find((x) => x.id === group);
  const a = g?.actions.find((x) => x.name === name);
  return g && a ? { group: g, action: a } : null;
}

/** The shape clients see: each action's input as JSON Schema. */
export function describeGroup(g: IntegrationGroup) {
  return {
    id: g.id,
    label: g.label,
    category: g.category,
    description: g.description,
    credential: { label: g.credential.label, modes: g.credential.modes },
    actions: g.actions.map((a) => ({
      name: a.name,
      label: a.label,
      description: a.description,
      input_schema: z.toJSONSchema(a.input, { io: "input", unrepresentable: "any" }),
    })),
  };
}
