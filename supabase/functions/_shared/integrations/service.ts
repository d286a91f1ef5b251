// Integrations over REST: the catalog, workspace credentials (admin_credential) and custom HTTP
// actions. Reads are open to every principal of the workspace (editors pick credentials by id);
// writes need an admin (a signed-in user). No response ever carries a secret.
import type { Context } from "hono";
import { z } from "zod";
import { claimsText, type Principal } from "../auth/principal.ts";
import { type Role, roleRank, workspaceOf } from "../auth/workspace.ts";
import { asPrincipal, type Tx } from "../db/client.ts";
import { badRequest, conflict, forbidden, notFound, SqlState } from "../http/errors.ts";
import { parseWith } from "../http/validate.ts";
import { BUILT_IN, CUSTOM_ACTION_FIELDS, customActions, describeGroup, groupsFor } from "./catalog.ts";
import { customHttp, inputSchemaInput } from "./groups/custom_http.ts";
import { hintOf, secretsKey } from "./secrets.ts";

const INTEGRATION_IDS = [...BUILT_IN.map((g) => g.id), "custom_http"];

async function inWorkspace<T>(c: Context, p: Principal, needed: Role | null, fn: (tx: Tx, ws: number) => Promise<T>) {
  return await asPrincipal(claimsText(p), async (tx) => {
    const ws = await workspaceOf(c, tx, p);
    if (needed) {
      if (p.kind === "token") {
        throw forbidden(`This needs a signed-in ${needed} (a user JWT); a ${p.tokenType} token cannot do it`);
      }
      if (roleRank(ws.role!) < roleRank(needed)) {
        throw forbidden(`This needs the ${needed} role or higher in workspace ${ws.id}; you are ${ws.role}`);
      }
    }
    return await fn(tx, ws.id);
  });
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------
export function listIntegrations(c: Context, p: Principal) {
  return inWorkspace(c, p, null, async (tx, ws) => (await groupsFor(tx, ws)).map(describeGroup));
}

export function getIntegration(c: Context, p: Principal, id: string) {
  return inWorkspace(c, p, null, async (tx, ws) => {
    const group = id === "custom_http" ? customHttp(await customActions(tx, ws)) : BUILT_IN.find((g) => g.id === id);
    if (!group) throw notFound(`integration '${id}' (available: ${INTEGRATION_IDS.join(", ")})`);
    return describeGroup(group);
  });
}

// ---------------------------------------------------------------------------------------------
// Credentials (admin_credential)
// ---------------------------------------------------------------------------------------------
export const createCredentialInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  integration: z.enum(INTEGRATION_IDS as [string, ...string[]]),
  secret: z.string().min(1).max(8000),
});

const CREDENTIAL_FIELDS = "id, workspace_id, name, integration, hint, created_by, created_at";

export function listCredentials(c: Context, p: Principal) {
  return inWorkspace(
    c,
    p,
    null,
    (tx, ws) =>
      tx`select ${tx.unsafe(CREDENTIAL_FIELDS)} from public.credentials where workspace_id = ${ws} order by id`,
  );
}

export function createCredential(c: Context, p: Principal, body: unknown) {
  const input = parseWith(createCredentialInput, body, "Invalid credential");
  return inWorkspace(c, p, "admin", async (tx, ws) => {
    const [row] = await tx`
      insert into public.credentials (workspace_id, name, integration, secret, hint, created_by)
      values (${ws}, ${input.name}, ${input.integration}, extensions.pgp_sym_encrypt(${input.secret}, ${secretsKey()}),
              ${hintOf(input.secret)}, ${p.kind === "user" ? p.userId : null})
      on conflict (workspace_id, name) do nothing
      returning ${tx.unsafe(CREDENTIAL_FIELDS)}`;
    if (!row) throw conflict(`The workspace already has a credential named '${input.name}'`);
    return { ...row, secret: { set: true } };
  });
}

export function deleteCredential(c: Context, p: Principal, id: number) {
  return inWorkspace(c, p, "admin", async (tx, ws) => {
    const used = await tx<{ table_id: number; name: string }[]>`
      select table_id, name from public.app_columns
      where workspace_id = ${ws} and type = 'action' and config ->> 'credentialMode' = 'admin_credential'
        and (config ->> 'credentialId')::bigint = ${id}
      limit 3`;
    if (used.length > 0) {
      throw conflict(
        `Credential ${id} is used by column${used.length > 1 ? "s" : ""} ${
          used.map((u) => `'${u.name}' (table ${u.table_id})`).join(", ")
        }: point them at another credential first`,
      );
    }
    const [row] = await tx`
      delete from public.credentials where id = ${id} and workspace_id = ${ws}
      returning ${tx.unsafe(CREDENTIAL_FIELDS)}`;
    if (!row) throw notFound(`credential ${id}`);
    return row;
  });
}

