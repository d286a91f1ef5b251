// OpenAI through the official SDK: chat completions and embeddings. Usable with the platform's
// own key (platform_llm), metered per workspace by the caller.
import OpenAI from "openai";
import { z } from "zod";
import { config } from "../../config.ts";
import { ActionFailed, RetryableError } from "../../engine/errors.ts";
import { action, type IntegrationGroup } from "../types.ts";

function client(secret: string | null): OpenAI {
  if (!secret) throw new ActionFailed("openai: no API key");
  // The engine retries with its own backoff; the SDK must not retry underneath it.
  return new OpenAI({ apiKey: secret, baseURL: config.providers.openai, maxRetries: 0, timeout: 60_000 });
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof OpenAI.APIConnectionError) throw new RetryableError(`openai: ${e.message}`);
    if (e instanceof OpenAI.APIError) {
      const status = e.status ?? 0;
      if (status === 429 || status >= 500) throw new RetryableError(`openai: HTTP ${status}: ${e.message}`);
      throw new ActionFailed(`openai: HTTP ${status}: ${e.message}`, { status, error: e.error ?? null });
    }
    throw e;
  }
}

export const openai: IntegrationGroup = {
  id: "openai",
  label: "OpenAI",
  category: "AI",
  description: "Chat completions and embeddings with OpenAI models.",
  credential: { label: "API key (sk-…)", modes: ["admin_credential", "editor_credential", "platform_llm"] },
  actions: [
    action({
      name: "chat_completion",
      label: "Chat completion",
      description: "Sends a prompt (and an optional system message) to a chat model; stores the reply text, " +
        "or the parsed object when json is true.",
      input: z.object({
        prompt: z.string().min(1).max(100_000).describe("The user message"),
        system: z.string().max(20_000).optional().describe("Instructions for the model"),
        model: z.string().min(1).max(100).default("gpt-4o-mini"),
        temperature: z.coerce.number().min(0).max(2).optional(),
        max_tokens: z.coerce.number().int().min(1).max(100_000).optional(),
        json: z.coerce.boolean().optional().describe("Ask for a JSON object and store it parsed"),
      }),
      async run(input, ctx) {
        const messages = [
          ...(input.system ? [{ role: "system" as const, content: input.system }] : []),
          { role: "user" as const, content: input.prompt },
        ];
        const request = {
          model: input.model,
          messages,
          ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
          ...(input.max_tokens !== undefined ? { max_tokens: input.max_tokens } : {}),
          ...(input.json ? { response_format: { type: "json_object" as const } } : {}),
        };
        const completion = await call(() => client(ctx.secret).chat.completions.create(request));
        const text = completion.choices[0]?.message?.content ?? "";
        let value: unknown = text;
        if (input.json) {
          try {
            value = JSON.parse(text);
          } catch {
            throw new ActionFailed("openai: the model did not answer with JSON", { content: text });
          }
        }
        const usage = completion.usage;
        return {
          value,
          request,
          response: {
            id: completion.id,
            model: completion.model,
            finish_reason: completion.choices[0]?.finish_reason,
            usage,
          },
          usage: usage && {
            model: completion.model,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens,
          },
        };
      },
    }),
    action({
      name: "embeddings",
      label: "Embeddings",
      description: "Turns a text into a vector (a list of numbers) for similarity search.",
      input: z.object({
        input: z.string().min(1).max(100_000).describe("The text to embed"),
        model: z.string().min(1).max(100).default("text-embedding-3-small"),
        dimensions: z.coerce.number().int().min(1).max(4096).optional(),
      }),
      async run(input, ctx) {
        const request = {
          model: input.model,
          input: input.input,
          ...(input.dimensions ? { dimensions: input.dimensions } : {}),
        };
        const res = await call(() => client(ctx.secret).embeddings.create(request));
        const vector = res.data[0]?.embedding ?? [];
        return {
          value: vector,
          request,
          response: { model: res.model, dimensions: vector.length, usage: res.usage },
          usage: {
            model: res.model,
            prompt_tokens: res.usage.prompt_tokens,
            completion_tokens: 0,
            total_tokens: res.usage.total_tokens,
          },
        };
      },
    }),
  ],
};
