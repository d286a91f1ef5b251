// /tables, /tables/:id/columns, /tables/:id/records, /tables/:id/views: the REST data core.
import type { Context, Hono } from "hono";
import { z } from "zod";
import { requireAuth, resource } from "../http/app.ts";
import { badRequest } from "../http/errors.ts";
import { idParam, jsonBody } from "../http/validate.ts";
import * as columns from "../columns/service.ts";
import * as records from "../records/service.ts";
import * as tables from "../tables/service.ts";
import * as views from "../views/service.ts";
import * as engine from "../engine/service.ts";
import { filtersFromQuery } from "../records/filters.ts";
import { type ListQuery, parseSort } from "../records/query.ts";

const MAX_BATCH = 1000;
const anyObject = z.record(z.string(), z.unknown());
const rowInput = z.strictObject({ row_data: z.unknown() });
const batchCreate = z.strictObject({
  records: z.array(rowInput).min(1).max(MAX_BATCH),
  atomic: z.boolean().optional(),
});
const id = z.union([z.number().int().positive(), z.string().regex(/^\d{1,15}$/).transform(Number)]);
const batchUpdate = z.strictObject({
  records: z.array(z.strictObject({ id, row_data: z.unknown() })).min(1).max(MAX_BATCH),
  atomic: z.boolean().optional(),
});
const batchDelete = z.strictObject({ ids: z.array(id).min(1).max(MAX_BATCH), atomic: z.boolean().optional() });

