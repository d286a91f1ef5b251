// Local fakes of the third-party APIs our integration actions call (OpenAI, Stripe, Slack, Telegram, Resend), served
// from one port and speaking each provider's real wire format: same paths, auth headers, body encodings, success
// objects and error bodies. They fail closed: a request the fake does not recognise (unknown path or method, bad
// credential, missing or invalid field, body in the wrong encoding) is answered with the provider's real error, or 599
// where there is none, and lands in `unexpected`, so a test can end with `assertEquals(fakes.unexpected, [])`.
// Accepted requests land in `requests`, including those answered by a failure injected with failNext().
// Ids and timestamps come from a per-instance counter, so answers are deterministic.

export type Provider = "openai" | "stripe" | "slack" | "telegram" | "resend";

export interface Recorded {
  provider: Provider | "unknown";
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON, or for Stripe the form with bracket notation expanded ({line_items:[{price, quantity}]}). */
  body: unknown;
  rawBody: string;
}

export interface ProviderFakes {
  url: string;
  port: number;
  /** Every accepted request, in order. */
  requests: Recorded[];
  /** Everything refused as unexpected. */
  unexpected: Recorded[];
  /** The next `times` (default 1) valid requests to `provider` are answered `status` with its real error shape. */
  failNext(provider: Provider, status: number, times?: number): void;
  /** Clears requests, unexpected, pending failures and remembered Stripe idempotency keys. */
  reset(): void;
  close(): Promise<void>;
}

/** Credentials the fakes accept: any string starting with "good-". Anything else is rejected with the provider's real auth error. */
export const GOOD_KEY = "good-key";

/** The vector the OpenAI fake returns for `text`: `dims` float32 values in [-1, 1] derived from an FNV-1a hash. */
export function fakeEmbedding(text: string, dims = 8): number[] {
  return Array.from({ length: dims }, (_, i) => {
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(`${i}:${text}`)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    return Math.fround((h % 2001 - 1000) / 1000);
  });
}

/** Stripe's form encoding: `a[b][0][c]=x` → {a:{b:[{c:"x"}]}}; `a[]=x` appends; objects keyed 0..n-1 become arrays. */
export function parseStripeForm(raw: string): Body {
  const root: Body = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const keys = [key.replace(/\[.*$/, ""), ...[...key.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1])];
    let node = root;
    keys.forEach((k, i) => {
      if (k === "") k = String(Object.keys(node).length);
      if (i === keys.length - 1) node[k] = value;
      else node = typeof node[k] === "object" ? node[k] : (node[k] = {});
    });
  }
  const arrayify = (v: unknown): unknown => {
    if (typeof v !== "object" || v === null) return v;
    const entries = Object.entries(v).map(([k, x]) => [k, arrayify(x)] as const);
    const isList = entries.length > 0 && entries.every(([k], i) => k === String(i));
    return isList ? entries.map(([, x]) => x) : Object.fromEntries(entries);
  };
  return arrayify(root) as Body;
}

// deno-lint-ignore no-explicit-any -- request bodies are arbitrary JSON, checked field by field
type Body = Record<string, any>;

/** What a route sees of an authenticated request with a parsed body. */
interface Ctx {
  body: Body;
  headers: Headers;
  path: string;
  rawBody: string;
}

interface Route {
  path: RegExp;
  /** The provider's real validation error, if any; runs after auth and before failNext. */
  validate(ctx: Ctx): Response | undefined;
  respond(ctx: Ctx): Response;
}

interface ProviderSpec {
  /** Path prefix that identifies the provider; every route is POST. */
  prefix: string;
  /** Stripe speaks application/x-www-form-urlencoded, the others JSON. */
  form?: boolean;
  /** The credential the request carries: a Bearer token, or the token in Telegram's path. */
  credential(headers: Headers, path: string): string | undefined;
  authError(credential: string | undefined): Response;
  failure(status: number): Response;
  routes: Route[];
}

