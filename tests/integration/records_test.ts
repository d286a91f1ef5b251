// Records: validation that names the column and writes nothing, batch semantics, relations with
// real integrity, projection, counts and cursor paging; views over records.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { api, assertEnvelope, createToken, createWorkspace, db, member, test, type Workspace } from "../_helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

async function fixture(ws: Workspace) {
  const companies = (await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: { name: "Companies", columns: [{ name: "Name", type: "text" }] },
  })).body;
  const people = (await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: {
      name: "People",
      columns: [
        { name: "Name", type: "text", required: true },
        { name: "Age", type: "number" },
        { name: "Active", type: "checkbox" },
        { name: "Born", type: "date" },
        { name: "Stage", type: "single_select", options: [{ id: "lead", label: "Lead" }, { id: "won", label: "Won" }] },
        { name: "Tags", type: "multi_select", options: [{ label: "VIP" }, { label: "New" }] },
        { name: "Owner", type: "user_reference" },
        { name: "Company", type: "relation", relationTableId: companies.id },
        { name: "Country", type: "text", default: "NZ" },
      ],
    },
  })).body;
  assert(people.id, JSON.stringify(people));
  const col = (name: string) => people.columns.find((c: Any) => c.name === name).key as string;
  return { companies, people, col, path: `/rest-api/tables/${people.id}/records` };
}

const count = async (table: string) => (await db`select count(*)::int as n from ${db("public." + table)}`)[0].n;

test("create, read, merge-update and delete one record, shaped as in the seed", async () => {
  const ws = await createWorkspace();
  const { people, col, path } = await fixture(ws);
  const owner = ws.owner.id;
  const created = await api("POST", path, {
    token: ws.vibeToken,
    body: {
      row_data: {
        Name: "Ada",
        [col("Age")]: 36,
        Active: true,
        Born: "1990-12-10",
        Stage: "Won",
        Tags: ["vip"],
        Owner: owner,
      },
    },
  });
  assertEquals(created.status, 201, JSON.stringify(created.body));
  const r = created.body;
  assertEquals(Object.keys(r).sort(), ["created_at", "created_by", "created_by_token", "id", "row_data", "updated_at"]);
  assertEquals(r.row_data[col("Name")], "Ada");
  assertEquals(r.row_data[col("Stage")], "won", "labels are mapped to option ids");
  assertEquals(r.row_data[col("Tags")], ["vip"]);
  assertEquals(r.row_data[col("Owner")], [owner]);
  assertEquals(r.row_data[col("Born")], "1990-12-10");
  assertEquals(r.row_data[col("Country")], "NZ", "column default applied");
  assertEquals(r.created_by, owner);

  const patched = await api("PATCH", `${path}/${r.id}`, { token: ws.vibeToken, body: { row_data: { Age: 37 } } });
  assertEquals(patched.body.row_data[col("Age")], 37);
  assertEquals(patched.body.row_data[col("Name")], "Ada", "merge keeps other values");

  const one = await api("GET", `${path}/${r.id}?fields=Name,Age`, { token: ws.vibeToken });
  assertEquals(one.body.row_data, { [col("Name")]: "Ada", [col("Age")]: 37 });

  assertEquals((await api("DELETE", `${path}/${r.id}`, { token: ws.vibeToken })).status, 200);
  assertEnvelope(await api("GET", `${path}/${r.id}`, { token: ws.vibeToken }), 404, "PGRST116");
  assertEnvelope(await api("DELETE", `${path}/${r.id}`, { token: ws.vibeToken }), 404, "PGRST116");
  assertEquals(await count(people.pg_table_name), 0);
});

