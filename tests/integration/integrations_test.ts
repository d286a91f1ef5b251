// Integrations: the catalog, workspace credentials, custom HTTP actions, and `action` columns run
// by the engine against local fakes of OpenAI, Stripe, Slack, Telegram and Resend (the real
// `openai` and `stripe` SDKs inside the gateway are pointed at them). Secrets are stored encrypted
// and never come back: not in a response, not in a column's config, not in an execution log.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { GOOD_KEY, startProviderFakes } from "../fakes/providers.ts";
import {
  api,
  assertEnvelope,
  createToken,
  createWorkspace,
  db,
  member,
  test,
  uniq,
  until,
  type Workspace,
} from "../_helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const fakes = await startProviderFakes();
// Custom actions are user-configured URLs: they go through the guarded fetch to this fake.
const FAKE_PORT = Number(Deno.env.get("AITIZER_TEST_FAKE_PORT") ?? 54340) + 2; // this file's own port
const FAKE = `http://127.0.0.1:${FAKE_PORT}`;
const hooks: { path: string; headers: Record<string, string>; body: string }[] = [];
Deno.serve({ hostname: "127.0.0.1", port: FAKE_PORT, onListen: () => {} }, async (req) => {
  const path = new URL(req.url).pathname;
  if (!path.startsWith("/hooks/")) return new Response("unexpected request", { status: 599 });
  hooks.push({ path, headers: Object.fromEntries(req.headers), body: await req.text() });
  // Like a careless API: refuses the key and echoes it back.
  if (path.startsWith("/hooks/echo-key")) {
    return Response.json({ error: `bad key ${req.headers.get("x-api-key")}` }, { status: 401 });
  }
  return Response.json({ received: true, path });
});

/** A credential stored by the workspace owner (an admin). */
async function credential(ws: Workspace, integration: string, secret = `${GOOD_KEY}-${uniq()}`) {
  const res = await api("POST", "/rest-api/credentials", {
    token: ws.owner.jwt,
    body: { name: `${integration}-${uniq()}`, integration, secret },
  });
  assertEquals(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id as number, secret };
}

async function table(ws: Workspace, columns: unknown[]) {
  const res = await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: `T${uniq()}`, columns } });
  assertEquals(res.status, 201, JSON.stringify(res.body));
  const col = (name: string) => res.body.columns.find((c: Any) => c.name === name);
  return {
    ...res.body,
    col,
    key: (name: string) => col(name).key as string,
    path: `/rest-api/tables/${res.body.id}/records`,
  };
}

