// /integrations (the catalog), /credentials (admin_credential) and /custom-actions (custom HTTP).
import type { Hono } from "hono";
import { z } from "zod";
import { requireAuth, resource } from "../http/app.ts";
import { idParam, jsonBody } from "../http/validate.ts";
import * as svc from "./service.ts";

const anyObject = z.record(z.string(), z.unknown());

export function mountIntegrations(app: Hono) {
  const auth = requireAuth();

  resource(app, "/integrations", {
    GET: async (c) => c.json(await svc.listIntegrations(c, c.var.principal)),
  }, auth);
  resource(app, "/integrations/:group", {
    GET: async (c) => c.json(await svc.getIntegration(c, c.var.principal, c.req.param("group") ?? "")),
  }, auth);

  resource(app, "/credentials", {
    GET: async (c) => c.json(await svc.listCredentials(c, c.var.principal)),
    POST: async (c) => c.json(await svc.createCredential(c, c.var.principal, await jsonBody(c, anyObject)), 201),
  }, auth);
  resource(app, "/credentials/:credentialId", {
    DELETE: async (c) => c.json(await svc.deleteCredential(c, c.var.principal, idParam(c, "credentialId"))),
  }, auth);

  resource(app, "/custom-actions", {
    GET: async (c) => c.json(await svc.listCustomActions(c, c.var.principal)),
    POST: async (c) => c.json(await svc.createCustomAction(c, c.var.principal, await jsonBody(c, anyObject)), 201),
  }, auth);
  resource(app, "/custom-actions/:actionId", {
    PATCH: async (c) => {
      const id = idParam(c, "actionId");
      return c.json(await svc.updateCustomAction(c, c.var.principal, id, await jsonBody(c, anyObject)));
    },
    DELETE: async (c) => c.json(await svc.deleteCustomAction(c, c.var.principal, idParam(c, "actionId"))),
  }, auth);
}
