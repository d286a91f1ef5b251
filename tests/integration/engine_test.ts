// The automation engine end to end: a REST insert enqueues the row's pipeline in its own
// transaction; the gateway's worker runs http_request (against a local fake) → json_parser →
// formula; every column run is logged. Also: edits, conditions, run-actions, retries with
// backoff, a worker that died mid-job, SSRF refusals, save-time safety, sandbox limits.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { api, assertEnvelope, createWorkspace, db, test, uniq, until, type Workspace } from "../_helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

// One fake "internet" server for this file, on the port the test gateway allow-lists.
const FAKE_PORT = Number(Deno.env.get("AITIZER_TEST_FAKE_PORT") ?? 54340);
const FAKE = `http://127.0.0.1:${FAKE_PORT}`;
const routes = new Map<string, (req: Request) => Response | Promise<Response>>();
const hits = new Map<string, Request[]>();
Deno.serve({ hostname: "127.0.0.1", port: FAKE_PORT, onListen: () => {} }, (req) => {
  const path = new URL(req.url).pathname;
  const handler = routes.get(path);
  if (!handler) return new Response("unexpected request", { status: 599 }); // fail closed
  hits.set(path, [...(hits.get(path) ?? []), req]);
  return handler(req);
});

const executions = (ws: Workspace, tableId: number, recordId: number) =>
  api("GET", `/rest-api/tables/${tableId}/records/${recordId}/executions`, { token: ws.vibeToken });

async function table(ws: Workspace, columns: unknown[]) {
  const res = await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: `T${uniq()}`, columns } });
  assertEquals(res.status, 201, JSON.stringify(res.body));
  const key = (name: string) => res.body.columns.find((c: Any) => c.name === name).key as string;
  return { ...res.body, key, path: `/rest-api/tables/${res.body.id}/records` };
}

test("http_request → json_parser → formula run after a REST insert, each logged; edits and conditions", async () => {
  const id = uniq();
  routes.set(`/lookup-${id}`, (req) => {
    const name = new URL(req.url).searchParams.get("name");
    return Response.json({ items: [{ price: 12.5, name }] });
  });
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Fetch", type: "http_request", httpUrl: `${FAKE}/lookup-${id}?name={Name}` },
    { name: "Price", type: "json_parser", jsonSourceColumnId: "Fetch", jsonPath: "items[0].price" },
    { name: "Total", type: "formula", formula: "{Price} * 2" },
    {
      name: "Shout",
      type: "formula",
      formulaMode: "javascript",
      formula: "return ({Name} || '').toUpperCase() + '!';",
    },
    {
      name: "Only VIP",
      type: "http_request",
      httpUrl: `${FAKE}/never-${id}`,
      conditions: [{ column: "Name", operator: "contains", value: "vip" }],
    },
  ]);
  const created = await api("POST", t.path, { token: ws.vibeToken, body: { row_data: { Name: "Ada & Co" } } });
  assertEquals(created.status, 201);
  const rid = created.body.id;
  const [job] = await db`select reason from public.engine_jobs where table_id = ${t.id} and record_id = ${rid}`;
  assert(job === undefined || job.reason === "create", "the insert enqueued a create job");

  const row = await until("the pipeline", async () => {
    const r = await api("GET", `${t.path}/${rid}`, { token: ws.vibeToken });
    return r.body.row_data[t.key("Total")] === 25 ? r.body.row_data : null;
  });
  assertEquals(row[t.key("Fetch")], { items: [{ price: 12.5, name: "Ada & Co" }] });
  assertEquals(row[t.key("Price")], 12.5);
  assertEquals(row[t.key("Total")], 25);
  assertEquals(row[t.key("Shout")], "ADA & CO!");
  assertEquals(row[t.key("Only VIP")], null);
  assertEquals(hits.get(`/lookup-${id}`)!.length, 1);
  assertEquals(new URL(hits.get(`/lookup-${id}`)![0].url).search, "?name=Ada%20%26%20Co", "tags are URL-encoded");

  const log = (await executions(ws, t.id, rid)).body.executions as Any[];
  const byColumn = (name: string) => log.filter((e) => e.column_id === Number(t.key(name).slice(4)));
  assertEquals(byColumn("Fetch")[0].status, "success");
  assertEquals(byColumn("Fetch")[0].request.method, "GET");
  assertEquals(byColumn("Fetch")[0].response.status, 200);
  assertEquals(byColumn("Only VIP")[0].status, "skipped_condition");
  assertEquals(byColumn("Total")[0].status, "success");

  // An edit recomputes computed columns; http_request runs on edit only with executeOnEdit.
  await api("PATCH", `${t.path}/${rid}`, { token: ws.vibeToken, body: { row_data: { Name: "Bob" } } });
  await until("the edit's pipeline", async () => {
    const r = await api("GET", `${t.path}/${rid}`, { token: ws.vibeToken });
    return r.body.row_data[t.key("Shout")] === "BOB!";
  });
  assertEquals(hits.get(`/lookup-${id}`)!.length, 1, "no second call: executeOnEdit is off");
  assertEquals(hits.get(`/never-${id}`), undefined);
});

