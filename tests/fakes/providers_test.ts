// Tests for the provider fakes, driven by the real SDKs (openai, stripe) and by plain fetch for the JSON-over-HTTP
// providers (Slack, Telegram, Resend): success paths and what was recorded, auth and validation errors, injected
// failures with and without SDK retries, Stripe idempotency, base64 embeddings and the fail-closed catch-all.
import OpenAI from "openai";
import Stripe from "stripe";
import { assert, assertEquals, assertInstanceOf, assertObjectMatch, assertRejects } from "@std/assert";
import {
  fakeEmbedding,
  GOOD_KEY,
  parseStripeForm,
  type Provider,
  type ProviderFakes,
  startProviderFakes,
} from "./providers.ts";

const PORT = 54391;

/** Runs `fn` against fresh fakes on PORT; the SDKs keep pooled connections, hence no resource sanitizer. */
function test(name: string, fn: (fakes: ProviderFakes) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const fakes = await startProviderFakes(PORT);
      try {
        await fn(fakes);
      } finally {
        await fakes.close();
      }
    },
  });
}

const openai = (fakes: ProviderFakes, opts: { apiKey?: string; maxRetries?: number } = {}) =>
  new OpenAI({ apiKey: GOOD_KEY, baseURL: `${fakes.url}/openai/v1`, ...opts });

const stripe = (fakes: ProviderFakes, opts: { key?: string; maxNetworkRetries?: number } = {}) =>
  new Stripe(opts.key ?? GOOD_KEY, {
    host: "127.0.0.1",
    port: fakes.port,
    protocol: "http",
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: opts.maxNetworkRetries,
  });

/** POST `body` as JSON to `path` on the fakes, with a Bearer token unless `key` is null. */
async function post(fakes: ProviderFakes, path: string, body: unknown, key: string | null = GOOD_KEY) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${fakes.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text,
  };
}

// --- OpenAI ---------------------------------------------------------------------------------------------------------

test("openai: chat completion echoes the last user message with word-count usage", async (fakes) => {
  const completion = await openai(fakes).chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hello there world" }],
  });
  assertObjectMatch(completion, {
    object: "chat.completion",
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: "echo: hello there world" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
  });
  assert(completion.id.startsWith("chatcmpl-"));
  assertEquals(typeof completion.created, "number");

  assertEquals(fakes.unexpected, []);
  assertEquals(fakes.requests.length, 1);
  const [rec] = fakes.requests;
  assertObjectMatch(rec, { provider: "openai", method: "POST", path: "/openai/v1/chat/completions" });
  assertEquals(rec.headers.authorization, `Bearer ${GOOD_KEY}`);
  assertEquals(rec.headers["content-type"], "application/json");
  assertObjectMatch(rec.body as Record<string, unknown>, { model: "gpt-4o-mini" });
});

test("openai: embeddings go out as base64 by default and the SDK decodes them to our floats", async (fakes) => {
  const res = await openai(fakes).embeddings.create({
    model: "text-embedding-3-small",
    input: ["alpha", "beta gamma"],
  });
  assertEquals(res.data.map((d) => d.embedding), [fakeEmbedding("alpha"), fakeEmbedding("beta gamma")]);
  assertEquals(res.usage, { prompt_tokens: 3, total_tokens: 3 });
  assertObjectMatch(fakes.requests[0].body as Record<string, unknown>, { encoding_format: "base64" });

  const floats = await openai(fakes).embeddings.create({ model: "m", input: "alpha", encoding_format: "float" });
  assertEquals(floats.data[0].embedding, fakeEmbedding("alpha"));
  assertEquals(fakeEmbedding("alpha").length, 8);
  assertEquals(fakes.unexpected, []);
});

