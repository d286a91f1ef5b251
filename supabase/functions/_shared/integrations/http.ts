// Calls to a provider's fixed API (its base URL is the operator's setting, not a user's): JSON in,
// JSON out, a timeout, and the engine's retry rule — network errors, 429 and 5xx are retryable.
import { ActionFailed, RetryableError } from "../engine/errors.ts";

const TIMEOUT_MS = 30_000;

export interface ProviderResponse {
  status: number;
  body: unknown;
}

export async function callProvider(
  provider: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown },
): Promise<ProviderResponse> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new RetryableError(`${provider}: ${(e as Error).name === "TimeoutError" ? "no answer" : "unreachable"}`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON: keep the text */ }
  if (res.status === 429 || res.status >= 500) throw new RetryableError(`${provider}: HTTP ${res.status}`);
  return { status: res.status, body };
}

/** The provider's own words for a refusal, when its error body carries them. */
export function providerMessage(body: unknown): string {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const nested = b.error as Record<string, unknown> | string | undefined;
    if (typeof nested === "string") return nested;
    if (nested && typeof nested.message === "string") return nested.message;
    if (typeof b.description === "string") return b.description;
    if (typeof b.message === "string") return b.message;
  }
  return typeof body === "string" ? body.slice(0, 300) : "refused";
}

export function refused(provider: string, res: ProviderResponse): never {
  throw new ActionFailed(`${provider}: HTTP ${res.status}: ${providerMessage(res.body)}`, res);
}