export function mountData(app: Hono) {
  const auth = requireAuth();

  // Tables -------------------------------------------------------------------------------------
  resource(app, "/tables", {
    GET: async (c) => c.json(await tables.listTables(c, c.var.principal)),
    POST: async (c) => c.json(await tables.createTable(c, c.var.principal, await jsonBody(c, anyObject)), 201),
  }, auth);

  resource(app, "/tables/:id", {
    GET: async (c) => c.json(await tables.getTable(c.var.principal, tableParam(c))),
    PATCH: async (c) => {
      const tableId = tableParam(c);
      return c.json(await tables.updateTable(c.var.principal, tableId, await jsonBody(c, anyObject)));
    },
    DELETE: async (c) => c.json(await tables.deleteTable(c.var.principal, tableParam(c))),
  }, auth);

  // Columns ------------------------------------------------------------------------------------
  resource(app, "/tables/:id/columns", {
    GET: async (c) => c.json(await columns.listColumns(c.var.principal, tableParam(c))),
    POST: async (c) => {
      const tableId = tableParam(c);
      return c.json(await columns.createColumn(c.var.principal, tableId, await jsonBody(c, anyObject)), 201);
    },
  }, auth);

  resource(app, "/tables/:id/columns/:colId", {
    GET: async (c) => c.json(await columns.getColumn(c.var.principal, tableParam(c), columnParam(c))),
    PATCH: async (c) => {
      const [tableId, colId] = [tableParam(c), columnParam(c)];
      return c.json(await columns.updateColumn(c.var.principal, tableId, colId, await jsonBody(c, anyObject)));
    },
    DELETE: async (c) => c.json(await columns.deleteColumn(c.var.principal, tableParam(c), columnParam(c))),
  }, auth);

  // Records (batch before :recordId, so "batch" is never read as an id) -------------------------
  resource(app, "/tables/:id/records", {
    GET: async (c) => c.json(await records.queryRecords(c.var.principal, tableParam(c), listQuery(c))),
    POST: async (c) => {
      const tableId = tableParam(c);
      const { row_data } = await jsonBody(c, rowInput);
      const { record } = await records.createRecord(c.var.principal, tableId, row_data ?? {});
      return c.json(record, 201);
    },
  }, auth);

  resource(app, "/tables/:id/records/batch", {
    POST: async (c) => {
      const tableId = tableParam(c);
      const body = await jsonBody(c, batchCreate);
      const result = await records.createRecords(
        c.var.principal,
        tableId,
        body.records.map((r) => r.row_data ?? {}),
        body.atomic ?? false,
      );
      return c.json(result, result.errors.length === 0 ? 201 : 200);
    },
    PATCH: async (c) => {
      const tableId = tableParam(c);
      const body = await jsonBody(c, batchUpdate);
      return c.json(await records.updateRecords(c.var.principal, tableId, body.records, body.atomic ?? false));
    },
    DELETE: async (c) => {
      const tableId = tableParam(c);
      const body = await jsonBody(c, batchDelete);
      return c.json(await records.deleteRecords(c.var.principal, tableId, body.ids, body.atomic ?? false));
    },
  }, auth);

  resource(app, "/tables/:id/records/:recordId", {
    GET: async (c) => {
      const fields = fieldsParam(c);
      return c.json(await records.getRecord(c.var.principal, tableParam(c), idParam(c, "recordId"), fields));
    },
    PATCH: async (c) => {
      const [tableId, recordId] = [tableParam(c), idParam(c, "recordId")];
      const { row_data } = await jsonBody(c, rowInput);
      const { record } = await records.updateRecord(c.var.principal, tableId, recordId, row_data ?? {});
      return c.json(record);
    },
    DELETE: async (c) => {
      const [tableId, recordId] = [tableParam(c), idParam(c, "recordId")];
      await records.deleteRecords(c.var.principal, tableId, [recordId], true);
      return c.json({ id: recordId, deleted: true });
    },
  }, auth);

  // The engine: execution log, run-actions, recompute one cell -----------------------------------
  resource(app, "/tables/:id/records/:recordId/executions", {
    GET: async (c) =>
      c.json({ executions: await engine.listExecutions(c.var.principal, tableParam(c), idParam(c, "recordId")) }),
  }, auth);

  resource(app, "/tables/:id/run-actions", {
    POST: async (c) => {
      const tableId = tableParam(c);
      return c.json(await engine.runActions(c.var.principal, tableId, await jsonBody(c, anyObject)));
    },
  }, auth);

  resource(app, "/tables/:id/records/:recordId/compute/:column", {
    POST: async (c) => {
      const [tableId, recordId] = [tableParam(c), idParam(c, "recordId")];
      return c.json(await engine.computeCell(c.var.principal, tableId, recordId, c.req.param("column") ?? ""));
    },
  }, auth);

  // Views --------------------------------------------------------------------------------------
  resource(app, "/tables/:id/views", {
    GET: async (c) => c.json(await views.listViews(c.var.principal, tableParam(c))),
    POST: async (c) => {
      const tableId = tableParam(c);
      return c.json(await views.createView(c.var.principal, tableId, await jsonBody(c, anyObject)), 201);
    },
  }, auth);

  resource(app, "/tables/:id/views/:viewId", {
    GET: async (c) => c.json(await views.getView(c.var.principal, tableParam(c), idParam(c, "viewId"))),
    PATCH: async (c) => {
      const [tableId, viewId] = [tableParam(c), idParam(c, "viewId")];
      return c.json(await views.updateView(c.var.principal, tableId, viewId, await jsonBody(c, anyObject)));
    },
    DELETE: async (c) => c.json(await views.deleteView(c.var.principal, tableParam(c), idParam(c, "viewId"))),
  }, auth);

  resource(app, "/tables/:id/views/:viewId/records", {
    GET: async (c) => {
      const [tableId, viewId] = [tableParam(c), idParam(c, "viewId")];
      return c.json(await views.viewRecords(c.var.principal, tableId, viewId, listQuery(c)));
    },
  }, auth);
}

function tableParam(c: Context): number {
  const tableId = idParam(c, "id");
  c.set("tableId", tableId);
  return tableId;
}

const columnParam = (c: Context) => c.req.param("colId") ?? "";

function intParam(c: Context, name: string, min: number, max: number): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!/^\d{1,9}$/.test(raw) || n < min || n > max) {
    throw badRequest(`${name}: expected an integer from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

function fieldsParam(c: Context): string[] | undefined {
  const raw = c.req.query("fields");
  if (raw === undefined || raw.trim() === "") return undefined;
  return raw.split(",").map((s) => s.trim()).filter(Boolean);
}

/** limit, offset, cursor, sort, fields, count and the filters of a list request. */
function listQuery(c: Context): ListQuery {
  const params = new URL(c.req.url).searchParams;
  const count = c.req.query("count");
  if (count !== undefined && !["true", "false", ""].includes(count)) {
    throw badRequest(`count: expected true or false, got '${count}'`);
  }
  const limit = intParam(c, "limit", 1, 1000) ?? 100;
  return {
    filter: filtersFromQuery(params),
    sort: parseSort(c.req.query("sort")),
    fields: fieldsParam(c),
    limit,
    offset: intParam(c, "offset", 0, 100_000_000),
    cursor: c.req.query("cursor") || undefined,
    count: count === "true",
  };
}