test("openai: base64 embeddings are little-endian float32 bytes", async (fakes) => {
  const res = await post(fakes, "/openai/v1/embeddings", { model: "m", input: "alpha", encoding_format: "base64" });
  const bytes = Uint8Array.from(atob(res.body.data[0].embedding), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
  assertEquals(decoded, fakeEmbedding("alpha"));
});

test("openai: a bad key is a 401 invalid_api_key and recorded as unexpected", async (fakes) => {
  const err = await assertRejects(() =>
    openai(fakes, { apiKey: "sk-wrong-key" }).chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
    })
  );
  assertInstanceOf(err, OpenAI.AuthenticationError);
  assertEquals([err.status, err.code, err.type], [401, "invalid_api_key", "invalid_request_error"]);
  assert(err.message.includes("Incorrect API key provided"));
  assertEquals([fakes.requests.length, fakes.unexpected.length], [0, 1]);
});

test("openai: missing or empty required fields are the API's 400s", async (fakes) => {
  const client = openai(fakes);
  const cases = [
    { params: { model: "m", messages: [] }, code: "empty_array", param: "messages" },
    { params: { messages: [{ role: "user", content: "hi" }] }, code: null, param: null },
  ];
  for (const { params, code, param } of cases) {
    // deno-lint-ignore no-explicit-any -- deliberately invalid params
    const err = await assertRejects(() => client.chat.completions.create(params as any));
    assertInstanceOf(err, OpenAI.BadRequestError);
    assertEquals([err.status, err.code, err.param], [400, code, param]);
  }
  const err = await assertRejects(() => client.embeddings.create({ model: "m" } as OpenAI.EmbeddingCreateParams));
  assertInstanceOf(err, OpenAI.BadRequestError);
  assertEquals(err.code, "missing_required_parameter");
  assertEquals([fakes.requests.length, fakes.unexpected.length], [0, 3]);
});

test("openai: failNext answers 429 and 500 in OpenAI's error shape", async (fakes) => {
  const client = openai(fakes, { maxRetries: 0 });
  const ask = () => client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
  fakes.failNext("openai", 429);
  fakes.failNext("openai", 500);
  const limited = await assertRejects(ask);
  assertInstanceOf(limited, OpenAI.RateLimitError);
  assertEquals([limited.code, limited.type], ["rate_limit_exceeded", "requests"]);
  const broken = await assertRejects(ask);
  assertInstanceOf(broken, OpenAI.InternalServerError);
  assertEquals(broken.type, "server_error");
  assertEquals((await ask()).choices[0].message.content, "echo: hi");
  assertEquals([fakes.requests.length, fakes.unexpected.length], [3, 0]);
});

test("openai: the default-retrying SDK gets through one injected 429", async (fakes) => {
  fakes.failNext("openai", 429);
  const res = await openai(fakes).chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
  assertEquals(res.choices[0].message.content, "echo: hi");
  assertEquals(fakes.requests.map((r) => r.headers["x-stainless-retry-count"]), ["0", "1"]);
});

// --- Stripe ---------------------------------------------------------------------------------------------------------

test("stripe: customer create sends a form with bracketed metadata and gets a Customer", async (fakes) => {
  const customer = await stripe(fakes).customers.create({
    email: "ada@example.com",
    name: "Ada",
    metadata: { workspace: "w1" },
  });
  assert(customer.id.startsWith("cus_"));
  assertObjectMatch(customer, {
    object: "customer",
    email: "ada@example.com",
    name: "Ada",
    livemode: false,
    metadata: { workspace: "w1" },
  });

  const [rec] = fakes.requests;
  assertObjectMatch(rec, { provider: "stripe", method: "POST", path: "/v1/customers" });
  assertEquals(rec.rawBody, "email=ada%40example.com&name=Ada&metadata[workspace]=w1");
  assertEquals(rec.body, { email: "ada@example.com", name: "Ada", metadata: { workspace: "w1" } });
  assertEquals(rec.headers["content-type"], "application/x-www-form-urlencoded");
  assert(rec.headers["stripe-version"], "the SDK pins an API version");
  assert(rec.headers["idempotency-key"].startsWith("stripe-node-retry-"), "the SDK keys every POST");
  assertEquals(fakes.unexpected, []);
});

