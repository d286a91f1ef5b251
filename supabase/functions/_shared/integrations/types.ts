// What an integration is: a group of typed actions (one provider), each a zod input schema and a
// run function. Groups are data in one registry (catalog.ts); the `action` column type runs them.
import type { z } from "zod";

export const CREDENTIAL_MODES = ["admin_credential", "editor_credential", "platform_llm"] as const;
export type CredentialMode = typeof CREDENTIAL_MODES[number];

export interface ActionContext {
  /** The resolved credential (API key, bot token…), or null for actions that need none. */
  secret: string | null;
  /** Stable across retries of one job: providers that honour idempotency keys never act twice. */
  idempotencyKey: string;
  workspaceId: number;
}

/** Tokens spent, for actions that call a language model (metered under platform_llm). */
export interface LlmUsage {
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ActionOutcome {
  /** What the cell stores. */
  value: unknown;
  /** What was sent, as logged (never a secret). */
  request: unknown;
  /** What came back, as logged (defaults to the value). */
  response?: unknown;
  usage?: LlmUsage;
}

export interface ActionDef<S extends z.ZodObject = z.ZodObject> {
  name: string;
  label: string;
  description: string;
  input: S;
  run(input: z.infer<S>, ctx: ActionContext): Promise<ActionOutcome>;
}

export interface IntegrationGroup {
  id: string;
  label: string;
  category: string;
  description: string;
  /** How a credential is obtained, and which modes apply (empty: the actions need none). */
  credential: { label: string; modes: readonly CredentialMode[] };
  actions: ActionDef[];
}

/** Type-checks an action's run against its own schema while keeping the registry homogeneous. */
export const action = <S extends z.ZodObject>(def: ActionDef<S>): ActionDef => def as unknown as ActionDef;