/** Inserts a row and waits until `column` holds a value (or its run failed for good). */
async function runRow(ws: Workspace, t: Any, rowData: Record<string, unknown>, column: string) {
  const created = await api("POST", t.path, { token: ws.vibeToken, body: { row_data: rowData } });
  assertEquals(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  const columnId = t.col(column).id;
  const execution = await until(`the ${column} column`, async () => {
    const [done] = await db`
      select * from public.column_executions where record_id = ${id} and column_id = ${columnId}
        and (status <> 'failed' or error not like '%(will retry)')
      order by id desc limit 1`;
    return done;
  });
  const row = await api("GET", `${t.path}/${id}`, { token: ws.vibeToken });
  return { id, value: row.body.row_data[t.key(column)], execution, all: () => executionsOf(id, columnId) };
}

const executionsOf = (recordId: number, columnId: number) =>
  db`select status, error, attempt, request, response from public.column_executions
     where record_id = ${recordId} and column_id = ${columnId} order by id`;

// ---------------------------------------------------------------------------------------------
test("the catalog lists every group with typed action inputs; custom actions appear under custom_http", async () => {
  const ws = await createWorkspace();
  const list = await api("GET", "/rest-api/integrations", { token: ws.vibeToken });
  assertEquals(list.status, 200);
  const ids = list.body.map((g: Any) => g.id);
  for (const id of ["openai", "stripe", "slack", "telegram", "resend", "custom_http"]) assert(ids.includes(id), id);
  const stripe = await api("GET", "/rest-api/integrations/stripe", { token: ws.vibeToken });
  const link = stripe.body.actions.find((a: Any) => a.name === "create_payment_link");
  assertEquals(link.input_schema.type, "object");
  assertEquals(link.input_schema.required, ["price"]);
  assertEquals(stripe.body.credential.modes, ["admin_credential", "editor_credential"]);
  const openai = list.body.find((g: Any) => g.id === "openai");
  assert(openai.credential.modes.includes("platform_llm"));
  assertEnvelope(await api("GET", "/rest-api/integrations/nope", { token: ws.vibeToken }), 404);

  const created = await api("POST", "/rest-api/custom-actions", {
    token: ws.owner.jwt,
    body: {
      name: "notify_crm",
      url: `${FAKE}/hooks/crm/{contact}`,
      body: '{"note": "{note}"}',
      input_schema: { contact: { type: "string", required: true }, note: { type: "string" } },
    },
  });
  assertEquals(created.status, 201, JSON.stringify(created.body));
  const custom = await api("GET", "/rest-api/integrations/custom_http", { token: ws.vibeToken });
  assertEquals(custom.body.actions.map((a: Any) => a.name), ["notify_crm"]);
  assertEquals(custom.body.actions[0].input_schema.required, ["contact"]);
  // Another workspace does not see it.
  const other = await createWorkspace();
  const theirs = await api("GET", "/rest-api/integrations/custom_http", { token: other.vibeToken });
  assertEquals(theirs.body.actions, []);
});

test("credentials: admins store them encrypted, members see metadata only, nobody gets the secret back", async () => {
  const ws = await createWorkspace();
  const editor = await member(ws, "editor");
  const admin = await member(ws, "admin");
  const secret = `${GOOD_KEY}-stripe-${uniq()}`;
  const body = { name: "Stripe live", integration: "stripe", secret };

  assertEnvelope(await api("POST", "/rest-api/credentials", { token: editor.jwt, body }), 403, "forbidden");
  assertEnvelope(await api("POST", "/rest-api/credentials", { token: ws.vibeToken, body }), 403, "forbidden");
  assertEnvelope(
    await api("POST", "/rest-api/credentials", { token: admin.jwt, body: { ...body, integration: "myspace" } }),
    400,
  );
  const created = await api("POST", "/rest-api/credentials", { token: admin.jwt, body });
  assertEquals(created.status, 201);
  assertEquals(created.body.secret, { set: true });
  assertEquals(created.body.hint, `…${secret.slice(-4)}`);
  assert(!JSON.stringify(created.body).includes(secret));
  assertEnvelope(await api("POST", "/rest-api/credentials", { token: admin.jwt, body }), 409, "conflict");

  const [row] = await db`select secret from public.credentials where id = ${created.body.id}`;
  assert(!new TextDecoder("latin1").decode(row.secret).includes(secret), "stored encrypted");
  for (const who of [editor.jwt, ws.vibeToken]) {
    const list = await api("GET", "/rest-api/credentials", { token: who });
    assertEquals(list.status, 200);
    assertEquals(list.body.map((c: Any) => c.id), [created.body.id]);
    assert(!JSON.stringify(list.body).includes(secret));
    assertEquals(Object.hasOwn(list.body[0], "secret"), false);
  }
  // The API role cannot read a ciphertext even with direct SQL: those columns are not granted.
  const [grants] = await db`
    select has_column_privilege('authenticated', 'public.credentials', 'secret', 'select') as secret,
           has_column_privilege('authenticated', 'public.credentials', 'hint', 'select') as hint,
           has_table_privilege('authenticated', 'public.column_secrets', 'select') as column_secrets`;
  assertEquals({ ...grants }, { secret: false, hint: true, column_secrets: false });

  const other = await createWorkspace();
  const theirs = await api("GET", "/rest-api/credentials", { token: other.owner.jwt });
  assertEquals(theirs.body, []);
  assertEnvelope(await api("DELETE", `/rest-api/credentials/${created.body.id}`, { token: other.owner.jwt }), 404);
  assertEnvelope(await api("DELETE", `/rest-api/credentials/${created.body.id}`, { token: editor.jwt }), 403);

  // In use by a column: refused until the column moves on.
  const t = await table(ws, [{ name: "Email", type: "text" }, {
    name: "Customer",
    type: "action",
    integration: "stripe",
    actionName: "create_customer",
    inputMapping: { email: "{Email}" },
    credentialMode: "admin_credential",
    credentialId: created.body.id,
  }]);
  assertEnvelope(await api("DELETE", `/rest-api/credentials/${created.body.id}`, { token: admin.jwt }), 409);
  await api("DELETE", `/rest-api/tables/${t.id}/columns/${t.col("Customer").id}`, { token: ws.vibeToken });
  const gone = await api("DELETE", `/rest-api/credentials/${created.body.id}`, { token: admin.jwt });
  assertEquals(gone.status, 200);
  assertEquals((await db`select count(*)::int as n from public.credentials where id = ${created.body.id}`)[0].n, 0);
});

test("Stripe with an admin credential: the SDK's request reaches the fake with an idempotency key; no secret logged", async () => {
  fakes.reset();
  const ws = await createWorkspace();
  const cred = await credential(ws, "stripe");
  const t = await table(ws, [
    { name: "Email", type: "text" },
    { name: "Name", type: "text" },
    {
      name: "Customer",
      type: "action",
      integration: "stripe",
      actionName: "create_customer",
      inputMapping: { email: "{Email}", name: "{Name}", metadata: { source: "aitizer" } },
      credentialMode: "admin_credential",
      credentialId: `${cred.id}`,
    },
    {
      name: "Link",
      type: "action",
      integration: "stripe",
      actionName: "create_payment_link",
      inputMapping: { price: "price_123", quantity: "2" },
      credentialMode: "admin_credential",
      credentialId: cred.id,
    },
  ]);
  assertEquals(t.col("Customer").credentialId, cred.id);
  const run = await runRow(ws, t, { Email: "ada@example.com", Name: "Ada" }, "Link");
  const row = await api("GET", `${t.path}/${run.id}`, { token: ws.vibeToken });
  const customer = row.body.row_data[t.key("Customer")];
  assertMatch(customer.id, /^cus_/);
  assertEquals([customer.email, customer.name], ["ada@example.com", "Ada"]);
  assertMatch(run.value.url, /^https:\/\/buy\.stripe\.com\//);

  const sent = fakes.requests.filter((r) => r.provider === "stripe");
  assertEquals(sent.map((r) => r.path), ["/v1/customers", "/v1/payment_links"]);
  assertEquals(sent[0].headers.authorization, `Bearer ${cred.secret}`);
  assertEquals((sent[0].body as Any).metadata, { source: "aitizer" });
  assertEquals((sent[1].body as Any).line_items, [{ price: "price_123", quantity: "2" }]);
  assertMatch(sent[0].headers["idempotency-key"], new RegExp(`^aitizer:${t.id}:${run.id}:${t.col("Customer").id}:`));
  assertEquals(fakes.unexpected, []);
  const logged =
    await db`select request, response from public.column_executions where record_id = ${run.id} and table_id = ${t.id}`;
  assert(!JSON.stringify(logged).includes(cred.secret), "no secret in the execution log");
  assertEquals(logged.find((l) => l.request?.action === "create_customer")?.request.credential_id, cred.id);
});

test("editor_credential: stored encrypted with the column, shown as {set: true}, kept or replaced on update", async () => {
  fakes.reset();
  const ws = await createWorkspace();
  const key = `${GOOD_KEY}-slack-${uniq()}`;
  const t = await table(ws, [
    { name: "Text", type: "text" },
    {
      name: "Post",
      type: "action",
      integration: "slack",
      actionName: "post_message",
      inputMapping: { channel: "C0123", text: "New lead: {Text}" },
      credentialMode: "editor_credential",
      credential: key,
    },
  ]);
  assertEquals(t.col("Post").credential, { set: true });
  const [stored] = await db`select config from public.app_columns where id = ${t.col("Post").id}`;
  assertEquals(stored.config.credential, { set: true });
  const [secretRow] = await db`select secret from public.column_secrets where column_id = ${t.col("Post").id}`;
  assert(secretRow && !new TextDecoder("latin1").decode(secretRow.secret).includes(key));

  const run = await runRow(ws, t, { Text: "Grace" }, "Post");
  assertEquals(run.execution.status, "success", run.execution.error);
  assertEquals(run.value.channel, "C0123");
  const sent = fakes.requests.filter((r) => r.provider === "slack");
  assertEquals(sent[0].headers.authorization, `Bearer ${key}`);
  assertEquals(sent[0].body, { channel: "C0123", text: "New lead: Grace" });

  // Sending {set: true} back keeps the secret; the read API never shows it.
  const colPath = `/rest-api/tables/${t.id}/columns/${t.col("Post").id}`;
  const kept = await api("PATCH", colPath, {
    token: ws.vibeToken,
    body: { credential: { set: true }, name: "Post it" },
  });
  assertEquals(kept.status, 200, JSON.stringify(kept.body));
  const read = await api("GET", colPath, { token: ws.vibeToken });
  assertEquals(read.body.credential, { set: true });
  assert(!JSON.stringify(read.body).includes(key));
  const again = await runRow(ws, t, { Text: "Linus" }, "Post"); // (by its original name: ids do not change)
  assertEquals(again.execution.status, "success");
  // A bad replacement is used as given: Slack says invalid_auth, the cell fails without retries.
  const bad = await api("PATCH", colPath, { token: ws.vibeToken, body: { credential: "xoxb-revoked" } });
  assertEquals(bad.status, 200);
  const refused = await runRow(ws, t, { Text: "Ken" }, "Post");
  assertEquals(refused.execution.status, "failed");
  assertMatch(refused.execution.error, /invalid_auth/);
  assertEquals(refused.execution.attempt, 1);
  const logs = await db`select request from public.column_executions where table_id = ${t.id}`;
  assert(!JSON.stringify(logs).includes(key) && !JSON.stringify(logs).includes("xoxb-revoked"));
});

test("platform_llm: OpenAI chat and embeddings on the platform key, metered per workspace", async () => {
  fakes.reset();
  const ws = await createWorkspace();
  const t = await table(ws, [
    { name: "Question", type: "text" },
    {
      name: "Answer",
      type: "action",
      integration: "openai",
      actionName: "chat_completion",
      inputMapping: { prompt: "Answer briefly: {Question}", system: "You are terse." },
      credentialMode: "platform_llm",
    },
    {
      name: "Vector",
      type: "action",
      integration: "openai",
      actionName: "embeddings",
      inputMapping: { input: "{Question}" },
      credentialMode: "platform_llm",
    },
  ]);
  const run = await runRow(ws, t, { Question: "what is a row?" }, "Vector");
  const row = await api("GET", `${t.path}/${run.id}`, { token: ws.vibeToken });
  assertEquals(row.body.row_data[t.key("Answer")], "echo: Answer briefly: what is a row?");
  assert(Array.isArray(run.value) && run.value.length === 8 && run.value.every((x: unknown) => typeof x === "number"));
  const chat = fakes.requests.find((r) => r.path === "/openai/v1/chat/completions")!;
  assertEquals(chat.headers.authorization, "Bearer good-platform-key");
  assertEquals((chat.body as Any).messages[0], { role: "system", content: "You are terse." });
  const usage = await db`select action, model, total_tokens from public.platform_llm_usage
                         where workspace_id = ${ws.id} order by id`;
  assertEquals(usage.map((u) => u.action), ["chat_completion", "embeddings"]);
  assert(usage.every((u) => u.total_tokens > 0));
  assertEquals(fakes.unexpected, []);
});

test("retryable provider failures (429, 5xx) back off and retry; refusals (401) fail the cell once", async () => {
  fakes.reset();
  const ws = await createWorkspace();
  const cred = await credential(ws, "openai");
  const t = await table(ws, [
    { name: "Q", type: "text" },
    {
      name: "A",
      type: "action",
      integration: "openai",
      actionName: "chat_completion",
      inputMapping: { prompt: "{Q}" },
      credentialMode: "admin_credential",
      credentialId: cred.id,
    },
  ]);
  fakes.failNext("openai", 429);
  fakes.failNext("openai", 503);
  const run = await runRow(ws, t, { Q: "hi" }, "A");
  assertEquals(run.value, "echo: hi");
  const attempts = await run.all();
  assertEquals(attempts.map((a) => [a.status, a.attempt]), [["failed", 1], ["failed", 2], ["success", 3]]);
  assertMatch(attempts[0].error, /429.*will retry/);

  const tg = await table(ws, [
    { name: "Chat", type: "text" },
    {
      name: "Send",
      type: "action",
      integration: "telegram",
      actionName: "send_message",
      inputMapping: { chat_id: "{Chat}", text: "hello" },
      credentialMode: "editor_credential",
      credential: "123:revoked-token",
    },
  ]);
  const refused = await runRow(ws, tg, { Chat: "42" }, "Send");
  assertEquals([refused.execution.status, refused.execution.attempt], ["failed", 1]);
  assertMatch(refused.execution.error, /telegram: HTTP 401: Unauthorized/);
  assert(!JSON.stringify(refused.execution.request).includes("revoked-token"), "the bot token is not logged");
  assertEquals((await db`select count(*)::int as n from public.engine_jobs where table_id = ${tg.id}`)[0].n, 0);
});

test("Telegram and Resend succeed with their wire formats; bad inputs fail the cell with the reason", async () => {
  fakes.reset();
  const ws = await createWorkspace();
  const bot = await credential(ws, "telegram");
  const mail = await credential(ws, "resend");
  const t = await table(ws, [
    { name: "Chat", type: "number" },
    { name: "To", type: "text" },
    {
      name: "Send",
      type: "action",
      integration: "telegram",
      actionName: "send_message",
      inputMapping: { chat_id: "{Chat}", text: "Hi <b>there</b>", parse_mode: "HTML" },
      credentialMode: "admin_credential",
      credentialId: bot.id,
    },
    {
      name: "Mail",
      type: "action",
      integration: "resend",
      actionName: "send_email",
      inputMapping: { from: "Acme <hi@acme.test>", to: "{To}", subject: "Welcome", html: "<p>Hi</p>" },
      credentialMode: "admin_credential",
      credentialId: mail.id,
    },
  ]);
  const ok = await runRow(ws, t, { Chat: 42, To: "a@x.test, b@x.test" }, "Mail");
  assertMatch(ok.value.id, /\S+/);
  const row = await api("GET", `${t.path}/${ok.id}`, { token: ws.vibeToken });
  assertEquals(row.body.row_data[t.key("Send")].chat_id, 42);
  const tgReq = fakes.requests.find((r) => r.provider === "telegram")!;
  assertEquals(tgReq.path, `/telegram/bot${bot.secret}/sendMessage`);
  assertEquals(tgReq.body, { chat_id: 42, text: "Hi <b>there</b>", parse_mode: "HTML" });
  const mailReq = fakes.requests.find((r) => r.provider === "resend")!;
  assertEquals((mailReq.body as Any).to, ["a@x.test", "b@x.test"]);
  assertEquals(fakes.unexpected, []);

  const bad = await runRow(ws, t, { Chat: 7, To: "not-an-email" }, "Mail");
  assertEquals(bad.execution.status, "failed");
  assertMatch(bad.execution.error, /^inputs: to/);
  assertEquals(fakes.requests.filter((r) => r.provider === "resend").length, 1, "nothing was sent");
});

test("custom HTTP actions: templated request through the guarded fetch with the admin's credential", async () => {
  const ws = await createWorkspace();
  const cred = await credential(ws, "custom_http", "crm-secret-123456");
  const path = `/hooks/crm-${uniq()}`;
  const action = await api("POST", "/rest-api/custom-actions", {
    token: ws.owner.jwt,
    body: {
      name: "log_lead",
      description: "Logs a lead in the CRM",
      url: `${FAKE}${path}?who={email}`,
      headers: { "X-Source": "aitizer" },
      body: '{"email": "{email}", "score": {score}}',
      input_schema: { email: { type: "string", required: true }, score: { type: "number" } },
      credential_id: cred.id,
      auth_header: "X-Api-Key",
      auth_scheme: "",
    },
  });
  assertEquals(action.status, 201, JSON.stringify(action.body));
  assertEnvelope(
    await api("POST", "/rest-api/custom-actions", {
      token: ws.owner.jwt,
      body: { name: "bad_tags", url: `${FAKE}/hooks/x/{nope}` },
    }),
    400,
  );
  const editor = await member(ws, "editor");
  assertEnvelope(
    await api("POST", "/rest-api/custom-actions", { token: editor.jwt, body: { name: "x", url: `${FAKE}/hooks/x` } }),
    403,
  );
  const t = await table(ws, [
    { name: "Email", type: "text" },
    { name: "Score", type: "number" },
    {
      name: "CRM",
      type: "action",
      integration: "custom_http",
      actionName: "log_lead",
      inputMapping: { email: "{Email}", score: "{Score}" },
    },
  ]);
  const run = await runRow(ws, t, { Email: "o'hara@example.com", Score: 7.5 }, "CRM");
  assertEquals(run.execution.status, "success", run.execution.error);
  assertEquals(run.value, { received: true, path });
  const hit = hooks.find((h) => h.path === path)!;
  assertEquals(JSON.parse(hit.body), { email: "o'hara@example.com", score: 7.5 });
  assertEquals(hit.headers["x-api-key"], "crm-secret-123456");
  assertEquals(hit.headers["x-source"], "aitizer");
  assertEquals(run.execution.request.input.headers["X-Api-Key"], "***");
  // In use: the action cannot be deleted from under the column.
  assertEnvelope(await api("DELETE", `/rest-api/custom-actions/${action.body.id}`, { token: ws.owner.jwt }), 409);
  // Editing it is an admin's job; the column picks up the change.
  const patched = await api("PATCH", `/rest-api/custom-actions/${action.body.id}`, {
    token: ws.owner.jwt,
    body: { headers: { "X-Source": "v2" } },
  });
  assertEquals(patched.body.headers, { "X-Source": "v2" });
});

test("action columns are checked when saved: unknown actions and inputs, missing inputs, credential modes", async () => {
  const ws = await createWorkspace();
  const other = await createWorkspace();
  const foreign = await credential(other, "stripe");
  const mine = await credential(ws, "slack");
  const t = await table(ws, [{ name: "Email", type: "text" }]);
  const path = `/rest-api/tables/${t.id}/columns`;
  const base = { name: "Act", type: "action", integration: "stripe", actionName: "create_customer" };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, integration: "myspace" }, /integration 'myspace' has no action/],
    [{ ...base, actionName: "refund_all" }, /has no action 'refund_all'/],
    [
      { ...base, inputMapping: { emial: "{Email}" }, credentialMode: "editor_credential", credential: "k" },
      /no input emial/,
    ],
    [
      { ...base, actionName: "create_payment_link", credentialMode: "editor_credential", credential: "k" },
      /needs price/,
    ],
    [
      { ...base, inputMapping: { email: "{Emale}" }, credentialMode: "editor_credential", credential: "k" },
      /Unknown column \{Emale\}/,
    ],
    [{ ...base }, /credentialMode: required/],
    [{ ...base, credentialMode: "platform_llm" }, /supports admin_credential, editor_credential, not platform_llm/],
    [{ ...base, credentialMode: "admin_credential" }, /credentialId: required/],
    [{ ...base, credentialMode: "admin_credential", credentialId: foreign.id }, /no credential .* in this workspace/],
    [{ ...base, credentialMode: "admin_credential", credentialId: mine.id }, /is for slack, not stripe/],
    [{ ...base, credentialMode: "editor_credential" }, /credential: required with editor_credential/],
  ];
  for (const [body, message] of cases) {
    const res = await api("POST", path, { token: ws.vibeToken, body });
    assertEnvelope(res, 400);
    assertMatch(res.body.error.message, message, JSON.stringify(body));
  }
  const [{ n }] = await db`select count(*)::int as n from public.app_columns where table_id = ${t.id}`;
  assertEquals(n, 1, "nothing was written");
});