test("stripe: payment link create expands line_items and answers a PaymentLink", async (fakes) => {
  const link = await stripe(fakes).paymentLinks.create({ line_items: [{ price: "price_1", quantity: 2 }] });
  assert(link.id.startsWith("plink_"));
  assertObjectMatch(link, { object: "payment_link", active: true, livemode: false });
  assert(link.url.startsWith("https://buy.stripe.com/test_"));
  assertEquals(fakes.requests[0].body, { line_items: [{ price: "price_1", quantity: "2" }] });
  assertEquals(fakes.unexpected, []);
});

test("stripe: bad key is a 401 and missing line item fields are parameter_missing", async (fakes) => {
  const auth = await assertRejects(() => stripe(fakes, { key: "sk_test_nope1234" }).customers.create({}));
  assertInstanceOf(auth, Stripe.errors.StripeAuthenticationError);
  assertEquals(auth.statusCode, 401);
  assert(auth.message.startsWith("Invalid API Key provided: "));

  const cases = [
    { line_items: [{ quantity: 1 }], param: "line_items[0][price]" },
    { line_items: [{ price: "price_1" }], param: "line_items[0][quantity]" },
  ];
  for (const { line_items, param } of cases) {
    const err = await assertRejects(() =>
      stripe(fakes).paymentLinks.create({ line_items } as Stripe.PaymentLinkCreateParams)
    );
    assertInstanceOf(err, Stripe.errors.StripeInvalidRequestError);
    assertEquals([err.statusCode, err.code, err.param], [400, "parameter_missing", param]);
    assertEquals(err.message, `Missing required param: ${param}.`);
  }
  assertEquals([fakes.requests.length, fakes.unexpected.length], [0, 3]);
});

test("stripe: a repeated Idempotency-Key replays the same object; reuse with other params is refused", async (fakes) => {
  const client = stripe(fakes);
  const first = await client.customers.create({ email: "a@example.com" }, { idempotencyKey: "signup-1" });
  const again = await client.customers.create({ email: "a@example.com" }, { idempotencyKey: "signup-1" });
  const other = await client.customers.create({ email: "a@example.com" }, { idempotencyKey: "signup-2" });
  assertEquals(again, first);
  assert(other.id !== first.id);
  assertEquals(fakes.requests.map((r) => r.headers["idempotency-key"]), ["signup-1", "signup-1", "signup-2"]);

  const err = await assertRejects(() =>
    client.customers.create({ email: "b@example.com" }, { idempotencyKey: "signup-1" })
  );
  assertInstanceOf(err, Stripe.errors.StripeIdempotencyError);
  assertEquals(fakes.unexpected.length, 1);
});

test("stripe: failNext 500 fails without retries, and the default client retries through it", async (fakes) => {
  fakes.failNext("stripe", 500);
  const err = await assertRejects(() => stripe(fakes, { maxNetworkRetries: 0 }).customers.create({}));
  assertInstanceOf(err, Stripe.errors.StripeAPIError);
  assertEquals([err.statusCode, err.type], [500, "StripeAPIError"]);

  fakes.reset();
  fakes.failNext("stripe", 500);
  const customer = await stripe(fakes).customers.create({ name: "Retry" });
  assertEquals(customer.name, "Retry");
  const keys = fakes.requests.map((r) => r.headers["idempotency-key"]);
  assertEquals(keys.length, 2);
  assertEquals(keys[0], keys[1], "the retry reuses the generated key");
});

test("stripe: failNext 429 is a StripeRateLimitError, which the SDK does not retry", async (fakes) => {
  fakes.failNext("stripe", 429);
  const err = await assertRejects(() => stripe(fakes).customers.create({}));
  assertInstanceOf(err, Stripe.errors.StripeRateLimitError);
  assertEquals([err.statusCode, err.code], [429, "rate_limit"]);
  assertEquals(fakes.requests.length, 1);
});

// --- Slack, Telegram, Resend (plain fetch) ---------------------------------------------------------------------------

const SLACK = "/slack/api/chat.postMessage";
const TELEGRAM = (token: string) => `/telegram/bot${token}/sendMessage`;
const RESEND = "/resend/emails";
const EMAIL = { from: "AITIZER <bot@example.com>", to: ["ada@example.com"], subject: "Hi", html: "<p>Hi</p>" };