test("run-actions answers with the seed's results; compute recomputes one cell", async () => {
  const id = uniq();
  let n = 0;
  routes.set(`/count-${id}`, () => Response.json({ n: ++n }));
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Ping", type: "http_request", httpUrl: `${FAKE}/count-${id}`, executeOnCreate: false },
    { name: "Double", type: "formula", formula: "({Ping} ? {Ping}.n : 0) * 2" },
  ]);
  const rid = (await api("POST", t.path, { token: ws.vibeToken, body: { row_data: { Name: "x" } } })).body.id;
  const ran = await api("POST", `/rest-api/tables/${t.id}/run-actions`, {
    token: ws.vibeToken,
    body: { record_ids: [rid], column_ids: [t.key("Ping")] },
  });
  assertEquals(ran.status, 200, JSON.stringify(ran.body));
  const ping = ran.body.results.find((r: Any) => r.column_id === Number(t.key("Ping").slice(4)));
  assertEquals([ping.record_id, ping.success], [rid, true]);
  const double = ran.body.results.find((r: Any) => r.column_id === Number(t.key("Double").slice(4)));
  assertEquals(double.result, n * 2);

  const computed = await api("POST", `/rest-api/tables/${t.id}/records/${rid}/compute/Double`, { token: ws.vibeToken });
  assertEquals(computed.body.value, n * 2);
  assertEnvelope(
    await api("POST", `/rest-api/tables/${t.id}/records/${rid}/compute/Name`, { token: ws.vibeToken }),
    400,
  );
  assertEnvelope(
    await api("POST", `/rest-api/tables/${t.id}/run-actions`, { token: ws.vibeToken, body: { record_ids: [999999] } }),
    404,
  );
  assertEnvelope(await api("POST", `/rest-api/tables/${t.id}/run-actions`, { token: ws.vibeToken, body: {} }), 400);
});

test("retryable failures back off and retry", async () => {
  const id = uniq();
  let calls = 0;
  routes.set(
    `/flaky-${id}`,
    () => (++calls <= 2 ? new Response("busy", { status: 503 }) : Response.json({ ok: calls })),
  );
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Call", type: "http_request", httpUrl: `${FAKE}/flaky-${id}` },
  ]);
  const rid = (await api("POST", t.path, { token: ws.vibeToken, body: { row_data: { Name: "x" } } })).body.id;
  await until("the third attempt", async () => {
    const r = await api("GET", `${t.path}/${rid}`, { token: ws.vibeToken });
    return r.body.row_data[t.key("Call")]?.ok === 3;
  });
  const log = (await executions(ws, t.id, rid)).body.executions as Any[];
  assertEquals(log.map((e) => [e.status, e.attempt]).reverse(), [["failed", 1], ["failed", 2], ["success", 3]]);
  assertMatch(log[2].error, /HTTP 503.*will retry/);
});