test("http_request auth secrets are stored like editor credentials and still sent", async () => {
  const ws = await createWorkspace();
  const path = `/hooks/auth-${uniq()}`;
  const t = await table(ws, [
    { name: "N", type: "text" },
    {
      name: "Call",
      type: "http_request",
      httpUrl: `${FAKE}${path}`,
      httpAuth: { type: "bearer", token: "tok-{N}-secret" },
    },
  ]);
  assertEquals(t.col("Call").httpAuth, { type: "bearer", token: { set: true } });
  const run = await runRow(ws, t, { N: "7" }, "Call");
  assertEquals(run.execution.status, "success", run.execution.error);
  assertEquals(hooks.find((h) => h.path === path)!.headers.authorization, "Bearer tok-7-secret");
  assertEquals(run.execution.request.headers.authorization, "***");
  const [cfg] = await db`select config::text as c from public.app_columns where id = ${t.col("Call").id}`;
  assert(!cfg.c.includes("tok-"), "the config holds no secret");
  // Switching to basic auth without a password: the stale token is dropped.
  const res = await api("PATCH", `/rest-api/tables/${t.id}/columns/${t.col("Call").id}`, {
    token: ws.vibeToken,
    body: { httpAuth: { type: "basic", username: "u", password: { set: true } } },
  });
  assertEnvelope(res, 400);
  assertMatch(res.body.error.message, /httpAuth.password: .* none is stored/);
});