/** The providers' own error bodies, by shape. */
const slackError = (error: string) => ({ ok: false, error });
const telegramError = (error_code: number, description?: string) => ({ ok: false, error_code, description });
const badRequest = (description: string) => telegramError(400, `Bad Request: ${description}`);
const resendError = (statusCode: number, name: string, message?: string) => ({ statusCode, name, message });
const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
const NO_TO = "Missing `to` field.";
const SLACK_MSG = { channel: "C1", text: "x" };
const TG_MSG = { chat_id: 1, text: "x" };

/** Refusals: each is answered with the provider's real error and recorded as unexpected. */
type Refusal = [name: string, path: string, body: unknown, status: number, answer: object, key?: string | null];
const refusals: Refusal[] = [
  ["slack bad token", SLACK, SLACK_MSG, 200, slackError("invalid_auth"), "xoxb-bad"],
  ["slack no token", SLACK, SLACK_MSG, 200, slackError("not_authed"), null],
  ["slack unknown channel", SLACK, { channel: "general", text: "x" }, 200, slackError("channel_not_found")],
  ["slack no text", SLACK, { channel: "C1" }, 200, slackError("no_text")],
  ["telegram bad token", TELEGRAM("123:abc"), TG_MSG, 401, telegramError(401, "Unauthorized")],
  ["telegram no text", TELEGRAM(GOOD_KEY), { chat_id: 1 }, 400, badRequest("message text is empty")],
  ["telegram no chat", TELEGRAM(GOOD_KEY), { text: "x" }, 400, badRequest("chat_id is empty")],
  ["resend no key", RESEND, EMAIL, 401, resendError(401, "missing_api_key"), null],
  ["resend bad key", RESEND, EMAIL, 403, resendError(403, "validation_error", "API key is invalid"), "re_bad"],
  ["resend no to", RESEND, { ...EMAIL, to: undefined }, 422, resendError(422, "missing_required_field", NO_TO)],
  ["resend bad to", RESEND, { ...EMAIL, to: "not-an-address" }, 422, resendError(422, "validation_error")],
];

for (const [name, path, body, status, answer, key = GOOD_KEY] of refusals) {
  test(`refused: ${name}`, async (fakes) => {
    const res = await post(fakes, path, body, key);
    assertEquals(res.status, status);
    assertObjectMatch(res.body, clean(answer as Record<string, unknown>));
    assertEquals([fakes.requests.length, fakes.unexpected.length], [0, 1]);
  });
}

test("slack: chat.postMessage answers ok with channel, ts and the message", async (fakes) => {
  const res = await post(fakes, SLACK, { channel: "C0123", text: "deploy done" });
  assertEquals(res.status, 200);
  assertObjectMatch(res.body, { ok: true, channel: "C0123", message: { text: "deploy done" } });
  assertEquals(res.body.ts, res.body.message.ts);
  assert(/^\d+\.\d{6}$/.test(res.body.ts));
  assertObjectMatch(fakes.requests[0], {
    provider: "slack",
    path: SLACK,
    body: { channel: "C0123", text: "deploy done" },
  });
  assertEquals(fakes.unexpected, []);
});

test("telegram: sendMessage answers the Message with the chat id", async (fakes) => {
  const res = await post(fakes, TELEGRAM(GOOD_KEY), { chat_id: 42, text: "*hi*", parse_mode: "MarkdownV2" }, null);
  assertEquals(res.status, 200);
  assertObjectMatch(res.body, { ok: true, result: { chat: { id: 42, type: "private" }, text: "*hi*" } });
  assertEquals(typeof res.body.result.message_id, "number");
  assertObjectMatch(fakes.requests[0], { provider: "telegram", path: TELEGRAM(GOOD_KEY) });
  assertEquals(fakes.unexpected, []);
});

