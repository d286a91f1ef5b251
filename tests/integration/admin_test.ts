// Workspace administration, authentication, the error envelope, audit rows and rate limits.
import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  api,
  assertEnvelope,
  auditRow,
  createToken,
  createUser,
  createWorkspace,
  db,
  member,
  signJwt,
  test,
} from "../_helpers.ts";

test("401 for missing, malformed, unknown, expired and revoked credentials; Bearer and X-MCP-Token both work", async () => {
  const ws = await createWorkspace();
  const rest = await createToken(ws, "rest_api");
  assertEnvelope(await api("GET", "/rest-api/me"), 401, "unauthorized");
  assertEnvelope(await api("GET", "/rest-api/me", { headers: { authorization: "Basic abc" } }), 401, "unauthorized");
  assertEnvelope(await api("GET", "/rest-api/me", { token: "aitz_rest_" + "x".repeat(43) }), 401, "unauthorized");
  assertEnvelope(await api("GET", "/rest-api/me", { token: "garbage" }), 401, "unauthorized");
  const expired = await signJwt({ sub: ws.owner.id, role: "authenticated" }, undefined, "-1m");
  assertEnvelope(await api("GET", "/rest-api/me", { token: expired }), 401, "unauthorized");
  const forged = await signJwt(
    { sub: ws.owner.id, role: "authenticated" },
    "another-secret-of-at-least-32-characters!!",
  );
  assertEnvelope(await api("GET", "/rest-api/me", { token: forged }), 401, "unauthorized");
  const anon = await signJwt({ sub: ws.owner.id, role: "anon" });
  assertEnvelope(await api("GET", "/rest-api/me", { token: anon }), 401, "unauthorized");

  const bearer = await api("GET", "/rest-api/me", { token: rest.token });
  assertEquals(bearer.status, 200);
  assertEquals(bearer.body.principal, { kind: "token", token_id: rest.id, token_type: "rest_api" });
  const mcp = await api("GET", "/rest-api/me", { headers: { "x-mcp-token": rest.token } });
  assertEquals(mcp.body.principal.token_id, rest.id);
  const user = await api("GET", "/rest-api/me", { token: ws.owner.jwt });
  assertEquals(user.body.principal.user_id, ws.owner.id);

  // Revocation takes effect within the cache time (≤ 5 s) even on a warm cache.
  const revoke = await api("DELETE", `/rest-api/workspaces/${ws.id}/tokens/${rest.id}`, { token: ws.owner.jwt });
  assertEquals(revoke.status, 200);
  assert(revoke.body.revoked_at);
  const deadline = Date.now() + 5_000;
  let status = 200;
  while (Date.now() < deadline && status === 200) {
    status = (await api("GET", "/rest-api/me", { token: rest.token })).status;
    if (status === 200) await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(status, 401);
});

test("workspaces: creator is super_admin, tokens cannot administer, strangers see 404", async () => {
  const ws = await createWorkspace();
  const other = await createWorkspace();
  const viewer = await member(ws, "viewer");
  const admin = await member(ws, "admin");
  const rest = await createToken(ws, "rest_api");

  const got = await api("GET", `/rest-api/workspaces/${ws.id}`, { token: ws.owner.jwt });
  assertEquals([got.status, got.body.role], [200, "super_admin"]);
  assertEquals((await api("GET", `/rest-api/workspaces/${ws.id}`, { token: viewer.jwt })).body.role, "viewer");
  assertEnvelope(await api("GET", `/rest-api/workspaces/${ws.id}`, { token: other.owner.jwt }), 404, "PGRST116");
  assertEnvelope(await api("GET", `/rest-api/workspaces/${other.id}`, { token: rest.token }), 404);

  assertEnvelope(
    await api("PATCH", `/rest-api/workspaces/${ws.id}`, { token: viewer.jwt, body: { name: "x" } }),
    403,
    "forbidden",
  );
  assertEnvelope(await api("PATCH", `/rest-api/workspaces/${ws.id}`, { token: rest.token, body: { name: "x" } }), 403);
  assertEnvelope(
    await api("PATCH", `/rest-api/workspaces/${ws.id}`, { token: other.owner.jwt, body: { name: "x" } }),
    404,
  );
  const renamed = await api("PATCH", `/rest-api/workspaces/${ws.id}`, { token: admin.jwt, body: { name: "Renamed" } });
  assertEquals(renamed.body.name, "Renamed");
  const [row] = await db`select name from public.workspaces where id = ${ws.id}`;
  assertEquals(row.name, "Renamed");
  assertEnvelope(await api("POST", "/rest-api/workspaces", { token: rest.token, body: { name: "x" } }), 403);
  const list = await api("GET", "/rest-api/workspaces", { token: ws.owner.jwt });
  assertEquals(list.body.map((w: { id: number }) => w.id), [ws.id]);
});

test("members: no one raises a role above their own; the last super_admin stays; members may leave", async () => {
  const ws = await createWorkspace();
  const admin = await member(ws, "admin");
  const editor = await member(ws, "editor");
  const newcomer = await createUser("newcomer");
  const base = `/rest-api/workspaces/${ws.id}/members`;

  assertEnvelope(await api("POST", base, { token: editor.jwt, body: { user_id: newcomer.id, role: "viewer" } }), 403);
  assertEnvelope(
    await api("POST", base, { token: admin.jwt, body: { user_id: newcomer.id, role: "super_admin" } }),
    403,
  );
  const added = await api("POST", base, { token: admin.jwt, body: { email: newcomer.email, role: "editor" } });
  assertEquals([added.status, added.body.role], [201, "editor"]);
  assertEnvelope(await api("POST", base, { token: admin.jwt, body: { user_id: newcomer.id, role: "viewer" } }), 409);
  assertEnvelope(await api("POST", base, { token: admin.jwt, body: { role: "viewer" } }), 400, "validation_failed");

  assertEnvelope(await api("PATCH", `${base}/${ws.owner.id}`, { token: admin.jwt, body: { role: "viewer" } }), 403);
  assertEnvelope(
    await api("PATCH", `${base}/${ws.owner.id}`, { token: ws.owner.jwt, body: { role: "admin" } }),
    409,
    "conflict",
  );
  assertEnvelope(await api("DELETE", `${base}/${ws.owner.id}`, { token: ws.owner.jwt }), 409, "conflict");
  assertEquals(
    (await api("PATCH", `${base}/${editor.id}`, { token: admin.jwt, body: { role: "viewer" } })).body.role,
    "viewer",
  );

  assertEquals((await api("DELETE", `${base}/${newcomer.id}`, { token: newcomer.jwt })).status, 200, "self-leave");
  const members = await api("GET", base, { token: editor.jwt });
  assertEquals(members.body.length, 3);
  assert(!members.body.some((m: { user_id: string }) => m.user_id === newcomer.id));
});

test("tokens: secret once, prefix in listings, grids replaced whole, other workspaces' tables refused", async () => {
  const ws = await createWorkspace();
  const other = await createWorkspace();
  const table = (await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: "T" } })).body;
  const foreign = (await api("POST", "/rest-api/tables", { token: other.vibeToken, body: { name: "F" } })).body;
  const created = await createToken(ws, "rest_api", { permissions: [{ table_id: table.id, can_read_all: true }] });
  assertMatch(created.token, /^aitz_rest_[A-Za-z0-9_-]{43}$/);

  const list = await api("GET", `/rest-api/workspaces/${ws.id}/tokens`, { token: ws.owner.jwt });
  const listed = list.body.find((t: { id: number }) => t.id === created.id);
  assertEquals(listed.prefix, created.token.slice(0, 16));
  assert(!JSON.stringify(list.body).includes(created.token), "the secret is never listed");
  assert(!("token_hash" in listed));

  const path = `/rest-api/workspaces/${ws.id}/tokens/${created.id}/permissions`;
  const put = await api("PUT", path, {
    token: ws.owner.jwt,
    body: { permissions: [{ table_id: table.id, can_read_all: true, can_create: true }] },
  });
  assertEquals(put.status, 200);
  const rows =
    await db`select can_read_all, can_create, can_edit from public.token_table_permissions where token_id = ${created.id}`;
  assertEquals(rows.map((r) => [r.can_read_all, r.can_create, r.can_edit]), [[true, true, false]]);
  assertEnvelope(
    await api("PUT", path, { token: ws.owner.jwt, body: { permissions: [{ table_id: foreign.id }] } }),
    400,
  );
  const editor = await member(ws, "editor");
  assertEnvelope(await api("PUT", path, { token: editor.jwt, body: { permissions: [] } }), 403);
  assertEnvelope(await api("GET", `/rest-api/workspaces/${ws.id}/tokens`, { token: created.token }), 403);
  // The grid applies on the next request.
  const rec = await api("POST", `/rest-api/tables/${table.id}/records`, {
    token: created.token,
    body: { row_data: {} },
  });
  assertEquals(rec.status, 201);
  await api("PUT", path, { token: ws.owner.jwt, body: { permissions: [] } });
  // Without a grid row the token lacks permission on its own workspace's table: 403.
  assertEnvelope(await api("GET", `/rest-api/tables/${table.id}/records`, { token: created.token }), 403, "forbidden");
});

