// The catalog a model reads first: column types with their settings and operators, and the
// integration groups of the workspace (the built-in catalog plus its custom HTTP actions).
import { z } from "zod";
import { claimsText } from "../../auth/principal.ts";
import { COLUMN_TYPES, registry } from "../../columns/registry.ts";
import { asPrincipal } from "../../db/client.ts";
import { computeCell } from "../../engine/service.ts";
import { badRequest } from "../../http/errors.ts";
import { describeGroup, groupsFor } from "../../integrations/catalog.ts";
import { onTable, READ, tool, type ToolContext } from "../tool.ts";
import { id, tableId } from "./records.ts";

/** The workspace's integration groups, as REST's GET /integrations shows them. */
const integrationsOf = (ctx: ToolContext) =>
  asPrincipal(
    claimsText(ctx.principal),
    async (tx) => (await groupsFor(tx, ctx.principal.workspaceId)).map(describeGroup),
  );

export const catalogTools = [
  tool({
    name: "check_column_types",
    scope: "full",
    title: "Column types and integrations",
    description: "Call this first. The live catalog: every column type with its family, settings, filter " +
      "operators and whether clients write it; the integration groups installed; the AI agents available.",
    input: {},
    annotations: READ,
    async run(ctx) {
      const types = COLUMN_TYPES.map((name) => {
        const impl = registry[name];
        return {
          type: name,
          family: impl.family,
          writable: impl.writable,
          options: impl.hasOptions ?? false,
          settings: Object.keys(impl.configSchema.shape),
          operators: impl.operators,
          sortable: impl.sortable,
        };
      });
      const integrations = (await integrationsOf(ctx)).map((g) => ({
        name: g.id,
        label: g.label,
        description: g.description,
        credential_modes: g.credential.modes,
        actions: g.actions.map((a) => a.name),
      }));
      return {
        value: {
          column_types: types,
          integrations,
          action_column: "type 'action' with integration, actionName, inputMapping ({input: template}), " +
            "credentialMode (admin_credential + credentialId | editor_credential + credential | platform_llm)",
          agents: [],
        },
      };
    },
  }),
  tool({
    name: "list_special_field_groups",
    scope: "full",
    title: "Installed integrations",
    description: "Integration groups installed in this workspace (each offers actions usable by action columns).",
    input: {},
    annotations: READ,
    async run(ctx) {
      const groups = await integrationsOf(ctx);
      return {
        value: groups.map((g) => ({
          name: g.id,
          label: g.label,
          category: g.category,
          description: g.description,
          credential_modes: g.credential.modes,
          actions: g.actions.length,
        })),
      };
    },
  }),
  tool({
    name: "list_special_field_requests",
    scope: "full",
    title: "Actions of an integration",
    description: "The actions inside one integration group, with what each needs.",
    input: { group: z.string().min(1).describe("The group's name from list_special_field_groups.") },
    annotations: READ,
    async run(ctx, a) {
      const groups = await integrationsOf(ctx);
      const group = groups.find((g) =>
        g.id === a.group.toLowerCase() || g.label.toLowerCase() === a.group.toLowerCase()
      );
      if (!group) throw badRequest(`No integration group '${a.group}'; groups: ${groups.map((g) => g.id).join(", ")}`);
      return { value: group.actions };
    },
  }),
  tool({
    name: "compute_cell",
    scope: "data",
    title: "Recompute a cell",
    description: "Re-runs a computed column (formula, rollup, json_parser) on one record and returns the value.",
    input: {
      table_id: tableId,
      record_id: id("The record's id."),
      column: z.union([z.string().min(1), z.number().int().positive()]).describe("The computed column (name or id)."),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
    async run(ctx, a) {
      const tableId = onTable(ctx, a.table_id);
      return { value: await computeCell(ctx.principal, tableId, a.record_id, a.column) };
    },
  }),
];
