// Schema tools: tables, columns and views, through the same services as REST.
import { z } from "zod";
import * as columns from "../../columns/service.ts";
import * as tables from "../../tables/service.ts";
import * as views from "../../views/service.ts";
import { DESTROY, EDIT, onTable, READ, tool, WRITE } from "../tool.ts";
import { tableId } from "./records.ts";

const columnRef = z.union([z.string().min(1), z.number().int().positive()]).describe(
  "The column: its name, its id, or col_<id>.",
);
const settings = z.record(z.string(), z.unknown()).optional().describe(
  'Type-specific settings as flat camelCase keys, e.g. { "relationTableId": 12 } or { "includeTime": true }; ' +
    "check_column_types lists them per type.",
);
const columnBody = {
  name: z.string().min(1).max(200).describe("Column name, unique in the table."),
  type: z.string().describe("A column type from check_column_types, e.g. text, number, single_select."),
  required: z.boolean().optional(),
  options: z.array(z.object({ id: z.string().optional(), label: z.string(), color: z.string().optional() }))
    .optional().describe("Choices of single_select / multi_select columns."),
  default: z.unknown().optional().describe("Value new records get when none is given."),
  ai_populates: z.boolean().optional().describe("false: AI writes to this column are dropped; people own it."),
  ai_purpose: z.string().max(2000).optional().describe("What the column is for, as a hint to models."),
  settings,
};

export const schemaTools = [
  tool({
    name: "list_tables",
    scope: "data",
    title: "List tables",
    description: "Tables this token can see, each with what the token may do with it (can_read_all, can_create, " +
      "can_edit, can_delete).",
    input: {},
    annotations: READ,
    async run(ctx) {
      return { value: await tables.listTables(ctx.http, ctx.principal) };
    },
  }),
  tool({
    name: "create_table",
    scope: "full",
    title: "Create a table",
    description: "Creates a table (a real Postgres table) with optional initial columns, in one step.",
    input: {
      name: z.string().min(1).max(200),
      icon: z.string().max(100).optional().describe("A Lucide icon name, e.g. Users."),
      columns: z.array(z.object(columnBody)).max(100).optional(),
    },
    annotations: WRITE,
    async run(ctx, a) {
      const body = { ...a, columns: a.columns?.map(flattenColumn) };
      const table = await tables.createTable(ctx.http, ctx.principal, body);
      onTable(ctx, table.id);
      return { value: table };
    },
  }),
  tool({
    name: "delete_table",
    scope: "full",
    title: "Delete a table",
    description: "Drops a table with all its records, columns and views. This cannot be undone.",
    input: { table_id: tableId },
    annotations: DESTROY,
    async run(ctx, a) {
      return { value: await tables.deleteTable(ctx.principal, onTable(ctx, a.table_id)) };
    },
  }),
  tool({
    name: "list_columns",
    scope: "data",
    title: "List columns",
    description: "Columns of a table in order: name, type, settings, whether AI may write them (ai_populates) " +
      "and what they are for (ai_purpose).",
    input: { table_id: tableId },
    annotations: READ,
    async run(ctx, a) {
      return { value: await columns.listColumns(ctx.principal, onTable(ctx, a.table_id)) };
    },
  }),
  tool({
    name: "create_column",
    scope: "full",
    title: "Add a column",
    description: "Adds a column of any type to a table.",
    input: { table_id: tableId, ...columnBody, position: z.number().optional() },
    annotations: WRITE,
    async run(ctx, a) {
      const { table_id, ...body } = a;
      return { value: await columns.createColumn(ctx.principal, onTable(ctx, table_id), flattenColumn(body)) };
    },
  }),
  tool({
    name: "update_column",
    scope: "full",
    title: "Change a column",
    description: "Renames a column or changes its type, options or settings. A type change converts existing " +
      "values when that loses nothing, and is refused (naming rows) otherwise.",
    input: {
      table_id: tableId,
      column: columnRef,
      name: z.string().min(1).max(200).optional(),
      type: z.string().optional(),
      required: z.boolean().optional(),
      options: columnBody.options,
      default: z.unknown().optional(),
      ai_populates: z.boolean().optional(),
      ai_purpose: z.string().max(2000).optional(),
      position: z.number().optional(),
      settings,
    },
    annotations: EDIT,
    async run(ctx, a) {
      const { table_id, column, ...changes } = a;
      return {
        value: await columns.updateColumn(ctx.principal, onTable(ctx, table_id), column, flattenColumn(changes)),
      };
    },
  }),
  tool({
    name: "delete_column",
    scope: "full",
    title: "Remove a column",
    description: "Removes a column and its values from every record.",
    input: { table_id: tableId, column: columnRef },
    annotations: DESTROY,
    async run(ctx, a) {
      return { value: await columns.deleteColumn(ctx.principal, onTable(ctx, a.table_id), a.column) };
    },
  }),
  tool({
    name: "list_views",
    scope: "data",
    title: "List views",
    description: "Saved views of a table (grid, kanban, gallery, form, calendar, timeline) with their settings.",
    input: { table_id: tableId },
    annotations: READ,
    async run(ctx, a) {
      return { value: await views.listViews(ctx.principal, onTable(ctx, a.table_id)) };
    },
  }),
  tool({
    name: "create_view",
    scope: "full",
    title: "Create a view",
    description: "Saves a view of a table. kanban needs kanban_column_id (a single_select column); calendar " +
      "needs date_column_id; timeline needs date_column_id and end_date_column_id; form takes form_config.",
    input: {
      table_id: tableId,
      name: z.string().min(1).max(200),
      view_type: z.enum(views.VIEW_TYPES),
      kanban_column_id: z.unknown().optional(),
      date_column_id: z.unknown().optional(),
      end_date_column_id: z.unknown().optional(),
      filters: z.unknown().optional().describe("Filters as in list_records."),
      sort: z.unknown().optional(),
      form_config: z.unknown().optional(),
      hidden_columns: z.array(z.unknown()).optional(),
    },
    annotations: WRITE,
    async run(ctx, a) {
      const { table_id, ...body } = a;
      const defined = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
      return { value: await views.createView(ctx.principal, onTable(ctx, table_id), defined) };
    },
  }),
];

/** MCP's `settings` object → the REST column body's flat keys. */
function flattenColumn<T extends { settings?: Record<string, unknown> }>(column: T) {
  const { settings, ...rest } = column;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  return { ...settings, ...defined };
}
