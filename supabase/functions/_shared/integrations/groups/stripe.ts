// Stripe through the official SDK (its fetch client, which runs in Deno). Every call carries an
// idempotency key stable across retries of one job: a worker that dies after Stripe acted and
// before the result was stored does not charge or create twice.
import Stripe from "stripe";
import { z } from "zod";
import { config } from "../../config.ts";
import { ActionFailed, RetryableError } from "../../engine/errors.ts";
import { action, type IntegrationGroup } from "../types.ts";

function client(secret: string | null): Stripe {
  if (!secret) throw new ActionFailed("stripe: no secret key");
  const base = new URL(config.providers.stripe);
  return new Stripe(secret, {
    host: base.hostname,
    port: base.port || (base.protocol === "http:" ? 80 : 443),
    protocol: base.protocol === "http:" ? "http" : "https",
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 0, // the engine retries, with its own backoff
    timeout: 30_000,
  });
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Stripe.errors.StripeConnectionError) throw new RetryableError(`stripe: ${e.message}`);
    if (e instanceof Stripe.errors.StripeError) {
      const status = e.statusCode ?? 0;
      if (status === 429 || status >= 500) throw new RetryableError(`stripe: HTTP ${status}: ${e.message}`);
      throw new ActionFailed(`stripe: HTTP ${status}: ${e.message}`, {
        status,
        error: { type: e.type, code: e.code ?? null, param: e.param ?? null, message: e.message },
      });
    }
    throw e;
  }
}

export const stripe: IntegrationGroup = {
  id: "stripe",
  label: "Stripe",
  category: "Payments",
  description: "Customers and payment links in a Stripe account.",
  credential: { label: "Secret key (sk_…) or restricted key (rk_…)", modes: ["admin_credential", "editor_credential"] },
  actions: [
    action({
      name: "create_customer",
      label: "Create customer",
      description: "Creates a Stripe customer; stores {id, email, name}.",
      input: z.object({
        email: z.email().optional(),
        name: z.string().max(256).optional(),
        description: z.string().max(1000).optional(),
        metadata: z.record(z.string(), z.string().max(500)).optional(),
      }),
      async run(input, ctx) {
        const customer = await call(() =>
          client(ctx.secret).customers.create(input, { idempotencyKey: `${ctx.idempotencyKey}:customer` })
        );
        return {
          value: { id: customer.id, email: customer.email ?? null, name: customer.name ?? null },
          request: input,
          response: customer,
        };
      },
    }),
    action({
      name: "create_payment_link",
      label: "Create payment link",
      description: "Creates a payment link for a price; stores {id, url}.",
      input: z.object({
        price: z.string().min(1).max(255).describe("A price id (price_…)"),
        quantity: z.coerce.number().int().min(1).max(10_000).default(1),
      }),
      async run(input, ctx) {
        const request = { line_items: [{ price: input.price, quantity: input.quantity }] };
        const link = await call(() =>
          client(ctx.secret).paymentLinks.create(request, { idempotencyKey: `${ctx.idempotencyKey}:payment_link` })
        );
        return { value: { id: link.id, url: link.url }, request, response: link };
      },
    }),
  ],
};