const EPOCH = 1_700_000_000;
const MSG = {
  openaiNoKey:
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  openaiBadKey: (key: string) =>
    `Incorrect API key provided: ${redact(key)}. ` +
    "You can find your API key at https://platform.openai.com/account/api-keys.",
  openaiRateLimit:
    "Rate limit reached for requests. Limit: 3, Used: 3, Requested: 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
  openaiServer: "The server had an error while processing your request. Sorry about that!",
  openaiEmptyMessages:
    "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
  stripeNoKey:
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
  stripeRateLimit:
    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
  stripeKeyReused: (key: string) =>
    `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  resendNoKey:
    "Missing API key in the authorization header. Include the following header Authorization: Bearer YOUR_API_KEY in the request.",
  resendRateLimit:
    "Too many requests. You can only make 2 requests per second. See rate limit response headers for more information. Or contact support to increase rate limit.",
  resendBadAddress: (field: string) =>
    `Invalid \`${field}\` field. The email address needs to follow the \`email@example.com\` or \`Name <email@example.com>\` format.`,
};
const STATUS_TEXT: Record<number, string> = {
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers });
const bearer = (headers: Headers) => headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
const isStr = (v: unknown): v is string => typeof v === "string";
const isEmail = (v: unknown) => isStr(v) && /^([^<>]*<)?[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>?$/.test(v.trim());
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
const pad = (n: number) => String(n).padStart(6, "0");
function redact(key: string) {
  return key.length > 8 ? `${key.slice(0, 4)}${"*".repeat(key.length - 8)}${key.slice(-4)}` : "***";
}

/** Little-endian float32 bytes, base64: what OpenAI returns for encoding_format "base64". */
function float32Base64(values: number[]): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return btoa(String.fromCharCode(...new Uint8Array(view.buffer)));
}

function openai(seq: () => number): ProviderSpec {
  const error = (status: number, type: string, code: string | null, message: string, param: string | null = null) =>
    json(status, { error: { message, type, param, code } }, { "x-request-id": `req_fake${seq()}` });
  const invalid = (message: string, param: string | null = null, code: string | null = null) =>
    error(400, "invalid_request_error", code, message, param);
  const model = (b: Body) => isStr(b.model) && b.model ? undefined : invalid("you must provide a model parameter");
  const textOf = (content: unknown): string =>
    isStr(content) ? content : Array.isArray(content) ? content.map((part) => part?.text ?? "").join(" ") : "";
  const roles = ["system", "developer", "user", "assistant", "tool", "function"];
  const listed = (values: string[]) => values.map((v) => `'${v}'`).join(", ");

  return {
    prefix: "/openai/v1/",
    credential: bearer,
    authError: (key) =>
      key === undefined
        ? error(401, "invalid_request_error", null, MSG.openaiNoKey)
        : error(401, "invalid_request_error", "invalid_api_key", MSG.openaiBadKey(key)),
    failure: (status) =>
      status === 429
        ? error(429, "requests", "rate_limit_exceeded", MSG.openaiRateLimit)
        : error(status, "server_error", null, MSG.openaiServer),
    routes: [{
      path: /^\/openai\/v1\/chat\/completions$/,
      validate: ({ body: b }) => {
        if (!Array.isArray(b.messages)) {
          return invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }
        if (b.messages.length === 0) return invalid(MSG.openaiEmptyMessages, "messages", "empty_array");
        const bad = b.messages.findIndex((m: Body) => !roles.includes(m?.role));
        if (bad >= 0) {
          const message = `Invalid value: '${b.messages[bad]?.role}'. Supported values are: ${listed(roles)}.`;
          return invalid(message, `messages[${bad}].role`, "invalid_value");
        }
        if (b.stream) return new Response("unexpected request: the fake does not stream", { status: 599 });
        return model(b);
      },
      respond: ({ body: b }) => {
        const content = `echo: ${textOf(b.messages.findLast((m: Body) => m.role === "user")?.content)}`;
        const prompt_tokens = b.messages.reduce((n: number, m: Body) => n + words(textOf(m.content)), 0);
        const completion_tokens = words(content);
        const n = seq();
        return json(200, {
          id: `chatcmpl-fake${pad(n)}`,
          object: "chat.completion",
          created: EPOCH + n,
          model: b.model,
          choices: [{
            index: 0,
            message: { role: "assistant", content, refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: "stop",
          }],
          usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
          service_tier: "default",
          system_fingerprint: null,
        }, { "x-request-id": `req_fake${n}` });
      },
    }, {
      path: /^\/openai\/v1\/embeddings$/,
      validate: ({ body: b }) => {
        if (b.input === undefined) {
          return invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
        }
        const inputs = isStr(b.input) ? [b.input] : b.input;
        if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((s) => isStr(s) && s !== "")) {
          return invalid("'$.input' is invalid. Please check the API reference.", "input");
        }
        if (b.encoding_format !== undefined && !["float", "base64"].includes(b.encoding_format)) {
          const message = `Invalid value: '${b.encoding_format}'. Supported values are: ${
            listed(["float", "base64"])
          }.`;
          return invalid(message, "encoding_format", "invalid_value");
        }
        if (b.dimensions !== undefined && !(Number.isInteger(b.dimensions) && b.dimensions > 0 && b.dimensions <= 64)) {
          return invalid(`Invalid value for 'dimensions' = ${b.dimensions}.`, "dimensions", "invalid_value");
        }
        return model(b);
      },
      respond: ({ body: b }) => {
        const inputs: string[] = isStr(b.input) ? [b.input] : b.input;
        const tokens = inputs.reduce((n, s) => n + words(s), 0);
        const data = inputs.map((text, index) => {
          const vector = fakeEmbedding(text, b.dimensions ?? 8);
          return {
            object: "embedding",
            index,
            embedding: b.encoding_format === "base64" ? float32Base64(vector) : vector,
          };
        });
        const usage = { prompt_tokens: tokens, total_tokens: tokens };
        return json(200, { object: "list", data, model: b.model, usage }, { "x-request-id": `req_fake${seq()}` });
      },
    }],
  };
}

