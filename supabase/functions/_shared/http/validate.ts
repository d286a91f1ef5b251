// Input at the boundary: JSON bodies, path ids and query strings, checked with zod.
// Every failure is a 400 (415 for a wrong content type) that says what was wrong.
import type { Context } from "hono";
import { z } from "zod";
import { badRequest, HttpError } from "./errors.ts";

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what = "Invalid request"): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, "validation_failed", `${what}: ${describeIssues(result.error)}`);
  return result.data;
}

/** Reads a JSON body (Content-Type application/json) and validates it. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      `Expected Content-Type: application/json, got ${type === "" ? "none" : `'${type}'`}`,
    );
  }
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "invalid_json", `Malformed JSON body: ${(e as Error).message}`);
  }
  return parseWith(schema, value, "Invalid body");
}

/** A positive integer id from the path, e.g. /tables/:id. */
export function idParam(c: Context, name: string): number {
  const raw = c.req.param(name) ?? "";
  const n = Number(raw);
  if (!/^\d{1,15}$/.test(raw) || !Number.isSafeInteger(n) || n <= 0) {
    throw badRequest(`'${raw}' is not a valid ${name}: expected a positive integer`);
  }
  return n;
}

export const uuidParam = (c: Context, name: string): string => {
  const raw = c.req.param(name) ?? "";
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(raw)) {
    throw badRequest(`'${raw}' is not a valid ${name}: expected a UUID`);
  }
  return raw.toLowerCase();
};