test("a record written while its pipeline runs: the job runs again, as an edit, on the new values", async () => {
  const id = uniq();
  const seen: string[] = [];
  let reached!: () => void;
  const first = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  routes.set(`/slow-${id}`, async (req) => {
    const name = new URL(req.url).searchParams.get("name")!;
    seen.push(name);
    if (seen.length === 1) {
      reached();
      await hold;
    }
    return Response.json({ name });
  });
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Call", type: "http_request", httpUrl: `${FAKE}/slow-${id}?name={Name}`, executeOnEdit: true },
  ]);
  const rid = (await api("POST", t.path, { token: ws.vibeToken, body: { row_data: { Name: "before" } } })).body.id;
  await first; // the create run is in flight, holding its job
  const edited = await api("PATCH", `${t.path}/${rid}`, { token: ws.vibeToken, body: { row_data: { Name: "after" } } });
  assertEquals(edited.status, 200, JSON.stringify(edited.body));
  // Still one job for the record (the dedupe), which counted the write.
  const jobs = await db`select reason, edits, rerun_reason from public.engine_jobs where table_id = ${t.id}`;
  assertEquals(jobs.map((j) => [j.reason, j.edits, j.rerun_reason]), [["create", 1, "edit"]]);
  release();
  await until("the second run", async () => {
    const r = await api("GET", `${t.path}/${rid}`, { token: ws.vibeToken });
    return r.body.row_data[t.key("Call")]?.name === "after";
  });
  await until(
    "the queue to empty",
    async () => (await db`select 1 from public.engine_jobs where table_id = ${t.id}`).length === 0,
  );
  assertEquals(seen, ["before", "after"]);
  const log = (await executions(ws, t.id, rid)).body.executions as Any[];
  assertEquals(log.map((e) => [e.status, e.response?.body?.name]).reverse(), [["success", "before"], [
    "success",
    "after",
  ]]);
});

test("outbound requests to private addresses fail the cell, logged; nothing is fetched", async () => {
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Meta", type: "http_request", httpUrl: "http://169.254.169.254/latest/meta-data/{Name}" },
    { name: "Local", type: "http_request", httpUrl: "http://localhost:54322/" },
  ]);
  const rid = (await api("POST", t.path, { token: ws.vibeToken, body: { row_data: { Name: "iam" } } })).body.id;
  const log = await until("the refusals", async () => {
    const l = (await executions(ws, t.id, rid)).body.executions as Any[];
    return l.length >= 2 ? l : null;
  });
  for (const e of log) {
    assertEquals(e.status, "failed");
    assertMatch(e.error, /only public addresses may be called/);
  }
});