type IdempotencyStore = Map<string, { fingerprint: string; object: Body }>;

function stripe(seq: () => number, idempotency: IdempotencyStore): ProviderSpec {
  const error = (status: number, err: Body) => json(status, { error: err }, { "request-id": `req_fake${seq()}` });
  const invalid = (message: string, param: string, code: string) =>
    error(400, { type: "invalid_request_error", code, message, param });
  const missing = (param: string) => invalid(`Missing required param: ${param}.`, param, "parameter_missing");
  const unknownParam = (b: Body, allowed: string[]) => {
    const extra = Object.keys(b).find((k) => !allowed.includes(k));
    return extra ? invalid(`Received unknown parameter: ${extra}`, extra, "parameter_unknown") : undefined;
  };
  // Stripe replays the stored answer for a repeated Idempotency-Key and refuses a key reused with other parameters.
  const fingerprint = (ctx: Ctx) => `${ctx.path}?${ctx.rawBody}`;
  const stored = (ctx: Ctx) => idempotency.get(ctx.headers.get("idempotency-key") ?? "");
  const keyReused = (ctx: Ctx) => {
    const prior = stored(ctx);
    if (!prior || prior.fingerprint === fingerprint(ctx)) return undefined;
    return error(400, { type: "idempotency_error", message: MSG.stripeKeyReused(ctx.headers.get("idempotency-key")!) });
  };
  const create = (ctx: Ctx, make: (n: number) => Body): Response => {
    const prior = stored(ctx);
    if (prior) return json(200, prior.object, { "request-id": `req_fake${seq()}`, "idempotent-replayed": "true" });
    const object = make(seq());
    const key = ctx.headers.get("idempotency-key");
    if (key) idempotency.set(key, { fingerprint: fingerprint(ctx), object });
    return json(200, object, { "request-id": `req_fake${seq()}` });
  };

  return {
    prefix: "/v1/",
    form: true,
    credential: bearer,
    authError: (key) =>
      error(401, {
        type: "invalid_request_error",
        message: key === undefined ? MSG.stripeNoKey : `Invalid API Key provided: ${redact(key)}`,
      }),
    failure: (status) =>
      error(
        status,
        status === 429
          ? { type: "invalid_request_error", code: "rate_limit", message: MSG.stripeRateLimit }
          : { type: "api_error", message: "An unknown error occurred" },
      ),
    routes: [{
      path: /^\/v1\/customers$/,
      validate: (ctx) =>
        unknownParam(ctx.body, ["email", "name", "description", "phone", "metadata", "expand"]) ??
          (ctx.body.email && !isEmail(ctx.body.email)
            ? invalid(`Invalid email address: ${ctx.body.email}`, "email", "email_invalid")
            : keyReused(ctx)),
      respond: (ctx) =>
        create(ctx, (n) => ({
          id: `cus_fake${pad(n)}`,
          object: "customer",
          address: null,
          balance: 0,
          created: EPOCH + n,
          currency: null,
          default_source: null,
          delinquent: false,
          description: ctx.body.description || null,
          discount: null,
          email: ctx.body.email || null,
          invoice_prefix: `FAKE${pad(n)}`,
          invoice_settings: {
            custom_fields: null,
            default_payment_method: null,
            footer: null,
            rendering_options: null,
          },
          livemode: false,
          metadata: ctx.body.metadata ?? {},
          name: ctx.body.name || null,
          next_invoice_sequence: 1,
          phone: ctx.body.phone || null,
          preferred_locales: [],
          shipping: null,
          tax_exempt: "none",
          test_clock: null,
        })),
    }, {
      path: /^\/v1\/payment_links$/,
      validate: (ctx) => {
        const b = ctx.body;
        const extra = unknownParam(b, [
          "line_items",
          "metadata",
          "after_completion",
          "allow_promotion_codes",
          "expand",
        ]);
        if (extra) return extra;
        if (!Array.isArray(b.line_items)) return missing("line_items");
        for (const [i, item] of b.line_items.entries()) {
          const param = (field: string) => `line_items[${i}][${field}]`;
          if (!item?.price) return missing(param("price"));
          if (item.quantity === undefined) return missing(param("quantity"));
          if (!/^\d+$/.test(item.quantity)) {
            return invalid(`Invalid integer: ${item.quantity}`, param("quantity"), "parameter_invalid_integer");
          }
          if (!String(item.price).startsWith("price_")) {
            return invalid(`No such price: '${item.price}'`, param("price"), "resource_missing");
          }
        }
        return keyReused(ctx);
      },
      respond: (ctx) =>
        create(ctx, (n) => ({
          id: `plink_fake${pad(n)}`,
          object: "payment_link",
          active: true,
          after_completion: { type: "hosted_confirmation", hosted_confirmation: { custom_message: null } },
          allow_promotion_codes: ctx.body.allow_promotion_codes === "true",
          currency: "usd",
          livemode: false,
          metadata: ctx.body.metadata ?? {},
          url: `https://buy.stripe.com/test_fake${pad(n)}`,
        })),
    }],
  };
}