// ---------------------------------------------------------------------------------------------
// Custom HTTP actions
// ---------------------------------------------------------------------------------------------
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,100}$/, "a header name");
const customActionFields = {
  name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "lowercase letters, digits and _, starting with a letter"),
  description: z.string().max(1000).nullable(),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]),
  url: z.string().max(4000).regex(/^https?:\/\/[^\s]+$/, "an http(s) URL (template tags allowed)"),
  headers: z.record(headerName, z.string().max(8000)),
  body: z.string().max(100_000).nullable(),
  input_schema: inputSchemaInput,
  credential_id: z.number().int().positive().nullable(),
  auth_header: headerName,
  auth_scheme: z.string().max(50),
};
const customActionInput = z.strictObject({
  ...customActionFields,
  description: customActionFields.description.optional(),
  method: customActionFields.method.default("POST"),
  headers: customActionFields.headers.default({}),
  body: customActionFields.body.optional(),
  input_schema: customActionFields.input_schema.default({}),
  credential_id: customActionFields.credential_id.optional(),
  auth_header: customActionFields.auth_header.default("Authorization"),
  auth_scheme: customActionFields.auth_scheme.default("Bearer"),
});
/** A PATCH names only what changes (no defaults). */
const customActionPatch = z.strictObject(customActionFields).partial();

export function listCustomActions(c: Context, p: Principal) {
  return inWorkspace(c, p, null, (tx, ws) => customActions(tx, ws));
}

/** Template tags of a custom action must name its inputs. */
function checkTags(input: { url?: string; body?: string | null; headers?: Record<string, string> }, names: string[]) {
  const texts = [input.url ?? "", input.body ?? "", ...Object.values(input.headers ?? {})];
  const tags = texts.flatMap((t) => [...t.matchAll(/\{([^{}\s"]+)\}/g)].map((m) => m[1]));
  const unknown = [...new Set(tags.filter((t) => !names.includes(t)))];
  if (unknown.length > 0) {
    throw badRequest(
      `Unknown input${unknown.length > 1 ? "s" : ""} ${
        unknown.map((t) => `{${t}}`).join(", ")
      }: declare them in input_schema`,
    );
  }
}

async function checkCredential(tx: Tx, ws: number, id: number | null | undefined) {
  if (id === null || id === undefined) return;
  const [row] = await tx`select id from public.credentials where id = ${id} and workspace_id = ${ws}`;
  if (!row) throw badRequest(`credential_id: no credential ${id} in this workspace`);
}

export function createCustomAction(c: Context, p: Principal, body: unknown) {
  const input = parseWith(customActionInput, body, "Invalid custom action");
  checkTags(input, Object.keys(input.input_schema));
  return inWorkspace(c, p, "admin", async (tx, ws) => {
    await checkCredential(tx, ws, input.credential_id);
    try {
      const [row] = await tx`
        insert into public.custom_actions (workspace_id, name, description, method, url, headers, body, input_schema,
                                           credential_id, auth_header, auth_scheme, created_by)
        values (${ws}, ${input.name}, ${input.description ?? null}, ${input.method}, ${input.url},
                ${tx.json(input.headers)}, ${input.body ?? null}, ${tx.json(input.input_schema as never)},
                ${input.credential_id ?? null}, ${input.auth_header}, ${input.auth_scheme},
                ${p.kind === "user" ? p.userId : null})
        returning ${tx.unsafe(CUSTOM_ACTION_FIELDS)}`;
      return row;
    } catch (e) {
      if ((e as { code?: string }).code === SqlState.uniqueViolation) {
        throw conflict(`The workspace already has a custom action named '${input.name}'`);
      }
      throw e;
    }
  });
}

export function updateCustomAction(c: Context, p: Principal, id: number, body: unknown) {
  const patch = parseWith(customActionPatch, body, "Invalid custom action");
  if (patch.name !== undefined) throw badRequest("name: a custom action keeps its name (columns refer to it)");
  return inWorkspace(c, p, "admin", async (tx, ws) => {
    const [before] = await tx`select ${tx.unsafe(CUSTOM_ACTION_FIELDS)} from public.custom_actions
                              where id = ${id} and workspace_id = ${ws}`;
    if (!before) throw notFound(`custom action ${id}`);
    const after = { ...before, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
    checkTags(after, Object.keys(after.input_schema));
    await checkCredential(tx, ws, after.credential_id);
    const [row] = await tx`
      update public.custom_actions set description = ${after.description ?? null}, method = ${after.method},
        url = ${after.url}, headers = ${tx.json(after.headers)}, body = ${after.body ?? null},
        input_schema = ${tx.json(after.input_schema)}, credential_id = ${after.credential_id ?? null},
        auth_header = ${after.auth_header}, auth_scheme = ${after.auth_scheme}
      where id = ${id} returning ${tx.unsafe(CUSTOM_ACTION_FIELDS)}`;
    return row;
  });
}

export function deleteCustomAction(c: Context, p: Principal, id: number) {
  return inWorkspace(c, p, "admin", async (tx, ws) => {
    const used = await tx<{ table_id: number; name: string }[]>`
      select c.table_id, c.name from public.app_columns c join public.custom_actions a on a.id = ${id}
      where c.workspace_id = ${ws} and c.type = 'action' and c.config ->> 'integration' = 'custom_http'
        and c.config ->> 'actionName' = a.name
      limit 3`;
    if (used.length > 0) {
      throw conflict(
        `Custom action ${id} is used by ${used.map((u) => `'${u.name}' (table ${u.table_id})`).join(", ")}`,
      );
    }
    const [row] = await tx`delete from public.custom_actions where id = ${id} and workspace_id = ${ws}
                           returning ${tx.unsafe(CUSTOM_ACTION_FIELDS)}`;
    if (!row) throw notFound(`custom action ${id}`);
    return row;
  });
}