test("save-time safety: unknown references, self-reference and cycles are 400s; sandbox limits fail the cell", async () => {
  const ws = await createWorkspace();
  const t = await table(ws, [{ name: "A", type: "number" }, { name: "F", type: "formula", formula: "{A} + 1" }]);
  const col = (body: unknown) => api("POST", `/rest-api/tables/${t.id}/columns`, { token: ws.vibeToken, body });
  assertMatch(
    (await col({ name: "G", type: "formula", formula: "{Nope} + 1" })).body.error.message,
    /Unknown column \{Nope\}/,
  );
  assertMatch((await col({ name: "G", type: "formula", formula: "{G} + 1" })).body.error.message, /own column/);
  const g = await col({ name: "G", type: "formula", formula: "{F} * 2" });
  assertEquals(g.status, 201);
  const cycle = await api("PATCH", `/rest-api/tables/${t.id}/columns/${t.key("F")}`, {
    token: ws.vibeToken,
    body: { formula: "{G} + 1" },
  });
  assertEnvelope(cycle, 400);
  assertMatch(cycle.body.error.message, /Circular reference: F → G → F/);
  assertMatch(
    (await col({ name: "H", type: "http_request", httpUrl: "https://x.example/{Missing}" })).body.error.message,
    /Missing/,
  );
  assertMatch(
    (await col({ name: "J", type: "json_parser", jsonSourceColumnId: 999999, jsonPath: "a" })).body.error.message,
    /jsonSourceColumnId/,
  );
  assertEnvelope(
    await api("PATCH", `/rest-api/tables/${t.id}/columns/${t.key("A")}`, {
      token: ws.vibeToken,
      body: { type: "formula", formula: "1" },
    }),
    400,
  );

  const spin = await col({ name: "Spin", type: "formula", formulaMode: "javascript", formula: "while (true) {}" });
  const hog = await col({
    name: "Hog",
    type: "formula",
    formulaMode: "javascript",
    formula: "const a = []; while (true) a.push(new Array(1e5).fill(1));",
  });
  assertEquals([spin.status, hog.status], [201, 201]);
  const rid = (await api("POST", t.path, { token: ws.vibeToken, body: { row_data: { A: 1 } } })).body.id;
  const slow = await api("POST", `/rest-api/tables/${t.id}/records/${rid}/compute/Spin`, { token: ws.vibeToken });
  assertEnvelope(slow, 400);
  assertMatch(slow.body.error.message, /took longer than/);
  const big = await api("POST", `/rest-api/tables/${t.id}/records/${rid}/compute/Hog`, { token: ws.vibeToken });
  assertMatch(big.body.error.message, /memory|took longer than/);
  const ok = await api("POST", `/rest-api/tables/${t.id}/records/${rid}/compute/G`, { token: ws.vibeToken });
  assertEquals(ok.body.value, 4, "the gateway survived both");
});

test("cross-table actions: create, fetch, a delay, then update by filter; a chain back to its record stops", async () => {
  const ws = await createWorkspace();
  const orders = await table(ws, [{ name: "Customer", type: "text" }, { name: "Total", type: "number" }]);
  const people = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Spend", type: "number" },
    {
      name: "Open order",
      type: "create_record",
      targetTableId: orders.id,
      fieldMappings: { Customer: "{Name}", Total: "{Spend}" },
    },
    {
      name: "Orders",
      type: "fetch_records",
      targetTableId: orders.id,
      filters: { field: "Customer", op: "eq", value: "{Name}" },
    },
    { name: "Wait", type: "delay", delaySeconds: 1 },
    {
      name: "Close",
      type: "update_record",
      targetTableId: orders.id,
      filters: { field: "Customer", op: "eq", value: "{Name}" },
      fieldMappings: { Total: 0 },
    },
  ]);
  const rid = (await api("POST", people.path, { token: ws.vibeToken, body: { row_data: { Name: "Ada", Spend: 42 } } }))
    .body.id;
  const row = await until("the pipeline to pass the delay", async () => {
    const r = await api("GET", `${people.path}/${rid}`, { token: ws.vibeToken });
    return r.body.row_data[people.key("Close")] !== null ? r.body.row_data : null;
  });
  assertEquals(row[people.key("Orders")].map((o: Any) => [o.Customer, o.Total]), [["Ada", 42]]);
  assertEquals(row[people.key("Close")].updated, 1);
  const [order] = (await api("GET", orders.path, { token: ws.vibeToken })).body.records;
  assertEquals([order.row_data[orders.key("Customer")], order.row_data[orders.key("Total")]], ["Ada", 0]);
  const log = (await executions(ws, people.id, rid)).body.executions as Any[];
  const wait = log.find((e) => e.column_id === Number(people.key("Wait").slice(4)));
  assertEquals(wait.response, { resumes_in_seconds: 1 });
  assert(
    log.findIndex((e) => e.column_id === Number(people.key("Close").slice(4))) <
      log.findIndex((e) => e.column_id === Number(people.key("Wait").slice(4))),
    "Close ran after Wait (the log is newest first)",
  );

  // A column that updates its own record: the chain comes back to it and stops, logged.
  const loopy = await table(ws, [{ name: "Name", type: "text" }, { name: "N", type: "number" }]);
  const self = await api("POST", `/rest-api/tables/${loopy.id}/columns`, {
    token: ws.vibeToken,
    body: {
      name: "Bump",
      type: "update_record",
      targetTableId: loopy.id,
      filters: { field: "Name", op: "eq", value: "{Name}" },
      fieldMappings: { N: 1 },
    },
  });
  assertEquals(self.status, 201, JSON.stringify(self.body));
  const lid = (await api("POST", loopy.path, { token: ws.vibeToken, body: { row_data: { Name: "x" } } })).body.id;
  const stopped = await until("the loop guard", async () => {
    const l = (await executions(ws, loopy.id, lid)).body.executions as Any[];
    return l.find((e) => e.status === "failed") ?? null;
  });
  assertMatch(stopped.error, /chain came back/);

  assertEnvelope(
    await api("POST", `/rest-api/tables/${people.id}/columns`, {
      token: ws.vibeToken,
      body: { name: "Bad", type: "create_record", targetTableId: orders.id, fieldMappings: { Nope: "{Name}" } },
    }),
    400,
  );
  const other = await createWorkspace();
  const theirs = await table(other, [{ name: "X", type: "text" }]);
  assertEnvelope(
    await api("POST", `/rest-api/tables/${people.id}/columns`, {
      token: ws.vibeToken,
      body: { name: "Steal", type: "fetch_records", targetTableId: theirs.id },
    }),
    400,
  );
});