function slack(seq: () => number): ProviderSpec {
  // Slack answers HTTP 200 with ok:false for every API-level error; only rate limits and outages change the status.
  const fail = (error: string, status = 200, headers: Record<string, string> = {}) =>
    json(status, { ok: false, error }, headers);
  return {
    prefix: "/slack/api/",
    credential: bearer,
    authError: (token) => fail(token === undefined ? "not_authed" : "invalid_auth"),
    failure: (status) =>
      status === 429
        ? fail("ratelimited", 429, { "retry-after": "1" })
        : fail(status === 503 ? "service_unavailable" : "fatal_error", status),
    routes: [{
      path: /^\/slack\/api\/chat\.postMessage$/,
      validate: ({ body: b }) => {
        if (!isStr(b.channel) || !/^[C#]/.test(b.channel)) return fail("channel_not_found");
        const hasBlocks = (Array.isArray(b.blocks) && b.blocks.length > 0) || (isStr(b.blocks) && b.blocks !== "");
        if (!(isStr(b.text) && b.text.trim() !== "") && !hasBlocks) return fail("no_text");
      },
      respond: ({ body: b }) => {
        const ts = `${EPOCH}.${pad(seq() * 100)}`;
        const message = {
          type: "message",
          user: "U0FAKEBOT",
          bot_id: "B0FAKEBOT",
          app_id: "A0FAKEAPP",
          text: b.text ?? "",
          ts,
          ...(b.blocks ? { blocks: b.blocks } : {}),
          ...(b.thread_ts ? { thread_ts: b.thread_ts } : {}),
        };
        return json(200, { ok: true, channel: b.channel, ts, message });
      },
    }],
  };
}

function telegram(seq: () => number): ProviderSpec {
  const fail = (error_code: number, description: string, extra: Body = {}) =>
    json(error_code, { ok: false, error_code, description, ...extra });
  return {
    prefix: "/telegram/",
    credential: (_headers, path) => path.match(/^\/telegram\/bot([^/]+)\//)?.[1],
    authError: () => fail(401, "Unauthorized"),
    failure: (status) =>
      status === 429
        ? fail(429, "Too Many Requests: retry after 1", { parameters: { retry_after: 1 } })
        : fail(status, STATUS_TEXT[status] ?? "Internal Server Error"),
    routes: [{
      path: /^\/telegram\/bot[^/]+\/sendMessage$/,
      validate: ({ body: b }) => {
        if (b.chat_id === undefined || b.chat_id === "") return fail(400, "Bad Request: chat_id is empty");
        if (!isStr(b.text) || b.text.trim() === "") return fail(400, "Bad Request: message text is empty");
        if (b.text.length > 4096) return fail(400, "Bad Request: message is too long");
        if (b.parse_mode !== undefined && !["HTML", "Markdown", "MarkdownV2"].includes(b.parse_mode)) {
          return fail(400, "Bad Request: unsupported parse_mode");
        }
      },
      respond: ({ body: b }) => {
        const n = seq();
        const chatId = /^-?\d+$/.test(String(b.chat_id)) ? Number(b.chat_id) : b.chat_id;
        return json(200, {
          ok: true,
          result: {
            message_id: n,
            from: { id: 7000000001, is_bot: true, first_name: "Fake Bot", username: "fake_bot" },
            chat: { id: chatId, type: "private" },
            date: EPOCH + n,
            text: b.text,
          },
        });
      },
    }],
  };
}

function resend(seq: () => number): ProviderSpec {
  const fail = (statusCode: number, name: string, message: string, headers: Record<string, string> = {}) =>
    json(statusCode, { statusCode, message, name }, headers);
  return {
    prefix: "/resend/",
    credential: bearer,
    authError: (key) =>
      key === undefined
        ? fail(401, "missing_api_key", MSG.resendNoKey)
        : fail(403, "validation_error", "API key is invalid"),
    failure: (status) =>
      status === 429
        ? fail(429, "rate_limit_exceeded", MSG.resendRateLimit, { "retry-after": "1" })
        : fail(status, "application_error", "An unexpected error occurred."),
    routes: [{
      path: /^\/resend\/emails$/,
      validate: ({ body: b }) => {
        const absent = ["from", "to", "subject"].find((field) => b[field] === undefined || b[field] === "");
        if (absent) return fail(422, "missing_required_field", `Missing \`${absent}\` field.`);
        if (!isEmail(b.from)) return fail(422, "validation_error", MSG.resendBadAddress("from"));
        const to = isStr(b.to) ? [b.to] : b.to;
        if (!Array.isArray(to) || to.length === 0 || to.length > 50 || !to.every(isEmail)) {
          return fail(422, "validation_error", MSG.resendBadAddress("to"));
        }
        if (!isStr(b.subject)) return fail(422, "validation_error", "The `subject` field must be a `string`.");
      },
      respond: () => json(200, { id: `00000000-0000-4000-8000-${String(seq()).padStart(12, "0")}` }),
    }],
  };
}

/** The body as an object, if it is in the encoding the provider speaks. */
function parseBody(raw: string, contentType: string, form = false): Body | undefined {
  if (!contentType.startsWith(form ? "application/x-www-form-urlencoded" : "application/json")) return undefined;
  try {
    const body = form ? parseStripeForm(raw) : JSON.parse(raw);
    return typeof body === "object" && body !== null && !Array.isArray(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

export async function startProviderFakes(
  port = Number(Deno.env.get("AITIZER_TEST_PROVIDER_PORT") ?? 54341),
): Promise<ProviderFakes> {
  let counter = 0;
  const seq = () => ++counter;
  const idempotency: IdempotencyStore = new Map();
  const specs: Record<Provider, ProviderSpec> = {
    openai: openai(seq),
    stripe: stripe(seq, idempotency),
    slack: slack(seq),
    telegram: telegram(seq),
    resend: resend(seq),
  };
  const failures: { provider: Provider; status: number }[] = [];
  const requests: Recorded[] = [];
  const unexpected: Recorded[] = [];

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const rawBody = await req.text();
    const [provider, spec] = Object.entries(specs).find(([, s]) => url.pathname.startsWith(s.prefix)) ?? [];
    const rec: Recorded = {
      provider: (provider ?? "unknown") as Provider | "unknown",
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body: undefined,
      rawBody,
    };
    const refuse = (response: Response) => (unexpected.push(rec), response);
    const unexpectedRequest = () => refuse(new Response("unexpected request", { status: 599 }));

    const route = spec?.routes.find((r) => r.path.test(url.pathname));
    if (!spec || !route || req.method !== "POST") return unexpectedRequest();
    const body = parseBody(rawBody, req.headers.get("content-type") ?? "", spec.form);
    if (!body) return unexpectedRequest();
    rec.body = body;

    const credential = spec.credential(req.headers, url.pathname);
    if (!credential?.startsWith("good-")) return refuse(spec.authError(credential));
    const ctx: Ctx = { body, headers: req.headers, path: url.pathname, rawBody };
    const invalid = route.validate(ctx);
    if (invalid) return refuse(invalid);

    requests.push(rec);
    const failure = failures.findIndex((f) => f.provider === provider);
    if (failure < 0) return route.respond(ctx);
    return spec.failure(failures.splice(failure, 1)[0].status);
  };

  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => listening.resolve() }, handle);
  await listening.promise;
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    requests,
    unexpected,
    failNext(provider, status, times = 1) {
      for (let i = 0; i < times; i++) failures.push({ provider, status });
    },
    reset() {
      requests.length = 0;
      unexpected.length = 0;
      failures.length = 0;
      idempotency.clear();
    },
    close: () => server.shutdown(),
  };
}
