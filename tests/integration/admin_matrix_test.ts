// Every workspace administration endpoint × every principal kind: the exact status, and for
// refusals, that the database did not change.
import { assertEquals } from "@std/assert";
import { api, createToken, createUser, createWorkspace, db, member, test, type Workspace } from "../_helpers.ts";

type Who = "super_admin" | "admin" | "editor" | "viewer" | "rest_api" | "user_mcp" | "vibe_mcp" | "stranger";
const WHO: Who[] = ["super_admin", "admin", "editor", "viewer", "rest_api", "user_mcp", "vibe_mcp", "stranger"];

interface Cell {
  method: string;
  path: (ws: Workspace, fx: Fixture) => string;
  body?: (fx: Fixture) => unknown;
  /** Expected status per principal; anything not listed is 403, the stranger 404. */
  allowed: Partial<Record<Who, number>>;
  /** A database fact that must not move when the call is refused. */
  state: (ws: Workspace, fx: Fixture) => Promise<unknown>;
}

interface Fixture {
  target: { id: string };
  newcomer: { id: string };
  token: { id: number };
  tableId: number;
}

const admins = (status: number) => ({ super_admin: status, admin: status });
const members = (ws: Workspace) =>
  db`select user_id, role from public.workspace_members where workspace_id = ${ws.id} order by user_id`;
const tokens = (ws: Workspace) =>
  db`select id, revoked_at from public.api_tokens where workspace_id = ${ws.id} order by id`;

const CELLS: Record<string, Cell> = {
  "GET /workspaces/:id": {
    method: "GET",
    path: (ws) => `/rest-api/workspaces/${ws.id}`,
    allowed: { ...admins(200), editor: 200, viewer: 200, rest_api: 200, user_mcp: 200, vibe_mcp: 200 },
    state: () => Promise.resolve(null),
  },
  "PATCH /workspaces/:id": {
    method: "PATCH",
    path: (ws) => `/rest-api/workspaces/${ws.id}`,
    body: () => ({ name: "changed" }),
    allowed: admins(200),
    state: (ws) => db`select name from public.workspaces where id = ${ws.id}`,
  },
  "GET /members": {
    method: "GET",
    path: (ws) => `/rest-api/workspaces/${ws.id}/members`,
    allowed: { ...admins(200), editor: 200, viewer: 200 },
    state: () => Promise.resolve(null),
  },
  "POST /members": {
    method: "POST",
    path: (ws) => `/rest-api/workspaces/${ws.id}/members`,
    body: (fx) => ({ user_id: fx.newcomer.id, role: "viewer" }),
    allowed: admins(201),
    state: members,
  },
  "PATCH /members/:userId": {
    method: "PATCH",
    path: (ws, fx) => `/rest-api/workspaces/${ws.id}/members/${fx.target.id}`,
    body: () => ({ role: "editor" }),
    allowed: admins(200),
    state: members,
  },
  "DELETE /members/:userId": {
    method: "DELETE",
    path: (ws, fx) => `/rest-api/workspaces/${ws.id}/members/${fx.target.id}`,
    allowed: admins(200),
    state: members,
  },
  "GET /tokens": {
    method: "GET",
    path: (ws) => `/rest-api/workspaces/${ws.id}/tokens`,
    allowed: admins(200),
    state: () => Promise.resolve(null),
  },
  "POST /tokens": {
    method: "POST",
    path: (ws) => `/rest-api/workspaces/${ws.id}/tokens`,
    body: () => ({ name: "new", token_type: "rest_api" }),
    allowed: admins(201),
    state: tokens,
  },
  "DELETE /tokens/:tokenId": {
    method: "DELETE",
    path: (ws, fx) => `/rest-api/workspaces/${ws.id}/tokens/${fx.token.id}`,
    allowed: admins(200),
    state: tokens,
  },
  "PUT /tokens/:tokenId/permissions": {
    method: "PUT",
    path: (ws, fx) => `/rest-api/workspaces/${ws.id}/tokens/${fx.token.id}/permissions`,
    body: (fx) => ({ permissions: [{ table_id: fx.tableId, can_read_all: true }] }),
    allowed: admins(200),
    state: (_ws, fx) => db`select * from public.token_table_permissions where token_id = ${fx.token.id}`,
  },
};

for (const [name, cell] of Object.entries(CELLS)) {
  test(`admin matrix: ${name}`, async () => {
    const ws = await createWorkspace();
    const other = await createWorkspace();
    const tableId = (await api("POST", "/rest-api/tables", { token: ws.vibeToken, body: { name: "T" } })).body.id;
    const credentials: Record<Who, string> = {
      super_admin: ws.owner.jwt,
      admin: (await member(ws, "admin")).jwt,
      editor: (await member(ws, "editor")).jwt,
      viewer: (await member(ws, "viewer")).jwt,
      rest_api: (await createToken(ws, "rest_api")).token,
      user_mcp: (await createToken(ws, "user_mcp")).token,
      vibe_mcp: ws.vibeToken,
      stranger: other.owner.jwt,
    };
    const failures: string[] = [];
    for (const who of WHO) {
      // Fresh targets per call, so every cell is independent of the others.
      const fx: Fixture = {
        target: await member(ws, "viewer"),
        newcomer: await createUser("newcomer"),
        token: await createToken(ws, "rest_api"),
        tableId,
      };
      const expected = cell.allowed[who] ?? (who === "stranger" ? 404 : 403);
      const before = JSON.stringify(await cell.state(ws, fx));
      const res = await api(cell.method, cell.path(ws, fx), { token: credentials[who], body: cell.body?.(fx) });
      if (res.status !== expected) {
        failures.push(`${who}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body)}`);
      }
      if (res.status >= 400) {
        if (res.body?.data !== null || typeof res.body?.error?.message !== "string") {
          failures.push(`${who}: no envelope`);
        }
        if (JSON.stringify(await cell.state(ws, fx)) !== before) {
          failures.push(`${who}: refused, yet the database changed`);
        }
      }
    }
    assertEquals(failures, []);
  });
}
