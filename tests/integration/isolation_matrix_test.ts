// Tenant isolation: every REST data endpoint (tables, columns, records, views) × every principal
// kind, with the exact status of each cell; for refusals the seed's envelope and an unchanged
// database; for principals outside the table's reach, no byte of its data in any response.
//
// Each principal gets its own fixture (two tables, columns, views, records) in one workspace, so a
// cell that succeeds mutates objects no other cell looks at. User principals send
// `X-Workspace-Id` of the workspace under test; tokens send it too, to show it cannot widen them.
import { assert, assertEquals } from "@std/assert";
import {
  api,
  type ApiResult,
  createToken,
  createWorkspace,
  db,
  member,
  test,
  uniq,
  type Workspace,
} from "../_helpers.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const WHO = [
  "viewer",
  "editor",
  "admin",
  "super_admin",
  "rest_full", // rest_api token, full grid row on the fixture tables
  "rest_read", // rest_api token, can_read_all only
  "rest_none", // rest_api token with no grid row for the fixture tables (a full row on another table)
  "user_mcp", // user_mcp token, full grid row: records yes, schema no
  "vibe_mcp", // the workspace's system token: every table, full
  "stranger", // super_admin of another workspace (user JWT), X-Workspace-Id of this one
  "foreign", // the vibe_mcp token of another workspace: full rights, but there
] as const;
type Who = typeof WHO[number];

// A token of this workspace without a grid row for a table is refused with 403, as the seed's
// "token is valid but lacks permission for this table" says (the table stays out of its
// GET /tables); tables of other workspaces are 404, as if they did not exist (nothing revealed).
const HIDDEN = 403;

// One row per endpoint, one column per principal, in WHO order:
//                                        view  edit  admin super full  read  none  umcp  vibe  strgr forgn
const EXPECTED: Record<string, number[]> = {
  "GET /tables": /*                   */ [200, 200, 200, 200, 200, 200, 200, 200, 200, 404, 200],
  "POST /tables": /*                  */ [403, 201, 201, 201, 201, 201, 201, 403, 201, 404, 201],
  "GET /tables/:id": /*               */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "PATCH /tables/:id": /*             */ [403, 200, 200, 200, 200, 403, HIDDEN, 403, 200, 404, 404],
  "GET /columns": /*                  */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "POST /columns": /*                 */ [403, 201, 201, 201, 201, 403, HIDDEN, 403, 201, 404, 404],
  "GET /columns/:colId": /*           */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "PATCH /columns/:colId": /*         */ [403, 200, 200, 200, 200, 403, HIDDEN, 403, 200, 404, 404],
  "GET /records": /*                  */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "POST /records": /*                 */ [403, 201, 201, 201, 201, 403, HIDDEN, 201, 201, 404, 404],
  "GET /records/:rid": /*             */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "PATCH /records/:rid": /*           */ [403, 200, 200, 200, 200, 403, HIDDEN, 200, 200, 404, 404],
  "POST /records/batch": /*           */ [403, 201, 201, 201, 201, 403, HIDDEN, 201, 201, 404, 404],
  "PATCH /records/batch": /*          */ [403, 200, 200, 200, 200, 403, HIDDEN, 200, 200, 404, 404],
  "GET /views": /*                    */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "POST /views": /*                   */ [403, 201, 201, 201, 201, 403, HIDDEN, 403, 201, 404, 404],
  "GET /views/:viewId": /*            */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "PATCH /views/:viewId": /*          */ [403, 200, 200, 200, 200, 403, HIDDEN, 403, 200, 404, 404],
  "GET /views/:viewId/records": /*    */ [200, 200, 200, 200, 200, 200, HIDDEN, 200, 200, 404, 404],
  "DELETE /records/:rid": /*          */ [403, 200, 200, 200, 200, 403, HIDDEN, 200, 200, 404, 404],
  "DELETE /records/batch": /*         */ [403, 200, 200, 200, 200, 403, HIDDEN, 200, 200, 404, 404],
  "DELETE /views/:viewId": /*         */ [403, 200, 200, 200, 200, 403, HIDDEN, 403, 200, 404, 404],
  "DELETE /columns/:colId": /*        */ [403, 200, 200, 200, 200, 403, HIDDEN, 403, 200, 404, 404],
  "DELETE /tables/:id": /*            */ [403, 200, 200, 200, 200, 403, HIDDEN, 403, 200, 404, 404],
};