test("bad values are 400s that name the column, and nothing is written", async () => {
  const ws = await createWorkspace();
  const stranger = await createWorkspace();
  const { people, path } = await fixture(ws);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ Name: "x", Nope: 1 }, /unknown column 'Nope'/],
    [{ Name: "x", Age: "old" }, /'Age'.*number/],
    [{ Age: 3 }, /'Name' is required/],
    [{ Name: "" }, /'Name' is required/],
    [{ Name: "x", Stage: "lost" }, /'Stage'.*not one of its options/],
    [{ Name: "x", Active: "yes" }, /'Active'/],
    [{ Name: "x", Born: "2024-02-30" }, /'Born'.*calendar date/],
    [{ Name: "x", Owner: stranger.owner.id }, /'Owner'.*not a member/],
    [{ Name: "x", Company: [424242] }, /'Company'.*no record 424242/],
    [{ Name: { a: 1 } }, /'Name'/],
  ];
  for (const [row_data, message] of cases) {
    const res = await api("POST", path, { token: ws.vibeToken, body: { row_data } });
    assertEnvelope(res, 400, "validation_failed");
    assertMatch(res.body.error.message, message);
  }
  assertEnvelope(await api("POST", path, { token: ws.vibeToken, body: { row_data: [] } }), 400);
  assertEnvelope(await api("POST", path, { token: ws.vibeToken, body: { rows: {} } }), 400);
  assertEquals(await count(people.pg_table_name), 0);
});

test("batch create reports per-index errors; atomic makes it all-or-nothing; 1000 rows at once", async () => {
  const ws = await createWorkspace();
  const { people, path } = await fixture(ws);
  const records = [{ row_data: { Name: "a" } }, { row_data: { Age: 1 } }, { row_data: { Name: "c", Stage: "zzz" } }];
  const partial = await api("POST", `${path}/batch`, { token: ws.vibeToken, body: { records } });
  assertEquals(partial.status, 200);
  assertEquals(partial.body.created.map((c: Any) => c.index), [0]);
  assertEquals(partial.body.errors.map((e: Any) => e.index), [1, 2]);
  assertEquals(await count(people.pg_table_name), 1);

  const atomic = await api("POST", `${path}/batch`, { token: ws.vibeToken, body: { records, atomic: true } });
  assertEnvelope(atomic, 400, "validation_failed");
  assertEquals(atomic.body.error.details.map((e: Any) => e.index), [1, 2]);
  assertEquals(await count(people.pg_table_name), 1);

  const many = Array.from({ length: 1000 }, (_, i) => ({ row_data: { Name: `p${i}`, Age: i } }));
  const big = await api("POST", `${path}/batch`, { token: ws.vibeToken, body: { records: many } });
  assertEquals(big.status, 201);
  assertEquals(big.body.created.length, 1000);
  assertEquals(big.body.created[999].index, 999);
  assertEquals(await count(people.pg_table_name), 1001);
  const tooMany = await api("POST", `${path}/batch`, { token: ws.vibeToken, body: { records: [...many, many[0]] } });
  assertEnvelope(tooMany, 400, "validation_failed");

  const ids = big.body.created.slice(0, 3).map((c: Any) => c.id);
  const upd = await api("PATCH", `${path}/batch`, {
    token: ws.vibeToken,
    body: { records: [{ id: ids[0], row_data: { Age: 100 } }, { id: ids[1], row_data: { Name: "renamed" } }] },
  });
  assertEquals(upd.status, 200, JSON.stringify(upd.body));
  const [r0, r1] = upd.body.records;
  assertEquals(Object.values(r0.row_data).includes(100) && Object.values(r0.row_data).includes("p0"), true);
  assertEquals(Object.values(r1.row_data).includes("renamed") && Object.values(r1.row_data).includes(1), true);

  const del = await api("DELETE", `${path}/batch`, { token: ws.vibeToken, body: { ids: [...ids, 999999999] } });
  assertEquals(del.body.deleted_ids, ids);
  assertEquals(del.body.errors.map((e: Any) => e.index), [3]);
  assertEquals(await count(people.pg_table_name), 998);
});

