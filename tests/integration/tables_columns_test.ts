// Tables and columns: provisioning, atomic creation, DDL that follows metadata, type changes.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { api, assertEnvelope, createWorkspace, db, test } from "../_helpers.ts";

async function physicalColumns(table: string) {
  const rows = await db<{ column_name: string; data_type: string }[]>`
    select column_name, data_type from information_schema.columns
    where table_schema = 'public' and table_name = ${table} order by ordinal_position`;
  return Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
}

test("POST /tables provisions a real table with RLS and one typed column per data column", async () => {
  const ws = await createWorkspace();
  const res = await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: {
      name: "Customers",
      icon: "Users",
      columns: [
        { name: "Name", type: "text" },
        { name: "Email", type: "text" },
        { name: "Status", type: "single_select", options: [{ id: "active", label: "Active", color: "green" }] },
        { name: "Score", type: "number" },
        { name: "Done", type: "checkbox" },
        { name: "Due", type: "date" },
        { name: "At", type: "date", includeTime: true },
        { name: "Files", type: "file" },
        { name: "Tags", type: "multi_select", options: [{ label: "A" }] },
        { name: "Owner", type: "user_reference" },
      ],
    },
  });
  assertEquals(res.status, 201, JSON.stringify(res.body));
  const t = res.body;
  assertEquals(t.name, "Customers");
  assertEquals(t.icon, "Users");
  assertEquals(t.pg_table_name, `data_${t.id}_${ws.id}`);
  assertMatch(t.created_at, /^\d{4}-\d{2}-\d{2}T/);
  assertEquals(t.columns.length, 10);

  const [meta] = await db`select relrowsecurity from pg_class where relname = ${t.pg_table_name}`;
  assertEquals(meta.relrowsecurity, true);
  const cols = await physicalColumns(t.pg_table_name);
  const byName = Object.fromEntries(t.columns.map((c: { name: string; key: string }) => [c.name, c.key]));
  assertEquals(cols[byName.Name], "text");
  assertEquals(cols[byName.Score], "double precision");
  assertEquals(cols[byName.Done], "boolean");
  assertEquals(cols[byName.Due], "date");
  assertEquals(cols[byName.At], "timestamp with time zone");
  assertEquals(cols[byName.Files], "jsonb");
  assertEquals(cols[byName.Tags], "ARRAY");
  assertEquals(cols[byName.Owner], "ARRAY");
  const policies = await db`select cmd from pg_policies where tablename = ${t.pg_table_name} order by cmd`;
  assertEquals(policies.map((p) => p.cmd), ["DELETE", "INSERT", "SELECT", "UPDATE"]);
});

test("a bad initial column leaves nothing behind", async () => {
  const ws = await createWorkspace();
  const res = await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: { name: "Broken", columns: [{ name: "A", type: "text" }, { name: "B", type: "nope" }] },
  });
  assertEnvelope(res, 400, "validation_failed");
  assertMatch(res.body.error.message, /columns\.1/);
  const dup = await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: { name: "Dup", columns: [{ name: "A", type: "text" }, { name: "a", type: "number" }] },
  });
  assertEnvelope(dup, 409, "conflict");
  const rows = await db`select id from public.app_tables where workspace_id = ${ws.id}`;
  assertEquals(rows.length, 0);
  const physical = await db`select relname from pg_class where relname like ${`data_%_${ws.id}`}`;
  assertEquals(physical.length, 0);
});

test("table names are unique per workspace; PATCH renames; DELETE drops everything that belongs", async () => {
  const ws = await createWorkspace();
  const a = (await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: "Orders" } })).body;
  assertEnvelope(await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: "orders" } }), 409);
  const b = (await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: "Customers" } })).body;
  const rel = await api("POST", `/rest-api/tables/${b.id}/columns`, {
    token: ws.vibeToken,
    body: { name: "Orders", type: "relation", relationTableId: a.id },
  });
  assertEquals(rel.status, 201, JSON.stringify(rel.body));
  await api("POST", `/rest-api/tables/${a.id}/views`, {
    token: ws.vibeToken,
    body: { name: "Grid", view_type: "grid" },
  });

  const renamed = await api("PATCH", `/rest-api/tables/${a.id}`, {
    token: ws.vibeToken,
    body: { name: "Purchases", icon: "Cart" },
  });
  assertEquals(renamed.status, 200);
  assertEquals([renamed.body.name, renamed.body.icon], ["Purchases", "Cart"]);
  assertEnvelope(
    await api("PATCH", `/rest-api/tables/${a.id}`, { token: ws.vibeToken, body: { name: "x", bad: 1 } }),
    400,
  );

  const del = await api("DELETE", `/rest-api/tables/${a.id}`, { token: ws.vibeToken });
  assertEquals(del.status, 200);
  assertEquals(del.body, { id: a.id, deleted: true });
  assertEnvelope(await api("GET", `/rest-api/tables/${a.id}`, { token: ws.vibeToken }), 404, "PGRST116");
  assertEquals((await db`select 1 from public.app_views where table_id = ${a.id}`).length, 0);
  assertEquals((await db`select 1 from public.token_table_permissions where table_id = ${a.id}`).length, 0);
  assertEquals((await db`select to_regclass(${"public." + a.pg_table_name}) as r`)[0].r, null);
  // The relation column of the other table pointed at it: gone, with its physical column.
  assertEquals((await db`select 1 from public.app_columns where id = ${rel.body.id}`).length, 0);
  assert(!(rel.body.key in await physicalColumns(b.pg_table_name)));
});