test("resend: POST /emails answers an id", async (fakes) => {
  const res = await post(fakes, RESEND, EMAIL);
  assertEquals(res.status, 200);
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(res.body.id));
  assertObjectMatch(fakes.requests[0], { provider: "resend", body: EMAIL });
  assertEquals(fakes.unexpected, []);
});

test("failNext: each plain-fetch provider answers its own rate-limit and outage shapes", async (fakes) => {
  type Failure = [provider: Provider, path: string, body: unknown, status: number, answer: object, retryAfter?: string];
  const failures: Failure[] = [
    ["slack", SLACK, SLACK_MSG, 429, slackError("ratelimited"), "1"],
    ["slack", SLACK, SLACK_MSG, 500, slackError("fatal_error")],
    ["telegram", TELEGRAM(GOOD_KEY), TG_MSG, 429, { ...telegramError(429), parameters: { retry_after: 1 } }],
    ["telegram", TELEGRAM(GOOD_KEY), TG_MSG, 503, telegramError(503, "Service Unavailable")],
    ["resend", RESEND, EMAIL, 429, resendError(429, "rate_limit_exceeded"), "1"],
    ["resend", RESEND, EMAIL, 500, resendError(500, "application_error")],
  ];
  for (const [provider, path, body, status, answer, retryAfter] of failures) {
    fakes.failNext(provider, status);
    const res = await post(fakes, path, body);
    assertEquals(res.status, status, `${provider} ${status}`);
    assertObjectMatch(res.body, clean(answer as Record<string, unknown>));
    if (retryAfter) assertEquals(res.headers.get("retry-after"), retryAfter);
    assertEquals((await post(fakes, path, body)).status, 200, "only the next request fails");
  }
  fakes.failNext("resend", 503, 2);
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await post(fakes, RESEND, EMAIL)).status);
  assertEquals(statuses, [503, 503, 200]);
  assertEquals(fakes.unexpected, []);
});

// --- Fail closed ----------------------------------------------------------------------------------------------------

test("unknown paths, wrong methods and wrong encodings are 599 and recorded as unexpected", async (fakes) => {
  const postJson = (body: string) => ({
    method: "POST",
    headers: { authorization: `Bearer ${GOOD_KEY}`, "content-type": "application/json" },
    body,
  });
  const attempts: { path: string; init: RequestInit; provider: string }[] = [
    { path: "/nowhere", init: { method: "POST" }, provider: "unknown" },
    { path: "/openai/v1/models", init: { method: "GET" }, provider: "openai" },
    { path: "/openai/v1/chat/completions", init: { method: "GET" }, provider: "openai" },
    { path: "/v1/charges", init: { method: "POST" }, provider: "stripe" },
    { path: TELEGRAM(GOOD_KEY).replace("sendMessage", "sendPhoto"), init: { method: "POST" }, provider: "telegram" },
    { path: "/v1/customers", init: postJson("{}"), provider: "stripe" },
    { path: SLACK, init: postJson("{oops"), provider: "slack" },
  ];
  for (const a of attempts) {
    const res = await fetch(`${fakes.url}${a.path}`, a.init);
    assertEquals([res.status, await res.text()], [599, "unexpected request"], a.path);
  }
  assertEquals(
    fakes.unexpected.map((r) => [r.provider, r.method, r.path]),
    attempts.map((a) => [a.provider, a.init.method, a.path]),
  );
  assertEquals(fakes.requests, []);

  fakes.failNext("slack", 500);
  fakes.reset();
  assertEquals([fakes.requests.length, fakes.unexpected.length], [0, 0]);
  assertEquals((await post(fakes, SLACK, { channel: "C1", text: "x" })).status, 200, "reset drops pending failures");
});

Deno.test("parseStripeForm expands bracket notation into objects and arrays", () => {
  const raw = "line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price]=price_2" +
    "&metadata[a]=b&expand[]=customer&expand[]=line_items&email=a%40b.co";
  assertEquals(parseStripeForm(raw), {
    line_items: [{ price: "price_1", quantity: "2" }, { price: "price_2" }],
    metadata: { a: "b" },
    expand: ["customer", "line_items"],
    email: "a@b.co",
  });
});
