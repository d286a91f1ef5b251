// Record tools: fields by column name in and out, writes without the columns AI may not touch.
import { z } from "zod";
import * as records from "../../records/service.ts";
import { filterInput, normaliseFilter } from "../../records/filters.ts";
import { parseSort } from "../../records/query.ts";
import { parseWith } from "../../http/validate.ts";
import { byName, DESTROY, EDIT, onTable, READ, tool, WRITE } from "../tool.ts";

export const id = (what: string) => z.coerce.number().int().positive().describe(what);
export const tableId = id("The table's id (from list_tables).");
const recordId = id("The record's id.");
const fields = z.record(z.string(), z.unknown()).describe(
  'Values by column name (or col_<id>), e.g. { "Name": "Ada", "Status": "Active" }. Select columns take ' +
    "option labels or ids; relation columns take lists of record ids; dates are ISO 8601.",
);
const fieldNames = z.array(z.string()).max(200).optional().describe("Only these columns (by name); all if omitted.");

function stripNote(stripped: string[]) {
  return stripped.length > 0
    ? [`Not written (ai_populates: false, owned by people): ${stripped.join(", ")}.`]
    : undefined;
}

export const recordTools = [
  tool({
    name: "list_records",
    scope: "data",
    title: "List records",
    description: "Rows of a table, with filters, sorting and paging (as the REST API). Filters are JSON: " +
      '{"field":"Status","op":"eq","value":"Active"}, or {"and":[…]} / {"or":[…]} groups of them. Operators: eq, ' +
      "neq, contains, ncontains, gt, gte, lt, lte, empty, nempty, in, nin, starts_with (list_columns says which " +
      "a column supports). Pass next_cursor back as cursor for the next page.",
    input: {
      table_id: tableId,
      filters: z.unknown().optional().describe("A filter node or a list of them (ANDed); see the description."),
      sort: z.string().max(500).optional().describe(
        "Columns to sort by, comma-separated; '-' for descending: 'Name,-Age'.",
      ),
      fields: fieldNames,
      limit: z.coerce.number().int().min(1).max(200).default(25).describe("Rows per page, 1-200 (default 25)."),
      cursor: z.string().max(2000).optional().describe("next_cursor from the previous page."),
      count: z.boolean().optional().describe("Also return the total number of matching rows."),
    },
    annotations: READ,
    async run(ctx, a) {
      const table = onTable(ctx, a.table_id);
      const filter = normaliseFilter(parseWith(filterInput.optional(), a.filters, "Invalid filters"));
      const page = await records.queryRecords(ctx.principal, table, {
        filter,
        sort: parseSort(a.sort),
        fields: a.fields,
        limit: a.limit,
        cursor: a.cursor,
        count: a.count,
      });
      return {
        value: { ...page, records: page.records.map((r) => byName(table, r)) },
        untrusted: true,
      };
    },
  }),
  tool({
    name: "get_record",
    scope: "data",
    title: "Get a record",
    description: "One row by id, with its fields by column name.",
    input: { table_id: tableId, record_id: recordId, fields: fieldNames },
    annotations: READ,
    async run(ctx, a) {
      const table = onTable(ctx, a.table_id);
      return {
        value: byName(table, await records.getRecord(ctx.principal, table, a.record_id, a.fields)),
        untrusted: true,
      };
    },
  }),
  tool({
    name: "create_record",
    scope: "data",
    title: "Create a record",
    description: "Inserts one row. Columns flagged ai_populates: false are owned by people: values for them are " +
      "dropped (the result says which). Required columns must be given.",
    input: { table_id: tableId, fields },
    annotations: WRITE,
    async run(ctx, a) {
      const table = onTable(ctx, a.table_id);
      const { record, stripped } = await records.createRecord(ctx.principal, table, a.fields, { stripAiOwned: true });
      return { value: byName(table, record), notes: stripNote(stripped) };
    },
  }),
  tool({
    name: "update_record",
    scope: "data",
    title: "Update a record",
    description: "Changes the given fields of one row and keeps the others. Columns flagged ai_populates: false " +
      "are dropped (the result says which).",
    input: { table_id: tableId, record_id: recordId, fields },
    annotations: EDIT,
    async run(ctx, a) {
      const table = onTable(ctx, a.table_id);
      const { record, stripped } = await records.updateRecord(ctx.principal, table, a.record_id, a.fields, {
        stripAiOwned: true,
      });
      return { value: byName(table, record), notes: stripNote(stripped) };
    },
  }),
  tool({
    name: "delete_record",
    scope: "data",
    title: "Delete a record",
    description: "Deletes one row; relation columns that pointed at it forget it.",
    input: { table_id: tableId, record_id: recordId },
    annotations: DESTROY,
    async run(ctx, a) {
      const table = onTable(ctx, a.table_id);
      await records.deleteRecords(ctx.principal, table, [a.record_id], true);
      return { value: { id: a.record_id, deleted: true } };
    },
  }),
];
