// /workspaces: administration over the REST API (user JWT, role-checked).
import type { Context, Hono } from "hono";
import { requireAuth, resource } from "../http/app.ts";
import { idParam, jsonBody, uuidParam } from "../http/validate.ts";
import * as ws from "./service.ts";
import {
  addMemberInput,
  createTokenInput,
  createWorkspaceInput,
  setPermissionsInput,
  updateMemberInput,
  updateWorkspaceInput,
} from "./schemas.ts";

export function mountWorkspaces(app: Hono) {
  const auth = requireAuth();

  resource(app, "/workspaces", {
    GET: async (c) => c.json(await ws.listWorkspaces(c.var.principal)),
    POST: async (c) => {
      const input = await jsonBody(c, createWorkspaceInput);
      const created = await ws.createWorkspace(c.var.principal, input.name);
      c.set("workspaceId", created.id);
      return c.json(created, 201);
    },
  }, auth);

  resource(app, "/workspaces/:id", {
    GET: async (c) => c.json(await ws.getWorkspace(c.var.principal, workspaceParam(c))),
    PATCH: async (c) => {
      const id = workspaceParam(c);
      return c.json(await ws.updateWorkspace(c.var.principal, id, await jsonBody(c, updateWorkspaceInput)));
    },
  }, auth);

  resource(app, "/workspaces/:id/members", {
    GET: async (c) => c.json(await ws.listMembers(c.var.principal, workspaceParam(c))),
    POST: async (c) => {
      const id = workspaceParam(c);
      return c.json(await ws.addMember(c.var.principal, id, await jsonBody(c, addMemberInput)), 201);
    },
  }, auth);

  resource(app, "/workspaces/:id/members/:userId", {
    PATCH: async (c) => {
      const id = workspaceParam(c);
      const userId = uuidParam(c, "userId");
      const { role } = await jsonBody(c, updateMemberInput);
      return c.json(await ws.updateMember(c.var.principal, id, userId, role));
    },
    DELETE: async (c) => c.json(await ws.removeMember(c.var.principal, workspaceParam(c), uuidParam(c, "userId"))),
  }, auth);

  resource(app, "/workspaces/:id/tokens", {
    GET: async (c) => c.json(await ws.listTokens(c.var.principal, workspaceParam(c))),
    POST: async (c) => {
      const id = workspaceParam(c);
      return c.json(await ws.createToken(c.var.principal, id, await jsonBody(c, createTokenInput)), 201);
    },
  }, auth);

  resource(app, "/workspaces/:id/tokens/:tokenId", {
    DELETE: async (c) => c.json(await ws.revokeToken(c.var.principal, workspaceParam(c), idParam(c, "tokenId"))),
  }, auth);

  resource(app, "/workspaces/:id/tokens/:tokenId/permissions", {
    PUT: async (c) => {
      const id = workspaceParam(c);
      const tokenId = idParam(c, "tokenId");
      const { permissions } = await jsonBody(c, setPermissionsInput);
      return c.json(await ws.setPermissions(c.var.principal, id, tokenId, permissions));
    },
  }, auth);
}

function workspaceParam(c: Context): number {
  const id = idParam(c, "id");
  c.set("workspaceId", id);
  return id;
}
