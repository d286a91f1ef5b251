// The catalog a model reads first: column types with their settings and operators, and the
// integration groups installed (none ship before the automation engine's catalog).
import { z } from "zod";
import { COLUMN_TYPES, registry } from "../../columns/registry.ts";
import { computeCell } from "../../engine/service.ts";
import { badRequest } from "../../http/errors.ts";
import { onTable, READ, tool } from "../tool.ts";
import { id, tableId } from "./records.ts";

/** Integration groups; the automation engine registers its catalog here. */
export const INTEGRATION_GROUPS: {
  name: string;
  description: string;
  actions: { name: string; description: string }[];
}[] = [];

export const catalogTools = [
  tool({
    name: "check_column_types",
    scope: "full",
    title: "Column types and integrations",
    description: "Call this first. The live catalog: every column type with its family, settings, filter " +
      "operators and whether clients write it; the integration groups installed; the AI agents available.",
    input: {},
    annotations: READ,
    run() {
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
      return Promise.resolve({
        value: {
          column_types: types,
          integrations: INTEGRATION_GROUPS.map((g) => ({ name: g.name, description: g.description })),
          agents: [],
        },
      });
    },
  }),
  tool({
    name: "list_special_field_groups",
    scope: "full",
    title: "Installed integrations",
    description: "Integration groups installed in this workspace (each offers actions usable by action columns).",
    input: {},
    annotations: READ,
    run() {
      return Promise.resolve({
        value: INTEGRATION_GROUPS.map((g) => ({ name: g.name, description: g.description, actions: g.actions.length })),
      });
    },
  }),
  tool({
    name: "list_special_field_requests",
    scope: "full",
    title: "Actions of an integration",
    description: "The actions inside one integration group, with what each needs.",
    input: { group: z.string().min(1).describe("The group's name from list_special_field_groups.") },
    annotations: READ,
    run(_ctx, a) {
      const group = INTEGRATION_GROUPS.find((g) => g.name.toLowerCase() === a.group.toLowerCase());
      if (!group) {
        const known = INTEGRATION_GROUPS.map((g) => g.name).join(", ") || "none are installed";
        throw badRequest(`No integration group '${a.group}'; groups: ${known}`);
      }
      return Promise.resolve({ value: group.actions });
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
