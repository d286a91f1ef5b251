// The MCP server through the SDK's own client (full handshake) and as raw JSON-RPC posts like the
// seed's example: scoping by token type, every tool's success and main failure paths,
// ai_populates stripping, and the audit row of each call.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  api,
  assertEnvelope,
  auditRow,
  BASE,
  createToken,
  createWorkspace,
  db,
  test,
  type Workspace,
} from "../_helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
const MCP = `${BASE}/functions/v1/mcp-server`;

async function connect(token: string) {
  const client = new Client({ name: "aitizer-tests", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(MCP), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

/** Calls a tool; returns the parsed JSON of its text (notes before it kept apart). */
async function call(client: Client, name: string, args: Record<string, unknown> = {}) {
  const res = await client.callTool({ name, arguments: args }) as Any;
  const text: string = res.content[0].text;
  if (res.isError) return { error: text, value: null as Any, notes: "" };
  const start = text.search(/[[{<]/);
  const body = text.slice(start).replace(/^<untrusted-data>\n/, "").replace(/\n<\/untrusted-data>$/, "");
  return { error: null, value: JSON.parse(body) as Any, notes: text.slice(0, start), raw: text };
}

function rpc(token: string | null, body: unknown, headers: Record<string, string> = {}) {
  return fetch(MCP, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function fixture(ws: Workspace) {
  const vibe = await connect(ws.vibeToken);
  const made = await call(vibe, "create_table", {
    name: "People",
    columns: [
      { name: "Name", type: "text", required: true },
      { name: "Status", type: "single_select", options: [{ label: "Active" }, { label: "Lost" }] },
      { name: "Notes", type: "text", ai_populates: false, ai_purpose: "Written by account managers only" },
    ],
  });
  assertEquals(made.error, null);
  return { vibe, table: made.value };
}

test("handshake, tools/list per token type, and rest_api or user JWTs refused before any JSON-RPC", async () => {
  const ws = await createWorkspace();
  const vibe = await connect(ws.vibeToken);
  assertEquals(vibe.getServerVersion()?.name, "aitizer");
  const all = (await vibe.listTools()).tools.map((t: Any) => t.name).sort();
  assertEquals(all.length, 19, "the seed's 19 tools");
  assertEquals(
    all,
    [
      "check_column_types",
      "compute_cell",
      "create_column",
      "create_record",
      "create_table",
      "create_view",
      "delete_column",
      "delete_record",
      "delete_table",
      "get_record",
      "list_columns",
      "list_records",
      "list_special_field_groups",
      "list_special_field_requests",
      "list_tables",
      "list_views",
      "sql_query",
      "update_column",
      "update_record",
    ].sort(),
  );
  const readOnly = (await vibe.listTools()).tools.find((t: Any) => t.name === "list_records")!;
  assertEquals(readOnly.annotations?.readOnlyHint, true);
  assertEquals(
    (await vibe.listTools()).tools.find((t: Any) => t.name === "delete_table")!.annotations?.destructiveHint,
    true,
  );

  const user = await connect((await createToken(ws, "user_mcp")).token);
  assertEquals((await user.listTools()).tools.map((t: Any) => t.name).sort(), [
    "compute_cell",
    "create_record",
    "delete_record",
    "get_record",
    "list_columns",
    "list_records",
    "list_tables",
    "list_views",
    "sql_query",
    "update_record",
  ]);
  const refused = await call(user, "create_table", { name: "Nope" });
  assertMatch(refused.error!, /create_table needs a vibe_mcp token; a user_mcp token may use: .*list_records/);
  assertEquals((await db`select count(*)::int as n from public.app_tables where workspace_id = ${ws.id}`)[0].n, 0);

  const rest = await createToken(ws, "rest_api");
  const res = await rpc(rest.token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  assertEnvelope({ status: res.status, body: await res.json(), headers: res.headers }, 403, "forbidden");
  const jwt = await rpc(ws.owner.jwt, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  assertEquals(jwt.status, 403);
  await jwt.body?.cancel();
  const none = await rpc(null, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  assertEquals(none.status, 401);
  await none.body?.cancel();
});

test("the seed's plain POST works; JSON-RPC errors carry the standard codes; Origin is checked", async () => {
  const ws = await createWorkspace();
  const { table } = await fixture(ws);
  const res = await rpc(ws.vibeToken, {
    jsonrpc: "2.0",
    id: "1",
    method: "tools/call",
    params: {
      name: "create_record",
      arguments: { table_id: table.id, fields: { Name: "Ada Lovelace", Status: "Active" } },
    },
  });
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.id, "1");
  assertEquals(body.result.isError, undefined);
  const created = JSON.parse(body.result.content[0].text);
  assertEquals(created.fields.Name, "Ada Lovelace");
  const [row] = await db`select count(*)::int as n from ${db("public." + table.pg_table_name)}`;
  assertEquals(row.n, 1);
  const audit = await auditRow(res.headers.get("x-request-id"));
  assertEquals([audit.tool_name, Number(audit.table_id), audit.status_code], ["create_record", table.id, 200]);
  assert(audit.token_id !== null);

  const parse = await (await rpc(ws.vibeToken, "{not json")).json();
  assertEquals(parse.error.code, -32700);
  const invalid = await (await rpc(ws.vibeToken, { jsonrpc: "1.0", id: 1 })).json();
  assertEquals(invalid.error.code, -32600);
  const method = await (await rpc(ws.vibeToken, { jsonrpc: "2.0", id: 1, method: "nope/nope" })).json();
  assertEquals(method.error.code, -32601);
  const unknownTool = await (await rpc(ws.vibeToken, {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "drop_everything", arguments: {} },
  })).json();
  assertEquals(unknownTool.error.code, -32602);
  const badArgs = await (await rpc(ws.vibeToken, {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "get_record", arguments: { table_id: "abc" } },
  })).json();
  assertEquals(badArgs.result.isError, true);
  assertMatch(badArgs.result.content[0].text, /Invalid arguments for get_record: table_id.*record_id/);

  const evil = await rpc(ws.vibeToken, { jsonrpc: "2.0", id: 1, method: "tools/list" }, {
    origin: "https://evil.example",
  });
  assertEquals(evil.status, 403);
  await evil.body?.cancel();
});

test("record tools: fields by name, ai_populates stripped and reported, failures as isError", async () => {
  const ws = await createWorkspace();
  const { vibe, table } = await fixture(ws);
  const user = await connect(
    (await createToken(ws, "user_mcp", {
      permissions: [{ table_id: table.id, can_read_all: true, can_create: true, can_edit: true, can_delete: true }],
    })).token,
  );

  const created = await call(user, "create_record", {
    table_id: table.id,
    fields: { Name: "Grace", Status: "Active", Notes: "AI must not write this" },
  });
  assertEquals(created.error, null);
  assertMatch(created.notes, /Not written \(ai_populates: false.*\): Notes/);
  assertEquals(created.value.fields, { Name: "Grace", Status: created.value.fields.Status, Notes: null });
  const id = created.value.id;

  const got = await call(user, "get_record", { table_id: table.id, record_id: String(id) });
  assertEquals(got.value.fields.Name, "Grace");
  assertMatch(got.raw!, /^<untrusted-data>/);

  const updated = await call(user, "update_record", {
    table_id: table.id,
    record_id: id,
    fields: { Notes: "x", Name: "G" },
  });
  assertEquals(updated.value.fields.Name, "G");
  assertEquals(updated.value.fields.Notes, null);

  await call(vibe, "create_record", { table_id: table.id, fields: { Name: "Alan", Status: "Lost" } });
  const listed = await call(user, "list_records", {
    table_id: table.id,
    filters: { or: [{ field: "Status", op: "eq", value: "Lost" }, { field: "Name", op: "starts_with", value: "g" }] },
    sort: "-Name",
    count: true,
  });
  assertEquals(listed.value.records.map((r: Any) => r.fields.Name), ["G", "Alan"]);
  assertEquals(listed.value.count, 2);

  // Failures a model can act on: bad field, bad operator, missing record, another workspace's table.
  assertMatch(
    (await call(user, "create_record", { table_id: table.id, fields: { Nope: 1 } })).error!,
    /unknown column 'Nope'/,
  );
  assertMatch(
    (await call(user, "list_records", { table_id: table.id, filters: { field: "Status", op: "gt", value: 1 } })).error!,
    /operator/i,
  );
  assertMatch((await call(user, "get_record", { table_id: table.id, record_id: 999999 })).error!, /No rows found/);
  const other = await createWorkspace();
  const theirs = await fixture(other);
  assertMatch((await call(user, "list_records", { table_id: theirs.table.id })).error!, /No rows found: table/);
  assertMatch((await call(user, "get_record", { table_id: table.id })).error!, /record_id/);

  const deleted = await call(user, "delete_record", { table_id: table.id, record_id: id });
  assertEquals(deleted.value, { id, deleted: true });
  const [n] = await db`select count(*)::int as n from ${db("public." + table.pg_table_name)}`;
  assertEquals(n.n, 1);
});

test("schema and catalog tools: tables, columns, views, column types, compute_cell refusals", async () => {
  const ws = await createWorkspace();
  const { vibe, table } = await fixture(ws);
  const types = await call(vibe, "check_column_types");
  assert(types.value.column_types.some((t: Any) => t.type === "single_select" && t.operators.includes("in")));
  assert(types.value.column_types.some((t: Any) => t.type === "action"));
  assertEquals(
    types.value.integrations.find((g: Any) => g.name === "stripe").actions,
    ["create_customer", "create_payment_link"],
  );
  const groups = (await call(vibe, "list_special_field_groups")).value;
  assertEquals(groups.map((g: Any) => g.name), ["openai", "stripe", "slack", "telegram", "resend", "custom_http"]);
  assertEquals(groups.find((g: Any) => g.name === "openai").credential_modes.includes("platform_llm"), true);
  const slack = (await call(vibe, "list_special_field_requests", { group: "Slack" })).value;
  assertEquals(slack[0].name, "post_message");
  assertEquals(slack[0].input_schema.required, ["channel", "text"]);
  assertMatch((await call(vibe, "list_special_field_requests", { group: "myspace" })).error!, /No integration group/);

  const tables = await call(vibe, "list_tables");
  assertEquals(tables.value.map((t: Any) => t.name), ["People"]);
  const cols = await call(vibe, "list_columns", { table_id: table.id });
  assertEquals(cols.value.find((c: Any) => c.name === "Notes").ai_purpose, "Written by account managers only");

  const added = await call(vibe, "create_column", {
    table_id: table.id,
    name: "Due",
    type: "date",
    settings: { includeTime: true },
  });
  assertEquals(added.error, null);
  assertEquals(added.value.includeTime, true);
  const renamed = await call(vibe, "update_column", { table_id: table.id, column: "Due", name: "Deadline" });
  assertEquals(renamed.value.name, "Deadline");
  assertMatch((await call(vibe, "create_column", { table_id: table.id, name: "Name", type: "text" })).error!, /Name/);
  assertMatch((await call(vibe, "create_column", { table_id: table.id, name: "X", type: "nope" })).error!, /type/);

  const view = await call(vibe, "create_view", {
    table_id: table.id,
    name: "Board",
    view_type: "kanban",
    kanban_column_id: "Status",
  });
  assertEquals(view.error, null, view.error ?? "");
  assertMatch(
    (await call(vibe, "create_view", {
      table_id: table.id,
      name: "Cal",
      view_type: "calendar",
      date_column_id: "Name",
    })).error!,
    /date_column_id.*date column/,
  );
  assertEquals((await call(vibe, "list_views", { table_id: table.id })).value.length, 1);

  const rec = await call(vibe, "create_record", { table_id: table.id, fields: { Name: "x" } });
  assertMatch(
    (await call(vibe, "compute_cell", { table_id: table.id, record_id: rec.value.id, column: "Name" })).error!,
    /only computed columns/,
  );

  assertEquals((await call(vibe, "delete_column", { table_id: table.id, column: "Deadline" })).error, null);
  assertEquals((await call(vibe, "delete_table", { table_id: table.id })).error, null);
  assertEquals((await db`select count(*)::int as n from public.app_tables where id = ${table.id}`)[0].n, 0);
  assertEquals((await api("GET", `/rest-api/tables/${table.id}`, { token: ws.vibeToken })).status, 404);
});

test("sql_query: readable names in and out, under the token's RLS; everything but one SELECT refused", async () => {
  const ws = await createWorkspace();
  const { vibe, table } = await fixture(ws);
  const deals = await call(vibe, "create_table", {
    name: "Big Deals",
    columns: [{ name: "Amount", type: "number" }, {
      name: "Owner",
      type: "relation",
      settings: { relationTableId: table.id },
    }],
  });
  assertEquals(deals.error, null, deals.error ?? "");
  const ada = await call(vibe, "create_record", { table_id: table.id, fields: { Name: "Ada", Status: "Active" } });
  const bob = await call(vibe, "create_record", { table_id: table.id, fields: { Name: "Bob", Status: "Lost" } });
  for (const [owner, amount] of [[ada, 10], [ada, 5], [bob, 7]] as const) {
    await call(vibe, "create_record", {
      table_id: deals.value.id,
      fields: { Amount: amount, Owner: [owner.value.id] },
    });
  }

  const plain = await call(vibe, "sql_query", { query: "select Name, Status from People order by name" });
  assertEquals(plain.error, null, plain.error ?? "");
  assertEquals(plain.value.rows.map((r: Any) => r.Name), ["Ada", "Bob"]);
  assertMatch(plain.raw!, /<untrusted-data>/);
  const joined = await call(vibe, "sql_query", {
    query: `with totals as (select d."Owner"[1] as person, sum(d."Amount") as total from "Big Deals" d group by 1)
            select p."Name", t.total from People p join totals t on t.person = p.id order by t.total desc`,
  });
  assertEquals(joined.error, null, joined.error ?? "");
  assertEquals(joined.value.rows, [{ Name: "Ada", total: 15 }, { Name: "Bob", total: 7 }]);
  const star = await call(vibe, "sql_query", { query: "select * from people where id = " + ada.value.id });
  assertEquals(star.value.rows[0].Name, "Ada");

  // RLS: a user_mcp token without a grid row for People sees no such table.
  const narrow = await connect(
    (await createToken(ws, "user_mcp", {
      permissions: [{ table_id: deals.value.id, can_read_all: true }],
    })).token,
  );
  assertMatch((await call(narrow, "sql_query", { query: "select * from People" })).error!, /No table named 'People'/i);
  assertEquals((await call(narrow, "sql_query", { query: 'select count(*) as n from "Big Deals"' })).value.rows, [{
    n: 3,
  }]);

  const other = await createWorkspace();
  const theirs = await fixture(other);
  const refusals: [string, RegExp][] = [
    [`insert into People ("Name") values ('x')`, /Only SELECT/],
    [`update People set "Name" = 'x'`, /Only SELECT/],
    [`delete from People`, /Only SELECT/],
    [`drop table People`, /Only SELECT/],
    [`create table x (a int)`, /Only SELECT/],
    [`select 1; select 2`, /Exactly one statement/],
    [`with gone as (delete from People returning id) select * from gone`, /DELETE/],
    [`select set_config('request.jwt.claims', '{}', true)`, /set_config\(\) is not allowed/],
    [`select pg_sleep(10)`, /pg_sleep\(\) is not allowed/],
    [`select * from auth.users`, /Schema-qualified/],
    [`select * from ${table.pg_table_name}`, /No table named/],
    [`select * from ${theirs.table.pg_table_name}`, /No table named/],
    [`select nope from People`, /column "nope" does not exist|nope/],
    [`selec 1`, /could not be parsed/],
  ];
  for (const [query, message] of refusals) {
    const { error } = await call(vibe, "sql_query", { query });
    assert(error, `expected a refusal for: ${query}`);
    assertMatch(error!, message, query);
    assert(!/data_\d+_\d+|col_\d+/.test(error!) || query.includes("data_"), `leaks physical names: ${error}`);
  }
  const [n] = await db`select count(*)::int as n from ${db("public." + table.pg_table_name)}`;
  assertEquals(n.n, 2);
});