test("columns: create, rename without DDL, unique names, indexes, delete drops the physical column", async () => {
  const ws = await createWorkspace();
  const t = (await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: "T" } })).body;
  const path = `/rest-api/tables/${t.id}/columns`;
  const col = await api("POST", path, { token: ws.vibeToken, body: { name: "Score", type: "number", indexed: true } });
  assertEquals(col.status, 201);
  assertEquals(col.body.key, `col_${col.body.id}`);
  assertEquals(col.body.indexed, true);
  const idx =
    await db`select indexname from pg_indexes where tablename = ${t.pg_table_name} and indexdef like ${`%${col.body.key}%`}`;
  assertEquals(idx.length, 1);

  assertEnvelope(
    await api("POST", path, { token: ws.vibeToken, body: { name: "score", type: "text" } }),
    409,
    "conflict",
  );
  assertEnvelope(await api("POST", path, { token: ws.vibeToken, body: { name: "X", type: "text", bogus: 1 } }), 400);
  assertEnvelope(
    await api("POST", path, { token: ws.vibeToken, body: { name: "X", type: "number", options: [{ label: "a" }] } }),
    400,
  );
  assertEnvelope(
    await api("POST", path, { token: ws.vibeToken, body: { name: "R", type: "relation", relationTableId: 999999999 } }),
    400,
  );

  const renamed = await api("PATCH", `${path}/${col.body.id}`, { token: ws.vibeToken, body: { name: "Points" } });
  assertEquals(renamed.body.name, "Points");
  assert(col.body.key in await physicalColumns(t.pg_table_name), "rename keeps col_<id>");
  assertEquals((await api("GET", `${path}/Points`, { token: ws.vibeToken })).body.id, col.body.id);

  const list = await api("GET", path, { token: ws.vibeToken });
  assertEquals(list.body.map((c: { name: string }) => c.name), ["Points"]);

  assertEquals((await api("DELETE", `${path}/${col.body.key}`, { token: ws.vibeToken })).status, 200);
  assert(!(col.body.key in await physicalColumns(t.pg_table_name)));
  assertEnvelope(await api("GET", `${path}/${col.body.id}`, { token: ws.vibeToken }), 404);
});

test("type changes convert lossless values and refuse, naming records, otherwise", async () => {
  const ws = await createWorkspace();
  const t = (await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: {
      name: "T",
      columns: [{ name: "Amount", type: "text" }, {
        name: "Stage",
        type: "single_select",
        options: [{ id: "n", label: "New" }, { id: "w", label: "Won" }],
      }],
    },
  })).body;
  const [amount, stage] = t.columns;
  const rows = await api("POST", `/rest-api/tables/${t.id}/records/batch`, {
    token: ws.vibeToken,
    body: { records: [{ row_data: { Amount: "12.5", Stage: "New" } }, { row_data: { Amount: "7", Stage: "w" } }] },
  });
  assertEquals(rows.status, 201);
  const ok = await api("PATCH", `/rest-api/tables/${t.id}/columns/${amount.id}`, {
    token: ws.vibeToken,
    body: { type: "number" },
  });
  assertEquals(ok.status, 200, JSON.stringify(ok.body));
  const list = await api("GET", `/rest-api/tables/${t.id}/records?sort=Amount`, { token: ws.vibeToken });
  assertEquals(list.body.records.map((r: { row_data: Record<string, unknown> }) => r.row_data[amount.key]), [7, 12.5]);

  // number → checkbox has no lossless conversion while values exist.
  const refused = await api("PATCH", `/rest-api/tables/${t.id}/columns/${amount.id}`, {
    token: ws.vibeToken,
    body: { type: "checkbox" },
  });
  assertEnvelope(refused, 400);
  assertEquals((await physicalColumns(t.pg_table_name))[amount.key], "double precision");

  // text with a value that is not a number: refused with its record id.
  await api("PATCH", `/rest-api/tables/${t.id}/columns/${amount.id}`, { token: ws.vibeToken, body: { type: "text" } });
  const id = rows.body.created[1].id;
  await api("PATCH", `/rest-api/tables/${t.id}/records/${id}`, {
    token: ws.vibeToken,
    body: { row_data: { Amount: "seven" } },
  });
  const bad = await api("PATCH", `/rest-api/tables/${t.id}/columns/${amount.id}`, {
    token: ws.vibeToken,
    body: { type: "number" },
  });
  assertEnvelope(bad, 400);
  assertMatch(bad.body.error.message, new RegExp(`records ${id}\\b`));

  // single_select → text keeps the labels people saw; removing an option clears its values.
  const s = await api("PATCH", `/rest-api/tables/${t.id}/columns/${stage.id}`, {
    token: ws.vibeToken,
    body: { options: [{ id: "n", label: "New" }] },
  });
  assertEquals(s.status, 200);
  const after = await db`select ${db(stage.key)} as v from ${db("public." + t.pg_table_name)} order by id`;
  assertEquals(after.map((r) => r.v), ["n", null]);
  await api("PATCH", `/rest-api/tables/${t.id}/columns/${stage.id}`, { token: ws.vibeToken, body: { type: "text" } });
  const text = await db`select ${db(stage.key)} as v from ${db("public." + t.pg_table_name)} order by id`;
  assertEquals(text.map((r) => r.v), ["New", null]);
});