interface Fixture {
  who: Who;
  /** Marker in every name and value of this fixture: must never appear in a response it is hidden from. */
  secret: string;
  table: { id: number; pg: string };
  /** A second table, only for DELETE /tables/:id. */
  doomed: { id: number };
  cols: { name: number; extra: number; gone: number };
  views: { kept: number; doomed: number };
  records: { read: number; single: number; batchEdit: number; batchDel: [number, number] };
}

interface Cell {
  method: string;
  path: (fx: Fixture) => string;
  body?: (fx: Fixture) => unknown;
}

const T = (fx: Fixture) => `/rest-api/tables/${fx.table.id}`;
const CELLS: Record<string, Cell> = {
  "GET /tables": { method: "GET", path: () => "/rest-api/tables" },
  "POST /tables": {
    method: "POST",
    path: () => "/rest-api/tables",
    body: () => ({ name: `New ${uniq()}`, columns: [{ name: "A", type: "text" }] }),
  },
  "GET /tables/:id": { method: "GET", path: T },
  "PATCH /tables/:id": { method: "PATCH", path: T, body: (fx) => ({ name: `Renamed ${fx.secret}`, icon: "Zap" }) },
  "DELETE /tables/:id": { method: "DELETE", path: (fx) => `/rest-api/tables/${fx.doomed.id}` },
  "GET /columns": { method: "GET", path: (fx) => `${T(fx)}/columns` },
  "POST /columns": {
    method: "POST",
    path: (fx) => `${T(fx)}/columns`,
    body: () => ({ name: "Added", type: "number" }),
  },
  "GET /columns/:colId": { method: "GET", path: (fx) => `${T(fx)}/columns/${fx.cols.extra}` },
  "PATCH /columns/:colId": {
    method: "PATCH",
    path: (fx) => `${T(fx)}/columns/${fx.cols.extra}`,
    body: () => ({ name: "Extra renamed", ai_purpose: "changed" }),
  },
  "DELETE /columns/:colId": { method: "DELETE", path: (fx) => `${T(fx)}/columns/${fx.cols.gone}` },
  "GET /records": { method: "GET", path: (fx) => `${T(fx)}/records?count=true` },
  "POST /records": {
    method: "POST",
    path: (fx) => `${T(fx)}/records`,
    body: (fx) => ({ row_data: { Name: `posted ${fx.secret}` } }),
  },
  "GET /records/:rid": { method: "GET", path: (fx) => `${T(fx)}/records/${fx.records.read}` },
  "PATCH /records/:rid": {
    method: "PATCH",
    path: (fx) => `${T(fx)}/records/${fx.records.read}`,
    body: (fx) => ({ row_data: { [`col_${fx.cols.extra}`]: "patched" } }),
  },
  "DELETE /records/:rid": { method: "DELETE", path: (fx) => `${T(fx)}/records/${fx.records.single}` },
  "POST /records/batch": {
    method: "POST",
    path: (fx) => `${T(fx)}/records/batch`,
    body: (fx) => ({ records: [{ row_data: { Name: `b1 ${fx.secret}` } }, { row_data: { Name: "b2" } }] }),
  },
  "PATCH /records/batch": {
    method: "PATCH",
    path: (fx) => `${T(fx)}/records/batch`,
    body: (fx) => ({
      records: [{ id: fx.records.batchEdit, row_data: { [`col_${fx.cols.extra}`]: "batch-patched" } }],
    }),
  },
  "DELETE /records/batch": {
    method: "DELETE",
    path: (fx) => `${T(fx)}/records/batch`,
    body: (fx) => ({ ids: fx.records.batchDel }),
  },
  "GET /views": { method: "GET", path: (fx) => `${T(fx)}/views` },
  "POST /views": {
    method: "POST",
    path: (fx) => `${T(fx)}/views`,
    body: (fx) => ({ name: `Added view ${fx.secret}`, view_type: "grid" }),
  },
  "GET /views/:viewId": { method: "GET", path: (fx) => `${T(fx)}/views/${fx.views.kept}` },
  "PATCH /views/:viewId": {
    method: "PATCH",
    path: (fx) => `${T(fx)}/views/${fx.views.kept}`,
    body: () => ({ name: "Renamed view", filters: [{ field: "Name", op: "nempty" }] }),
  },
  "DELETE /views/:viewId": { method: "DELETE", path: (fx) => `${T(fx)}/views/${fx.views.doomed}` },
  "GET /views/:viewId/records": { method: "GET", path: (fx) => `${T(fx)}/views/${fx.views.kept}/records` },
};

