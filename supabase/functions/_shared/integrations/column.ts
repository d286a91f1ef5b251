// The `action` column: a catalog action whose inputs are mapped from the row (templates), run
// with a credential per the column's mode. Checked when saved; run by the engine.
import { z } from "zod";
import { config } from "../config.ts";
import { sql, type Tx } from "../db/client.ts";
import { ActionFailed } from "../engine/errors.ts";
import { renderValue, type TemplateScope } from "../engine/templates.ts";
import { badRequest } from "../http/errors.ts";
import { describeIssues } from "../http/validate.ts";
import type { Column } from "../columns/type.ts";
import type { TableShape } from "../tables/meta.ts";
import { findAction } from "./catalog.ts";
import { credentialSecret, reveal } from "./secrets.ts";
import type { ActionOutcome, CredentialMode } from "./types.ts";

interface ActionConfig {
  integration: string;
  actionName: string;
  inputMapping?: Record<string, unknown>;
  credentialMode?: CredentialMode;
  credentialId?: number | string;
  credential?: unknown;
}

/** Save-time checks: the action exists, the mapping fits its inputs, the credential mode is usable. */
export async function checkActionConfig(tx: Tx, table: TableShape, cfg: Record<string, unknown>) {
  const c = cfg as unknown as ActionConfig;
  const found = await findAction(tx, table.workspace_id, c.integration, c.actionName);
  if (!found) {
    throw badRequest(
      `actionName: integration '${c.integration}' has no action '${c.actionName}' (GET /integrations lists them)`,
    );
  }
  const shape = found.action.input.shape as Record<string, z.ZodType>;
  const mapping = c.inputMapping ?? {};
  const unknown = Object.keys(mapping).filter((k) => !Object.hasOwn(shape, k));
  if (unknown.length > 0) {
    throw badRequest(
      `inputMapping: ${c.integration}.${c.actionName} has no input ${unknown.join(", ")} (its inputs: ${
        Object.keys(shape).join(", ")
      })`,
    );
  }
  const missing = Object.entries(shape)
    .filter(([k, s]) => !Object.hasOwn(mapping, k) && !s.safeParse(undefined).success)
    .map(([k]) => k);
  if (missing.length > 0) {
    throw badRequest(`inputMapping: ${c.integration}.${c.actionName} needs ${missing.join(", ")}`);
  }

  const modes = found.group.credential.modes;
  if (modes.length === 0) {
    if (c.credentialMode) {
      throw badRequest(`credentialMode: ${c.integration} actions carry their own credential; leave it out`);
    }
    return;
  }
  if (!c.credentialMode) throw badRequest(`credentialMode: required for ${c.integration} (one of ${modes.join(", ")})`);
  if (!modes.includes(c.credentialMode)) {
    throw badRequest(`credentialMode: ${c.integration} supports ${modes.join(", ")}, not ${c.credentialMode}`);
  }
  if (c.credentialMode === "admin_credential") {
    if (c.credentialId === undefined) throw badRequest("credentialId: required with admin_credential");
    const id = Number(c.credentialId);
    const [row] = await tx<{ integration: string }[]>`
      select integration from public.credentials where id = ${id} and workspace_id = ${table.workspace_id}`;
    if (!row) throw badRequest(`credentialId: no credential ${c.credentialId} in this workspace`);
    if (row.integration !== c.integration) {
      throw badRequest(`credentialId: credential ${id} is for ${row.integration}, not ${c.integration}`);
    }
    cfg.credentialId = id;
  } else if (c.credentialId !== undefined) {
    throw badRequest(`credentialId: only with admin_credential`);
  }
  if (c.credentialMode === "editor_credential" && c.credential === undefined) {
    throw badRequest("credential: required with editor_credential (the key itself; it is stored encrypted)");
  }
  if (c.credentialMode !== "editor_credential" && c.credential !== undefined) {
    throw badRequest("credential: only with editor_credential");
  }
  if (c.credentialMode === "platform_llm" && !config.platformOpenAiKey) {
    throw badRequest("credentialMode: this deployment has no platform LLM key (AITIZER_PLATFORM_OPENAI_KEY)");
  }
}

/** Runs the column's action for one record (or one loop item). */
export async function runAction(
  column: Column,
  scope: TemplateScope,
  table: TableShape,
  run: { recordId: number; jobId?: number },
): Promise<{ value: unknown; request: unknown; response: unknown }> {
  const cfg = (await reveal("action", column.id, column.config)) as unknown as ActionConfig;
  const found = await findAction(sql, table.workspace_id, cfg.integration, cfg.actionName);
  if (!found) throw new ActionFailed(`${cfg.integration}.${cfg.actionName} no longer exists`);
  const mapped = Object.fromEntries(
    Object.entries(cfg.inputMapping ?? {}).map(([k, v]) => [k, renderValue(v, scope)]).filter(([, v]) =>
      v !== null && v !== ""
    ),
  );
  const request = { integration: cfg.integration, action: cfg.actionName, credential: cfg.credentialMode ?? null };
  const parsed = found.action.input.safeParse(mapped);
  if (!parsed.success) {
    throw Object.assign(new ActionFailed(`inputs: ${describeIssues(parsed.error)}`), {
      request: { ...request, input: mapped },
    });
  }

  let secret: string | null = null;
  if (cfg.credentialMode === "admin_credential") {
    secret = await credentialSecret(table.workspace_id, Number(cfg.credentialId));
    if (secret === null) throw new ActionFailed(`credential ${cfg.credentialId} was removed`);
  } else if (cfg.credentialMode === "editor_credential") {
    secret = typeof cfg.credential === "string" && cfg.credential !== "" ? cfg.credential : null;
  } else if (cfg.credentialMode === "platform_llm") {
    secret = config.platformOpenAiKey ?? null;
  } else if (found.credentialId) {
    secret = await credentialSecret(table.workspace_id, found.credentialId);
  }

  const item = scope.index === undefined ? "" : `:${scope.index}`;
  const idempotencyKey = `aitizer:${table.id}:${run.recordId}:${column.id}${item}:${run.jobId ?? crypto.randomUUID()}`;
  let outcome: ActionOutcome;
  try {
    outcome = await found.action.run(parsed.data, { secret, idempotencyKey, workspaceId: table.workspace_id });
  } catch (e) {
    // A provider may echo the key it refused (in its message or body): it never reaches the log.
    const err = e as Error & { response?: unknown };
    if (secret) {
      err.message = err.message.replaceAll(secret, "***");
      if (err.response !== undefined) {
        err.response = JSON.parse(JSON.stringify(err.response).replaceAll(JSON.stringify(secret).slice(1, -1), "***"));
      }
    }
    throw Object.assign(err, { request: { ...request, input: parsed.data } });
  }
  if (cfg.credentialMode === "platform_llm" && outcome.usage) {
    const u = outcome.usage;
    await sql`
      insert into public.platform_llm_usage (workspace_id, table_id, column_id, record_id, integration, action, model,
                                             prompt_tokens, completion_tokens, total_tokens)
      values (${table.workspace_id}, ${table.id}, ${column.id}, ${run.recordId}, ${cfg.integration}, ${cfg.actionName},
              ${u.model}, ${u.prompt_tokens}, ${u.completion_tokens}, ${u.total_tokens})`;
  }
  return {
    value: outcome.value,
    request: {
      ...request,
      ...(cfg.credentialMode === "admin_credential" ? { credential_id: cfg.credentialId } : {}),
      input: outcome.request,
    },
    response: outcome.response ?? outcome.value,
  };
}
