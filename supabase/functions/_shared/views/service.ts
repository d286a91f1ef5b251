// Views: saved ways to look at a table's rows (grid, kanban, gallery, form, calendar, timeline).
// Column references are stored as ids and filters/sorts as col_<id>, so renaming a column never
// breaks a view; deleting one removes it from every view of its table.
import { z } from "zod";
import type { Principal } from "../auth/principal.ts";
import type { Column } from "../columns/type.ts";
import type { Tx } from "../db/client.ts";
import { badRequest, notFound } from "../http/errors.ts";
import { parseWith } from "../http/validate.ts";
import { compileFilter, filterInput, type FilterNode, normaliseFilter, resolveField } from "../records/filters.ts";
import { type ListQuery, listRecords, type SortKey } from "../records/query.ts";
import { findColumn, type TableMeta, withTable } from "../tables/meta.ts";

export const VIEW_TYPES = ["grid", "kanban", "gallery", "form", "calendar", "timeline"] as const;
type ViewType = typeof VIEW_TYPES[number];

const columnRef = z.union([z.string().min(1).max(200), z.number().int().positive()]);
const sortInput = z.union([
  z.string().max(1000),
  z.array(z.union([z.string().min(1), z.strictObject({ field: columnRef, desc: z.boolean().optional() })])).max(5),
]);
const formField = z.strictObject({
  column: columnRef,
  label: z.string().max(200).optional(),
  description: z.string().max(2000).optional(),
  required: z.boolean().optional(),
  hidden: z.boolean().optional(),
});
const formConfig = z.strictObject({
  title: z.string().max(200).optional(),
  description: z.string().max(5000).optional(),
  submit_label: z.string().max(100).optional(),
  fields: z.array(formField).max(500).optional(),
  sections: z.array(z.strictObject({ title: z.string().max(200), fields: z.array(columnRef).max(500) })).max(100)
    .optional(),
});

const viewBody = {
  name: z.string().trim().min(1, "must not be empty").max(200),
  view_type: z.enum(VIEW_TYPES),
  kanban_column_id: columnRef.nullable(),
  date_column_id: columnRef.nullable(),
  end_date_column_id: columnRef.nullable(),
  filters: filterInput.nullable(),
  sort: sortInput.nullable(),
  form_config: formConfig.nullable(),
  hidden_columns: z.array(columnRef).max(1000).nullable(),
  position: z.number().finite(),
};
export const createViewInput = z.strictObject({
  ...Object.fromEntries(Object.entries(viewBody).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof viewBody]: z.ZodOptional<typeof viewBody[K]>;
  },
  name: viewBody.name,
  view_type: viewBody.view_type,
});
export const updateViewInput = createViewInput.partial();
type ViewInput = z.infer<typeof updateViewInput>;

interface ViewRow {
  id: number;
  table_id: number;
  name: string;
  view_type: ViewType;
  kanban_column_id: number | null;
  date_column_id: number | null;
  end_date_column_id: number | null;
  filters: FilterNode[];
  sort: SortKey[];
  form_config: z.infer<typeof formConfig> | null;
  hidden_columns: number[];
  position: number;
  created_at: string;
  updated_at: string;
}

const VIEW_FIELDS = `id, table_id, name, view_type, kanban_column_id, date_column_id, end_date_column_id, filters, sort,
  form_config, hidden_columns, position, created_at, updated_at`;

// ---------------------------------------------------------------------------------------------
// Normalising a body against the table: names → ids, and each type's required settings
// ---------------------------------------------------------------------------------------------
function columnId(table: TableMeta, ref: string | number, where: string, accept?: (c: Column) => boolean, want = "") {
  const column = findColumn(table, ref);
  if (!column) throw badRequest(`${where}: no column '${ref}' in table ${table.id}`);
  if (accept && !accept(column)) throw badRequest(`${where}: '${column.name}' is a ${column.type} column; ${want}`);
  return column.id;
}

const isDate = (c: Column) => c.type === "date";

/** Filters are stored with fields as col_<id> (or a system field), checked like a query's. */
function normaliseViewFilter(tx: Tx, table: TableMeta, input: ViewInput["filters"]): FilterNode[] {
  const node = normaliseFilter(input ?? undefined);
  if (!node) return [];
  compileFilter(tx, table, node); // validates fields, operators and values
  const rename = (n: FilterNode): FilterNode =>
    "and" in n
      ? { and: n.and.map(rename) }
      : "or" in n
      ? { or: n.or.map(rename) }
      : { ...n, field: resolveField(table, n.field).sqlName };
  return "and" in node ? node.and.map(rename) : [rename(node)];
}