test("relations: only rows of the target table; deleting a row unlinks it everywhere", async () => {
  const ws = await createWorkspace();
  const { companies, path, col } = await fixture(ws);
  const acme = await api("POST", `/rest-api/tables/${companies.id}/records`, {
    token: ws.vibeToken,
    body: { row_data: { Name: "Acme" } },
  });
  const globex = await api("POST", `/rest-api/tables/${companies.id}/records`, {
    token: ws.vibeToken,
    body: { row_data: { Name: "Globex" } },
  });
  const p = await api("POST", path, {
    token: ws.vibeToken,
    body: { row_data: { Name: "Ada", Company: [acme.body.id, globex.body.id] } },
  });
  assertEquals(p.body.row_data[col("Company")], [acme.body.id, globex.body.id]);
  await api("DELETE", `/rest-api/tables/${companies.id}/records/${acme.body.id}`, { token: ws.vibeToken });
  const after = await api("GET", `${path}/${p.body.id}`, { token: ws.vibeToken });
  assertEquals(after.body.row_data[col("Company")], [globex.body.id]);
});

test("user_reference accepts members of this workspace only", async () => {
  const ws = await createWorkspace();
  const editor = await member(ws, "editor");
  const { path, col } = await fixture(ws);
  const ok = await api("POST", path, {
    token: ws.vibeToken,
    body: { row_data: { Name: "a", Owner: [editor.id, ws.owner.id] } },
  });
  assertEquals(ok.body.row_data[col("Owner")], [editor.id, ws.owner.id]);
});

test("list: filters, OR groups, sort, projection, count, offset and cursor paging", async () => {
  const ws = await createWorkspace();
  const { path, col } = await fixture(ws);
  const rows = Array.from({ length: 25 }, (_, i) => ({
    row_data: { Name: `n${String(i).padStart(2, "0")}`, Age: i % 5, Stage: i % 2 ? "won" : "lead" },
  }));
  await api("POST", `${path}/batch`, { token: ws.vibeToken, body: { records: rows } });

  const eq = await api("GET", `${path}?filter[Stage]=won&count=true&limit=3`, { token: ws.vibeToken });
  assertEquals(eq.body.count, 12);
  assertEquals(eq.body.records.length, 3);
  assert(eq.body.next_cursor);

  const or = encodeURIComponent(
    JSON.stringify({ or: [{ field: "Age", op: "eq", value: 0 }, { field: "Name", op: "starts_with", value: "N2" }] }),
  );
  const res = await api("GET", `${path}?filters=${or}&sort=-Age,Name&fields=Name,Age&limit=100`, {
    token: ws.vibeToken,
  });
  assertEquals(res.status, 200);
  assertEquals(res.body.records.map((r: Any) => r.row_data[col("Name")]), [
    "n24",
    "n23",
    "n22",
    "n21",
    "n00",
    "n05",
    "n10",
    "n15",
    "n20",
  ]);
  assertEquals(Object.keys(res.body.records[0].row_data).sort(), [col("Age"), col("Name")].sort());

  // Cursor paging visits every row once, in order.
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Any = await api("GET", `${path}?sort=Age,-Name&limit=4${cursor ? `&cursor=${cursor}` : ""}`, {
      token: ws.vibeToken,
    });
    assertEquals(page.status, 200);
    seen.push(...page.body.records.map((r: Any) => r.row_data[col("Name")]));
    cursor = page.body.next_cursor;
  } while (cursor);
  assertEquals(seen.length, 25);
  assertEquals(seen.slice(0, 5), ["n20", "n15", "n10", "n05", "n00"]);

  const off = await api("GET", `${path}?sort=Name&limit=2&offset=5`, { token: ws.vibeToken });
  assertEquals(off.body.records.map((r: Any) => r.row_data[col("Name")]), ["n05", "n06"]);

  // Errors: unsupported operator (lists the supported ones), bad values, a cursor of another sort.
  const op = await api("GET", `${path}?filter[Stage][contains]=w`, { token: ws.vibeToken });
  assertEnvelope(op, 400);
  assertMatch(op.body.error.message, /supported: eq, neq/);
  assertEnvelope(await api("GET", `${path}?filter[Age][gt]=old`, { token: ws.vibeToken }), 400);
  assertEnvelope(await api("GET", `${path}?filter[Nope]=1`, { token: ws.vibeToken }), 400);
  assertEnvelope(await api("GET", `${path}?filters={bad`, { token: ws.vibeToken }), 400);
  assertEnvelope(await api("GET", `${path}?limit=1001`, { token: ws.vibeToken }), 400);
  assertEnvelope(await api("GET", `${path}?sort=Tags`, { token: ws.vibeToken }), 400);
  const c1 = (await api("GET", `${path}?sort=Age&limit=1`, { token: ws.vibeToken })).body.next_cursor;
  assertEnvelope(await api("GET", `${path}?sort=Name&cursor=${c1}`, { token: ws.vibeToken }), 400);
  assertEnvelope(await api("GET", `${path}?cursor=garbage`, { token: ws.vibeToken }), 400);
});