test("the whole pipeline: http_request → json_parser → formula → create_record → loop (http_request, delay, update_record)", async () => {
  const id = uniq();
  routes.set(`/quote-${id}`, () => Response.json({ price: 10, tags: ["a", "b", "c"] }));
  const notified: unknown[] = [];
  routes.set(`/notify-${id}`, async (req) => {
    notified.push(await req.json());
    return Response.json({ ok: true });
  });
  const ws = await createWorkspace();
  const invoices = await table(ws, [
    { name: "Sku", type: "text" },
    { name: "Amount", type: "number" },
    { name: "Note", type: "text" },
  ]);
  const items = await table(ws, [
    { name: "Sku", type: "text" },
    { name: "Quote", type: "http_request", httpUrl: `${FAKE}/quote-${id}?sku={Sku}` },
    { name: "Price", type: "json_parser", jsonSourceColumnId: "Quote", jsonPath: "price" },
    { name: "Total", type: "formula", formula: "{Price} * 3" },
    {
      name: "Invoice",
      type: "create_record",
      targetTableId: invoices.id,
      fieldMappings: { Sku: "{Sku}", Amount: "{Total}" },
    },
    { name: "Tags", type: "json_parser", jsonSourceColumnId: "Quote", jsonPath: "tags" },
    { name: "Each", type: "loop", loopSourceColumnId: "Tags" },
    {
      name: "Notify",
      type: "http_request",
      httpMethod: "POST",
      httpUrl: `${FAKE}/notify-${id}`,
      httpBody: '{"tag": "{$item}", "i": {$index}, "sku": "{Sku}", "note": "say \\"{Sku}\\""}',
    },
    { name: "Pause", type: "delay", delaySeconds: 1 },
    {
      name: "Mark",
      type: "update_record",
      targetTableId: invoices.id,
      filters: { field: "Sku", op: "eq", value: "{Sku}" },
      fieldMappings: { Note: "{$item}" },
    },
  ]);
  const created = await api("POST", items.path, { token: ws.vibeToken, body: { row_data: { Sku: 'X"1' } } });
  assertEquals(created.status, 201);
  const rid = created.body.id;
  const row = await until("the whole pipeline", async () => {
    const r = await api("GET", `${items.path}/${rid}`, { token: ws.vibeToken });
    return r.body.row_data[items.key("Mark")] !== null ? r.body.row_data : null;
  }, 30_000);
  const cell = (name: string) => row[items.key(name)];
  assertEquals(cell("Quote"), { price: 10, tags: ["a", "b", "c"] });
  assertEquals([cell("Price"), cell("Total")], [10, 30]);
  assertEquals(cell("Invoice").table_id, invoices.id);
  assertEquals(cell("Tags"), ["a", "b", "c"]);
  assertEquals(cell("Each"), { items: 3 });
  assertEquals(cell("Notify"), [{ ok: true }, { ok: true }, { ok: true }]);
  assertEquals(cell("Pause"), [null, null, null]);
  assertEquals(cell("Mark").map((m: Any) => m.updated), [1, 1, 1]);
  assertEquals(notified, ["a", "b", "c"].map((tag, i) => ({ tag, i, sku: 'X"1', note: 'say "X"1"' })));

  const [invoice] = (await api("GET", invoices.path, { token: ws.vibeToken })).body.records;
  assertEquals(
    [
      invoice.row_data[invoices.key("Sku")],
      invoice.row_data[invoices.key("Amount")],
      invoice.row_data[invoices.key("Note")],
    ],
    ['X"1', 30, "c"],
  );
  const log = (await executions(ws, items.id, rid)).body.executions as Any[];
  for (const name of ["Quote", "Price", "Total", "Invoice", "Tags", "Each", "Notify", "Pause", "Mark"]) {
    const e = log.find((x) => x.column_id === Number(items.key(name).slice(4)));
    assertEquals(e?.status, "success", `${name}: ${JSON.stringify(e)}`);
  }
  assertEnvelope(
    await api("POST", `/rest-api/tables/${items.id}/columns`, {
      token: ws.vibeToken,
      body: { name: "Inner", type: "loop", loopSourceColumnId: "Tags" },
    }),
    400,
  );
});