function normaliseSort(table: TableMeta, input: ViewInput["sort"]): SortKey[] {
  if (!input) return [];
  const keys = typeof input === "string"
    ? input.split(",").map((s) => s.trim()).filter(Boolean).map((s) => ({
      field: s.replace(/^[-+]/, ""),
      desc: s.startsWith("-"),
    }))
    : input.map((k) => typeof k === "string" ? { field: k, desc: false } : { field: String(k.field), desc: !!k.desc });
  return keys.map((k) => {
    const f = resolveField(table, k.field);
    if (!f.sortable) throw badRequest(`sort: cannot sort on '${f.label}'`);
    return { field: f.sqlName, desc: k.desc };
  });
}

function normaliseForm(table: TableMeta, form: ViewInput["form_config"]) {
  if (!form) return null;
  return {
    ...form,
    ...(form.fields
      ? { fields: form.fields.map((f, i) => ({ ...f, column: columnId(table, f.column, `form_config.fields.${i}`) })) }
      : {}),
    ...(form.sections
      ? {
        sections: form.sections.map((s, i) => ({
          ...s,
          fields: s.fields.map((ref, j) => columnId(table, ref, `form_config.sections.${i}.fields.${j}`)),
        })),
      }
      : {}),
  };
}

/** The stored row for a body; `current` is the view being updated. */
function resolveView(tx: Tx, table: TableMeta, input: ViewInput, current?: ViewRow) {
  const type = input.view_type ?? current!.view_type;
  const pick = <K extends keyof ViewInput>(k: K) => input[k] !== undefined;
  const ref = (
    key: "kanban_column_id" | "date_column_id" | "end_date_column_id",
    accept: (c: Column) => boolean,
    want: string,
  ) =>
    input[key] === undefined
      ? current?.[key] ?? null
      : input[key] === null
      ? null
      : columnId(table, input[key]!, key, accept, want);

  let kanban = ref("kanban_column_id", (c) => c.type === "single_select", "kanban lanes need a single_select column");
  let start = ref("date_column_id", isDate, "it must be a date column");
  let end = ref("end_date_column_id", isDate, "it must be a date column");
  if (type === "kanban" && kanban === null) {
    throw badRequest("kanban_column_id: a kanban view needs a single_select column of this table for its lanes");
  }
  if (type !== "kanban") kanban = pick("kanban_column_id") ? kanban : null;
  if (type === "calendar" || type === "timeline") {
    const dates = table.columns.filter(isDate);
    start ??= dates[0]?.id ?? null;
    if (start === null) {
      throw badRequest(`date_column_id: a ${type} view needs a date column and table ${table.id} has none`);
    }
    if (type === "timeline") end ??= dates.find((c) => c.id !== start)?.id ?? null;
  }
  return {
    name: input.name ?? current!.name,
    view_type: type,
    kanban_column_id: kanban,
    date_column_id: start,
    end_date_column_id: end,
    filters: pick("filters") ? normaliseViewFilter(tx, table, input.filters) : current?.filters ?? [],
    sort: pick("sort") ? normaliseSort(table, input.sort) : current?.sort ?? [],
    form_config: pick("form_config") ? normaliseForm(table, input.form_config) : current?.form_config ?? null,
    hidden_columns: pick("hidden_columns")
      ? [...new Set((input.hidden_columns ?? []).map((r, i) => columnId(table, r, `hidden_columns.${i}`)))]
      : current?.hidden_columns ?? [],
    position: input.position ?? current?.position ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------
export function listViews(p: Principal, tableId: number) {
  return withTable(
    p,
    tableId,
    "see",
    (tx) =>
      tx<ViewRow[]>`select ${tx.unsafe(VIEW_FIELDS)} from public.app_views where table_id = ${tableId}
                  order by position, id`,
  );
}

async function viewOf(tx: Tx, table: TableMeta, viewId: number): Promise<ViewRow> {
  const [view] = await tx<ViewRow[]>`
    select ${tx.unsafe(VIEW_FIELDS)} from public.app_views where id = ${viewId} and table_id = ${table.id}`;
  if (!view) throw notFound(`view ${viewId} in table ${table.id}`);
  return view;
}

export function getView(p: Principal, tableId: number, viewId: number) {
  return withTable(p, tableId, "see", (tx, table) => viewOf(tx, table, viewId));
}

export function createView(p: Principal, tableId: number, body: unknown) {
  const input = parseWith(createViewInput, body, "Invalid view");
  return withTable(p, tableId, "schema", async (tx, table) => {
    const v = resolveView(tx, table, input);
    const [row] = await tx<ViewRow[]>`
      insert into public.app_views (table_id, workspace_id, name, view_type, kanban_column_id, date_column_id,
                                    end_date_column_id, filters, sort, form_config, hidden_columns, position, created_by)
      values (${table.id}, ${table.workspace_id}, ${v.name}, ${v.view_type}, ${v.kanban_column_id}, ${v.date_column_id},
              ${v.end_date_column_id}, ${tx.json(v.filters as never)}, ${tx.json(v.sort as never)},
              ${v.form_config === null ? null : JSON.stringify(v.form_config)}::text::jsonb, ${
      tx.json(v.hidden_columns)
    },
              coalesce(${v.position}::double precision,
                       (select coalesce(max(position), 0) + 1 from public.app_views where table_id = ${table.id})),
              ${p.kind === "user" ? p.userId : p.createdBy}::uuid)
      returning ${tx.unsafe(VIEW_FIELDS)}`;
    return row;
  });
}

export function updateView(p: Principal, tableId: number, viewId: number, body: unknown) {
  const input = parseWith(updateViewInput, body, "Invalid view");
  return withTable(p, tableId, "schema", async (tx, table) => {
    const v = resolveView(tx, table, input, await viewOf(tx, table, viewId));
    const [row] = await tx<ViewRow[]>`
      update public.app_views set name = ${v.name}, view_type = ${v.view_type}, kanban_column_id = ${v.kanban_column_id},
        date_column_id = ${v.date_column_id}, end_date_column_id = ${v.end_date_column_id},
        filters = ${tx.json(v.filters as never)}, sort = ${tx.json(v.sort as never)},
        form_config = ${v.form_config === null ? null : JSON.stringify(v.form_config)}::text::jsonb,
        hidden_columns = ${tx.json(v.hidden_columns)}, position = coalesce(${v.position}::double precision, position)
      where id = ${viewId}
      returning ${tx.unsafe(VIEW_FIELDS)}`;
    return row;
  });
}

export function deleteView(p: Principal, tableId: number, viewId: number) {
  return withTable(p, tableId, "schema", async (tx, table) => {
    await viewOf(tx, table, viewId);
    await tx`delete from public.app_views where id = ${viewId}`;
    return { id: viewId, deleted: true };
  });
}

/** The records as the view shows them: its filters ANDed with the query's, its sort unless overridden. */
export function viewRecords(p: Principal, tableId: number, viewId: number, q: ListQuery) {
  return withTable(p, tableId, "read", async (tx, table) => {
    const view = await viewOf(tx, table, viewId);
    const saved = normaliseFilter(view.filters);
    const filter = saved && q.filter ? { and: [saved, q.filter] } : saved ?? q.filter;
    const hidden = new Set(view.hidden_columns);
    const fields = q.fields ??
      (hidden.size > 0
        ? table.columns.filter((c) => c.pg_type && !hidden.has(c.id)).map((c) => `col_${c.id}`)
        : undefined);
    return await listRecords(tx, table, {
      ...q,
      filter,
      sort: q.sort ?? (view.sort.length > 0 ? view.sort : undefined),
      fields,
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A deleted column leaves every view of its table (lanes and date settings clear by FK).
// ---------------------------------------------------------------------------------------------
export async function scrubColumnFromViews(tx: Tx, table: TableMeta, column: Column) {
  const key = `col_${column.id}`;
  const views = await tx<ViewRow[]>`select ${
    tx.unsafe(VIEW_FIELDS)
  } from public.app_views where table_id = ${table.id}`;
  const keep = (n: FilterNode): FilterNode | null => {
    if ("and" in n || "or" in n) {
      const kids = ("and" in n ? n.and : n.or).map(keep).filter((k): k is FilterNode => k !== null);
      if (kids.length === 0) return null;
      return "and" in n ? { and: kids } : { or: kids };
    }
    return n.field === key ? null : n;
  };
  for (const v of views) {
    const filters = v.filters.map(keep).filter((k): k is FilterNode => k !== null);
    const sort = v.sort.filter((s) => s.field !== key);
    const hidden = v.hidden_columns.filter((id) => id !== column.id);
    const form = v.form_config && {
      ...v.form_config,
      ...(v.form_config.fields ? { fields: v.form_config.fields.filter((f) => f.column !== column.id) } : {}),
      ...(v.form_config.sections
        ? { sections: v.form_config.sections.map((s) => ({ ...s, fields: s.fields.filter((id) => id !== column.id) })) }
        : {}),
    };
    if (
      JSON.stringify([filters, sort, hidden, form]) ===
        JSON.stringify([v.filters, v.sort, v.hidden_columns, v.form_config])
    ) {
      continue;
    }
    await tx`update public.app_views set filters = ${tx.json(filters as never)}, sort = ${tx.json(sort as never)},
               hidden_columns = ${tx.json(hidden)},
               form_config = ${form === null ? null : JSON.stringify(form)}::text::jsonb
             where id = ${v.id}`;
  }
}