test("views: the six types, each type's settings validated, records as the view shows them", async () => {
  const ws = await createWorkspace();
  const { people, col } = await fixture(ws);
  const vpath = `/rest-api/tables/${people.id}/views`;
  const mk = (body: Record<string, unknown>) => api("POST", vpath, { token: ws.vibeToken, body });

  for (const view_type of ["grid", "gallery", "form"]) {
    assertEquals((await mk({ name: view_type, view_type })).status, 201);
  }
  const kanban = await mk({ name: "Board", view_type: "kanban", kanban_column_id: "Stage" });
  assertEquals(kanban.status, 201);
  assertEquals(kanban.body.kanban_column_id, Number(col("Stage").slice(4)));
  assertEnvelope(await mk({ name: "k", view_type: "kanban" }), 400);
  assertEnvelope(await mk({ name: "k", view_type: "kanban", kanban_column_id: "Tags" }), 400);
  const cal = await mk({ name: "Cal", view_type: "calendar" });
  assertEquals(cal.body.date_column_id, Number(col("Born").slice(4)), "defaults to the first date column");
  assertEquals((await mk({ name: "TL", view_type: "timeline", date_column_id: "Born" })).status, 201);
  assertEnvelope(await mk({ name: "TL", view_type: "timeline", date_column_id: "Name" }), 400);
  assertEnvelope(await mk({ name: "F", view_type: "form", form_config: { fields: [{ column: "Nope" }] } }), 400);
  assertEnvelope(await mk({ name: "F", view_type: "spreadsheet" }), 400);
  const form = await mk({
    name: "F",
    view_type: "form",
    form_config: { title: "Sign up", fields: [{ column: "Name", required: true }] },
  });
  assertEquals(form.body.form_config.fields[0].column, Number(col("Name").slice(4)));

  await api("POST", `/rest-api/tables/${people.id}/records/batch`, {
    token: ws.vibeToken,
    body: {
      records: [1, 2, 3, 4].map((i) => ({ row_data: { Name: `p${i}`, Age: i, Stage: i > 2 ? "won" : "lead" } })),
    },
  });
  const won = await mk({
    name: "Won",
    view_type: "grid",
    filters: [{ field: "Stage", op: "eq", value: "Won" }],
    sort: "-Age",
    hidden_columns: ["Tags"],
  });
  assertEquals(won.status, 201, JSON.stringify(won.body));
  const rec = await api("GET", `${vpath}/${won.body.id}/records`, { token: ws.vibeToken });
  assertEquals(rec.body.records.map((r: Any) => r.row_data[col("Age")]), [4, 3]);
  assert(!(col("Tags") in rec.body.records[0].row_data));
  const narrowed = await api("GET", `${vpath}/${won.body.id}/records?filter[Age]=3`, { token: ws.vibeToken });
  assertEquals(narrowed.body.records.length, 1);

  const patched = await api("PATCH", `${vpath}/${won.body.id}`, { token: ws.vibeToken, body: { name: "Won deals" } });
  assertEquals([patched.body.name, patched.body.sort], ["Won deals", [{ field: col("Age"), desc: true }]]);
  // Deleting a column removes it from the views that used it.
  await api("DELETE", `/rest-api/tables/${people.id}/columns/Tags`, { token: ws.vibeToken });
  assertEquals((await api("GET", `${vpath}/${won.body.id}`, { token: ws.vibeToken })).body.hidden_columns, []);
  assertEquals((await api("DELETE", `${vpath}/${won.body.id}`, { token: ws.vibeToken })).status, 200);
  assertEnvelope(await api("GET", `${vpath}/${won.body.id}`, { token: ws.vibeToken }), 404);
  assertEquals((await api("GET", vpath, { token: ws.vibeToken })).body.length, 7);
});