test("rollups follow the rows they read; a new or changed formula recomputes the table in the background", async () => {
  const ws = await createWorkspace();
  const orders = await table(ws, [{ name: "Amount", type: "number" }, { name: "Item", type: "text" }]);
  const batch = await api("POST", `${orders.path}/batch`, {
    token: ws.vibeToken,
    body: { records: [10, 20, 40].map((Amount, i) => ({ row_data: { Amount, Item: `i${i}` } })) },
  });
  const [o1, o2, o3] = batch.body.created.map((c: Any) => c.id);
  const customers = await table(ws, [
    { name: "Name", type: "text" },
    { name: "Orders", type: "relation", relationTableId: orders.id },
    {
      name: "Spent",
      type: "rollup",
      rollupRelationColumnId: "Orders",
      rollupTargetColumnId: "Amount",
      rollupAggregator: "sum",
    },
    {
      name: "Count",
      type: "rollup",
      rollupRelationColumnId: "Orders",
      rollupTargetColumnId: "Amount",
      rollupAggregator: "count",
    },
    {
      name: "Items",
      type: "rollup",
      rollupRelationColumnId: "Orders",
      rollupTargetColumnId: "Item",
      rollupAggregator: "concat",
    },
  ]);
  const cid = (await api("POST", customers.path, {
    token: ws.vibeToken,
    body: { row_data: { Name: "Ada", Orders: [o1, o2] } },
  })).body.id;
  const cell = async (name: string) =>
    (await api("GET", `${customers.path}/${cid}`, { token: ws.vibeToken })).body.row_data[customers.key(name)];
  await until("the rollups", async () => (await cell("Spent")) === 30);
  assertEquals([await cell("Count"), await cell("Items")], [2, "i0, i1"]);

  // A related row changes: the rollup follows (a recompute job, computed columns only).
  await api("PATCH", `${orders.path}/${o2}`, { token: ws.vibeToken, body: { row_data: { Amount: 25 } } });
  await until("the rollup after an edit of a related row", async () => (await cell("Spent")) === 35);
  // Linking another row, then deleting one (which unlinks it everywhere).
  await api("PATCH", `${customers.path}/${cid}`, { token: ws.vibeToken, body: { row_data: { Orders: [o1, o2, o3] } } });
  await until("the rollup after linking", async () => (await cell("Spent")) === 75);
  await api("DELETE", `${orders.path}/${o1}`, { token: ws.vibeToken });
  await until("the rollup after a delete", async () => (await cell("Spent")) === 65);
  assertEnvelope(
    await api("POST", `/rest-api/tables/${customers.id}/columns`, {
      token: ws.vibeToken,
      body: {
        name: "Bad",
        type: "rollup",
        rollupRelationColumnId: "Orders",
        rollupTargetColumnId: "Item",
        rollupAggregator: "sum",
      },
    }),
    400,
  );

  // 250 rows, then a formula: every row gets its value, batch by batch.
  const prices = await table(ws, [{ name: "Price", type: "number" }]);
  await api("POST", `${prices.path}/batch`, {
    token: ws.vibeToken,
    body: { records: Array.from({ length: 250 }, (_, i) => ({ row_data: { Price: i } })) },
  });
  const double = await api("POST", `/rest-api/tables/${prices.id}/columns`, {
    token: ws.vibeToken,
    body: { name: "Double", type: "formula", formula: "{Price} * 2" },
  });
  assertEquals(double.status, 201);
  const pt = db(`public.${prices.pg_table_name}`);
  await until("the backfill", async () => {
    const [r] = await db`select count(*)::int as n from ${pt} where ${db(`col_${double.body.id}`)} = to_jsonb(${
      db("col_" + prices.key("Price").slice(4))
    } * 2)`;
    return r.n === 250;
  });
  await until(
    "the backfill job to finish",
    async () => (await db`select 1 from public.engine_jobs where table_id = ${prices.id}`).length === 0,
  );
  // Progress shows on the column while a backfill runs (one waiting for later here, so no worker takes it).
  await db`insert into public.engine_jobs (workspace_id, table_id, record_id, reason, column_id, progress, run_at)
           values (${ws.id}, ${prices.id}, 100, 'backfill', ${double.body.id}, '{"done": 100, "total": 250}',
                   now() + interval '1 hour')`;
  const shown = await api("GET", `/rest-api/tables/${prices.id}/columns/${double.body.id}`, { token: ws.vibeToken });
  assertEquals(shown.body.recompute, { done: 100, total: 250, running: true });
  await db`delete from public.engine_jobs where table_id = ${prices.id}`;
});