// ---------------------------------------------------------------------------------------------
// World: one workspace under test, one other workspace, a fixture and a credential per principal.
// ---------------------------------------------------------------------------------------------
interface World {
  ws: Workspace;
  other: Workspace;
  /** Marker in the other workspace's data: must never reach a principal of `ws`. */
  otherSecret: string;
  otherTableIds: number[];
  credentials: Record<Who, string>;
  fixtures: Record<Who, Fixture>;
}

async function ok(res: Promise<ApiResult>, status: number, what: string): Promise<Any> {
  const r = await res;
  assert(r.status === status, `${what}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function makeFixture(ws: Workspace, who: Who): Promise<Fixture> {
  const secret = `SECRET-${who}-${uniq()}`;
  const token = ws.vibeToken;
  const table = await ok(
    api("POST", "/rest-api/tables", {
      token,
      body: {
        name: `T ${secret}`,
        columns: [{ name: "Name", type: "text" }, { name: "Extra", type: "text" }, { name: "Gone", type: "text" }],
      },
    }),
    201,
    "fixture table",
  );
  const doomed = await ok(
    api("POST", "/rest-api/tables", { token, body: { name: `Doomed ${secret}` } }),
    201,
    "doomed table",
  );
  const col = (n: string) => table.columns.find((c: Any) => c.name === n).id as number;
  const view = (name: string) =>
    ok(api("POST", `/rest-api/tables/${table.id}/views`, { token, body: { name, view_type: "grid" } }), 201, "view");
  const kept = await view(`Kept ${secret}`);
  const doomedView = await view(`Doomed ${secret}`);
  const batch = await ok(
    api("POST", `/rest-api/tables/${table.id}/records/batch`, {
      token,
      body: {
        records: ["read", "single", "batchEdit", "batchDel1", "batchDel2"].map((n) => ({
          row_data: { Name: `${n} ${secret}`, Extra: secret, Gone: secret },
        })),
      },
    }),
    201,
    "fixture records",
  );
  const ids = batch.records.map((r: Any) => r.id as number);
  return {
    who,
    secret,
    table: { id: table.id, pg: table.pg_table_name },
    doomed: { id: doomed.id },
    cols: { name: col("Name"), extra: col("Extra"), gone: col("Gone") },
    views: { kept: kept.id, doomed: doomedView.id },
    records: { read: ids[0], single: ids[1], batchEdit: ids[2], batchDel: [ids[3], ids[4]] },
  };
}

const FULL = { can_read_all: true, can_create: true, can_edit: true, can_delete: true };
const READ_ONLY = { can_read_all: true, can_create: false, can_edit: false, can_delete: false };

let world: Promise<World> | undefined;
function getWorld(): Promise<World> {
  world ??= (async () => {
    const [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
    const otherSecret = `OTHERSECRET-${uniq()}`;
    const otherTable = await ok(
      api("POST", "/rest-api/tables", {
        token: other.vibeToken,
        body: { name: `Other ${otherSecret}`, columns: [{ name: "Name", type: "text" }] },
      }),
      201,
      "other table",
    );
    await ok(
      api("POST", `/rest-api/tables/${otherTable.id}/records`, {
        token: other.vibeToken,
        body: { row_data: { Name: otherSecret } },
      }),
      201,
      "other record",
    );
    const fixtures = Object.fromEntries(
      await Promise.all(WHO.map(async (who) => [who, await makeFixture(ws, who)] as const)),
    ) as Record<Who, Fixture>;
    const grid = (who: Who, g: typeof FULL) => [
      { table_id: fixtures[who].table.id, ...g },
      { table_id: fixtures[who].doomed.id, ...g },
    ];
    // rest_none holds a full row, but on a table that is not its fixture.
    const elsewhere = fixtures.rest_full.table.id;
    const credentials: Record<Who, string> = {
      viewer: (await member(ws, "viewer")).jwt,
      editor: (await member(ws, "editor")).jwt,
      admin: (await member(ws, "admin")).jwt,
      super_admin: ws.owner.jwt,
      rest_full: (await createToken(ws, "rest_api", { permissions: grid("rest_full", FULL) })).token,
      rest_read: (await createToken(ws, "rest_api", { permissions: grid("rest_read", READ_ONLY) })).token,
      rest_none: (await createToken(ws, "rest_api", { permissions: [{ table_id: elsewhere, ...FULL }] })).token,
      user_mcp: (await createToken(ws, "user_mcp", { permissions: grid("user_mcp", FULL) })).token,
      vibe_mcp: ws.vibeToken,
      stranger: other.owner.jwt,
      foreign: other.vibeToken,
    };
    return { ws, other, otherSecret, otherTableIds: [otherTable.id], credentials, fixtures };
  })();
  return world;
}

/** Everything a refused call must leave untouched: the fixture's tables, columns, views and rows. */
async function snapshot(w: World, fx: Fixture) {
  const [tables, columns, views, rows, grids] = await Promise.all([
    db`select id, name, icon, schema_version, updated_at from public.app_tables
       where workspace_id = ${w.ws.id} order by id`,
    db`select id, name, type, position, config, ai_purpose, updated_at from public.app_columns
       where table_id = ${fx.table.id} order by id`,
    db`select id, name, filters, sort, updated_at from public.app_views where table_id = ${fx.table.id} order by id`,
    db`select * from ${db("public." + fx.table.pg)} order by id`,
    db`select * from public.token_table_permissions where workspace_id = ${w.ws.id} order by token_id, table_id`,
  ]);
  return JSON.stringify({ tables, columns, views, rows, grids });
}

/** Principals for whom the fixture table does not exist. */
const OUTSIDERS: Who[] = ["rest_none", "stranger", "foreign"];

for (const [name, cell] of Object.entries(CELLS)) {
  test(`isolation matrix: ${name}`, async () => {
    const w = await getWorld();
    const expectedRow = EXPECTED[name];
    assertEquals(expectedRow.length, WHO.length, `EXPECTED row of ${name}`);
    const failures: string[] = [];
    for (const [i, who] of WHO.entries()) {
      const fx = w.fixtures[who];
      const expected = expectedRow[i];
      const before = await snapshot(w, fx);
      const res = await api(cell.method, cell.path(fx), {
        token: w.credentials[who],
        body: cell.body?.(fx),
        headers: { "x-workspace-id": String(w.ws.id) },
      });
      const text = JSON.stringify(res.body);
      const fail = (why: string) => failures.push(`${who}: ${why}`);
      if (res.status !== expected) fail(`expected ${expected}, got ${res.status} ${text}`);
      if (res.status >= 400) {
        if (res.body?.data !== null || typeof res.body?.error?.message !== "string") fail(`no envelope: ${text}`);
        if (res.status === 403 && res.body?.error?.code !== "forbidden") fail(`403 code ${res.body?.error?.code}`);
        if (res.status === 404 && res.body?.error?.code !== "PGRST116") fail(`404 code ${res.body?.error?.code}`);
        if (await snapshot(w, fx) !== before) fail("refused, yet the database changed");
      } else if (cell.method !== "GET") {
        // The snapshot sees the change a write makes (so its silence on refusals means something),
        // except the foreign token's POST /tables, which lands in its own workspace.
        const moved = await snapshot(w, fx) !== before;
        if (moved !== (who !== "foreign")) fail(moved ? "foreign write changed this workspace" : "write not seen");
      }
      // Nothing of another tenant, ever; nothing of a hidden table, whatever the status.
      if (who !== "stranger" && who !== "foreign" && text.includes(w.otherSecret)) {
        fail("response carries the other workspace's data");
      }
      if (OUTSIDERS.includes(who)) {
        for (const f of Object.values(w.fixtures)) {
          if (who === "rest_none" && f.who === "rest_full") continue; // its one granted table
          if (text.includes(f.secret)) fail(`response carries data of ${f.who}'s hidden fixture`);
        }
      }
      if (name === "GET /tables" && res.status === 200) {
        const ids = (res.body as Any[]).map((t) => t.id as number);
        const wsTables = (await db`select id from public.app_tables where workspace_id = ${w.ws.id}`).map((r) => r.id);
        if (who === "stranger" || who === "foreign") {
          if (ids.some((id) => wsTables.includes(id))) fail(`lists tables of the workspace under test: ${ids}`);
        } else {
          if (ids.some((id) => w.otherTableIds.includes(id))) fail(`lists tables of the other workspace: ${ids}`);
          if (who === "rest_none") {
            const hidden = Object.values(w.fixtures).filter((f) => f.who !== "rest_full").map((f) => f.table.id);
            if (ids.some((id) => hidden.includes(id))) fail(`lists tables it has no grid row for: ${ids}`);
            if (!ids.includes(w.fixtures.rest_full.table.id)) fail(`misses its granted table: ${ids}`);
          }
          if (who === "rest_full" || who === "rest_read" || who === "user_mcp") {
            const granted = [fx.table.id, fx.doomed.id].filter((id) => wsTables.includes(id));
            // Plus tables the token created itself in POST /tables (none yet when this runs first).
            if (!granted.every((id) => ids.includes(id))) fail(`misses a granted table: ${ids}`);
          }
        }
      }
      if (name === "POST /tables" && res.status === 201 && who === "foreign") {
        // A token's workspace is its own: the header cannot move its writes elsewhere.
        assertEquals(res.body.workspace_id, w.other.id, "foreign token created a table outside its workspace");
      }
      if (name === "GET /records" && res.status === 200) {
        const ids = new Set(res.body.records.map((r: Any) => r.id));
        if (!ids.has(fx.records.read)) fail("list misses the fixture's record");
      }
    }
    assertEquals(failures, []);
  });
}