test("the action-worker function drains the queue for a caller with the worker secret only", async () => {
  const ws = await createWorkspace();
  assertEnvelope(await api("POST", "/action-worker", {}), 401);
  assertEnvelope(await api("POST", "/action-worker", { token: "wrong" }), 401);
  assertEnvelope(await api("POST", "/action-worker", { token: ws.vibeToken }), 401);
  const ok = await api("POST", "/action-worker", {
    token: Deno.env.get("AITIZER_WORKER_SECRET") ?? "test-worker-secret",
  });
  assertEquals(ok.status, 200, JSON.stringify(ok.body));
  assertEquals(typeof ok.body.ran, "number");
  assertMatch(ok.body.worker, /^action-worker-/);
  assertEnvelope(await api("GET", "/action-worker", { token: "test-worker-secret" }), 405);
  // Any principal of the workspace may read the catalog (a rest_api token included).
  const token = await createToken(ws, "rest_api");
  assertEquals((await api("GET", "/rest-api/integrations", { token: token.token })).status, 200);
});

test("a provider that echoes a refused key back: the key never reaches the execution log", async () => {
  const ws = await createWorkspace();
  const secret = `leaky-${uniq()}-secret`;
  const cred = await credential(ws, "custom_http", secret);
  const action = await api("POST", "/rest-api/custom-actions", {
    token: ws.owner.jwt,
    body: {
      name: "echo_key",
      url: `${FAKE}/hooks/echo-key`,
      credential_id: cred.id,
      auth_header: "X-Api-Key",
      auth_scheme: "",
    },
  });
  assertEquals(action.status, 201, JSON.stringify(action.body));
  const t = await table(ws, [{ name: "N", type: "text" }, {
    name: "Call",
    type: "action",
    integration: "custom_http",
    actionName: "echo_key",
  }]);
  const run = await runRow(ws, t, { N: "x" }, "Call");
  assertEquals(run.execution.status, "failed");
  assertMatch(run.execution.error, /HTTP 401/);
  const logged = JSON.stringify(
    await db`select request, response, error from public.column_executions
                                         where table_id = ${t.id}`,
  );
  assert(logged.includes("bad key ***"), logged);
  assert(!logged.includes(secret), "the echoed key was scrubbed");
});