test("parallel run-actions on more records than the pool has connections, while their jobs run, completes", async () => {
  const id = uniq();
  routes.set(`/echo-${id}`, (req) => Response.json({ n: new URL(req.url).searchParams.get("n") }));
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "N", type: "number" },
    { name: "Call", type: "http_request", httpUrl: `${FAKE}/echo-${id}?n={N}` },
    { name: "Twice", type: "formula", formula: "{N} * 2" },
  ]);
  const created = await api("POST", `${t.path}/batch`, {
    token: ws.vibeToken,
    body: { records: Array.from({ length: 30 }, (_, i) => ({ row_data: { N: i } })) },
  });
  assertEquals(created.status, 201);
  // The worker is taking these records' create jobs at the same time: each record's runs queue
  // behind its lock, none holding a pool connection while it waits.
  // (Bounded: the deadlock this guards against would hang the request forever.)
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ran = await Promise.race([
    api("POST", `/rest-api/tables/${t.id}/run-actions`, {
      token: ws.vibeToken,
      body: { record_ids: created.body.created.map((c: Any) => c.id), mode: "parallel" },
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("run-actions did not answer in 30 s: deadlocked?")), 30_000);
    }),
  ]).finally(() => clearTimeout(timer));
  assertEquals(ran.status, 200, JSON.stringify(ran.body));
  assertEquals(ran.body.results.filter((r: Any) => r.success).length, 30 * 2);
  await until("every create job", async () => {
    const [{ n }] = await db`select count(*)::int as n from public.engine_jobs where table_id = ${t.id}`;
    return n === 0;
  });
  const rows = await api("GET", `${t.path}?limit=100`, { token: ws.vibeToken });
  assert(rows.body.records.every((r: Any) => r.row_data[t.key("Twice")] === r.row_data[t.key("N")] * 2));
});