test("cached table metadata is checked on every request: a change made elsewhere applies at once", async () => {
  const ws = await createWorkspace();
  const table = (await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: { name: "Cached", columns: [{ name: "Name", type: "text" }] },
  })).body;
  const path = `/rest-api/tables/${table.id}/records`;
  const name = table.columns[0].key as string;
  const first = (await api("POST", path, { token: ws.vibeToken, body: { row_data: { Name: "a" } } })).body;
  assertEquals((await api("GET", `${path}/${first.id}`, { token: ws.vibeToken })).body.row_data, { [name]: "a" });

  // Another instance adds a column: this one must neither omit it nor refuse it.
  const [score] = await db`
    insert into public.app_columns (table_id, workspace_id, name, type, pg_type, position)
    values (${table.id}, ${ws.id}, 'Score', 'number', 'double precision', 10) returning id`;
  const got = await api("GET", `${path}/${first.id}`, { token: ws.vibeToken });
  assertEquals(got.body.row_data, { [name]: "a", [`col_${score.id}`]: null });
  const second = await api("POST", path, { token: ws.vibeToken, body: { row_data: { Name: "b", Score: 5 } } });
  assertEquals(second.status, 201, JSON.stringify(second.body));
  assertEquals(second.body.row_data[`col_${score.id}`], 5);

  // …and drops one: reads leave it out, writes naming it are 400s.
  await db`delete from public.app_columns where table_id = ${table.id} and name = 'Name'`;
  assertEquals((await api("GET", `${path}/${first.id}`, { token: ws.vibeToken })).body.row_data, {
    [`col_${score.id}`]: null,
  });
  const stale = await api("POST", path, { token: ws.vibeToken, body: { row_data: { Name: "c" } } });
  assertEnvelope(stale, 400, "validation_failed");
  assertMatch(stale.body.error.message, /unknown column 'Name'/);

  // A grid change applies to the very next request, cached metadata or not.
  const reader = await createToken(ws, "rest_api", { permissions: [{ table_id: table.id, can_read_all: true }] });
  assertEquals((await api("GET", `${path}/${first.id}`, { token: reader.token })).status, 200);
  assertEnvelope(await api("POST", path, { token: reader.token, body: { row_data: { Score: 1 } } }), 403);
  await db`update public.token_table_permissions set can_read_all = false, can_create = true
           where token_id = ${reader.id} and table_id = ${table.id}`;
  // Without can_read_all ("read every record") a token reads only the records it created.
  assertEnvelope(await api("GET", `${path}/${first.id}`, { token: reader.token }), 404, "PGRST116");
  const own = await api("POST", path, { token: reader.token, body: { row_data: { Score: 1 } } });
  assertEquals(own.status, 201, JSON.stringify(own.body));
  assertEquals((await api("GET", `${path}/${own.body.id}`, { token: reader.token })).status, 200);
  const listed = await api("GET", path, { token: reader.token });
  assertEquals(listed.body.records.map((r: Any) => r.id), [own.body.id]);
  await db`delete from public.token_table_permissions where token_id = ${reader.id}`;
  assertEnvelope(await api("GET", `${path}/${own.body.id}`, { token: reader.token }), 403, "forbidden");
  assertEquals(await count(table.pg_table_name), 3);
});