test("the error envelope for every error class, with an audit row for each call", async () => {
  const ws = await createWorkspace();
  const cases: [Promise<Awaited<ReturnType<typeof api>>>, number, string][] = [
    [
      api("POST", "/rest-api/workspaces", {
        token: ws.owner.jwt,
        raw: "{bad",
        headers: { "content-type": "application/json" },
      }),
      400,
      "invalid_json",
    ],
    [
      api("POST", "/rest-api/workspaces", {
        token: ws.owner.jwt,
        raw: "name=x",
        headers: { "content-type": "text/plain" },
      }),
      415,
      "unsupported_media_type",
    ],
    [
      api("POST", "/rest-api/workspaces", { token: ws.owner.jwt, body: { name: "x".repeat(1_100_000) } }),
      413,
      "payload_too_large",
    ],
    [api("GET", "/rest-api/nowhere", { token: ws.owner.jwt }), 404, "not_found"],
    [api("DELETE", "/rest-api/workspaces", { token: ws.owner.jwt }), 405, "method_not_allowed"],
    [api("POST", "/rest-api/workspaces", { token: ws.owner.jwt, body: { name: "" } }), 400, "validation_failed"],
    [api("GET", "/rest-api/workspaces/abc", { token: ws.owner.jwt }), 400, "bad_request"],
  ];
  for (const [pending, status, code] of cases) {
    const res = await pending;
    assertEnvelope(res, status, code);
    assert(!/\bat \w+ \(|select |insert |PostgresError/i.test(JSON.stringify(res.body)), "no stack or SQL");
    const row = await auditRow(res.headers.get("x-request-id"));
    assertEquals(row.status_code, status);
  }
  const res405 = await api("DELETE", "/rest-api/workspaces", { token: ws.owner.jwt });
  assertMatch(res405.headers.get("allow") ?? "", /GET, POST/);

  const ok = await api("GET", `/rest-api/workspaces/${ws.id}`, { token: ws.owner.jwt });
  const row = await auditRow(ok.headers.get("x-request-id"));
  assertEquals([row.method, row.endpoint, row.status_code, row.user_id], [
    "GET",
    `/rest-api/workspaces/${ws.id}`,
    200,
    ws.owner.id,
  ]);
  assert(Number(row.duration_ms) >= 0);
});

test("rate limits per token: 429 with Retry-After, other tokens unaffected", async () => {
  const ws = await createWorkspace();
  const limited = await createToken(ws, "rest_api", { rate_limit_per_minute: 3 });
  const free = await createToken(ws, "rest_api");
  for (let i = 0; i < 3; i++) assertEquals((await api("GET", "/rest-api/me", { token: limited.token })).status, 200);
  const res = await api("GET", "/rest-api/me", { token: limited.token });
  assertEnvelope(res, 429, "rate_limited");
  const wait = Number(res.headers.get("retry-after"));
  assert(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
  assertEquals((await api("GET", "/rest-api/me", { token: free.token })).status, 200);
  const row = await auditRow(res.headers.get("x-request-id"));
  assertEquals([row.status_code, Number(row.token_id)], [429, limited.id]);
});