// ---------------------------------------------------------------------------------------------
// Child ids of another tenant, reached through a table the caller fully owns: ids are scoped by
// their table, so each is a 404 (or a per-item error) and nothing moves.
// ---------------------------------------------------------------------------------------------
test("isolation: another workspace's column, view and record ids through one's own table are not found", async () => {
  const w = await getWorld();
  const victim = w.fixtures.super_admin;
  const own = await ok(
    api("POST", "/rest-api/tables", {
      token: w.other.vibeToken,
      body: { name: `Own ${uniq()}`, columns: [{ name: "Name", type: "text" }] },
    }),
    201,
    "own table",
  );
  const base = `/rest-api/tables/${own.id}`;
  const token = w.other.vibeToken;
  const before = await snapshot(w, victim);
  const calls: [string, string, unknown?][] = [
    ["GET", `${base}/columns/${victim.cols.extra}`],
    ["GET", `${base}/columns/col_${victim.cols.extra}`],
    ["PATCH", `${base}/columns/${victim.cols.extra}`, { name: "x" }],
    ["DELETE", `${base}/columns/${victim.cols.gone}`],
    ["GET", `${base}/views/${victim.views.kept}`],
    ["PATCH", `${base}/views/${victim.views.kept}`, { name: "x" }],
    ["DELETE", `${base}/views/${victim.views.doomed}`],
    ["GET", `${base}/views/${victim.views.kept}/records`],
    ["GET", `${base}/records/${victim.records.read}`],
    ["PATCH", `${base}/records/${victim.records.read}`, { row_data: { Name: "x" } }],
    ["DELETE", `${base}/records/${victim.records.single}`],
  ];
  const failures: string[] = [];
  for (const [method, path, body] of calls) {
    const res = await api(method, path, { token, body });
    if (res.status !== 404 || res.body?.error?.code !== "PGRST116") {
      failures.push(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    if (JSON.stringify(res.body).includes(victim.secret)) failures.push(`${method} ${path}: leaks the victim's data`);
  }
  // Batches: every foreign id is a per-item miss (atomic: the whole batch is refused).
  const patch = await api("PATCH", `${base}/records/batch`, {
    token,
    body: { records: [{ id: victim.records.batchEdit, row_data: { Name: "x" } }] },
  });
  if (patch.status !== 200 || patch.body.records.length !== 0 || patch.body.errors[0]?.error?.code !== "PGRST116") {
    failures.push(`PATCH batch: ${patch.status} ${JSON.stringify(patch.body)}`);
  }
  const del = await api("DELETE", `${base}/records/batch`, { token, body: { ids: victim.records.batchDel } });
  if (del.status !== 200 || del.body.deleted_ids.length !== 0 || del.body.errors.length !== 2) {
    failures.push(`DELETE batch: ${del.status} ${JSON.stringify(del.body)}`);
  }
  // A relation column cannot point at another workspace's table, and a record cannot link to its rows.
  const rel = await api("POST", `${base}/columns`, {
    token,
    body: { name: "Link", type: "relation", relationTableId: victim.table.id },
  });
  if (rel.status !== 400 && rel.status !== 404) failures.push(`relation to a foreign table: ${rel.status}`);
  if (JSON.stringify(rel.body).includes(victim.secret)) failures.push("relation error leaks the victim's table");
  assertEquals(failures, []);
  assertEquals(await snapshot(w, victim), before, "the victim's data moved");
});
