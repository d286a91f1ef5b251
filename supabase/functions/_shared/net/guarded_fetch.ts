// The one way to make an HTTP request to an address a user configured (http_request columns,
// custom actions): public unicast addresses only, with a timeout and a response-size cap. A name is
// judged before connecting (for a clear refusal) and again in the connection's own lookup, and the
// connection goes to the addresses judged there: a DNS answer that changes between the check and
// the connect (rebinding) cannot reach an address no check saw. Redirects are followed by hand,
// each hop judged anew. The client is undici over node:net (as postgres.js is): Deno's fetch has no
// way to pin the address it connects to.
import "./undici_assert.ts"; // first: undici takes its `assert` when it loads
import { Agent, type Dispatcher } from "undici";
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from "node:zlib";
import { promisify } from "node:util";
import type { LookupAddress } from "node:dns";
import ipaddr from "ipaddr.js";
import { config } from "../config.ts";

export class OutboundRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboundRefused";
  }
}

export interface GuardedOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  maxBytes?: number;
  maxRedirects?: number;
  /** Hosts (host or host:port) reachable despite the address rules: tests' local fakes. */
  allow?: readonly string[];
  /** Name resolution, replaceable in tests. */
  resolve?: (host: string) => Promise<string[]>;
  /**
   * Headers that carry a credential besides authorization, proxy-authorization and cookie (an API
   * key header): none of them follows a redirect to another origin.
   */
  credentialHeaders?: readonly string[];
}

export interface GuardedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  url: string;
  redirects: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 1_048_576;
const USER_AGENT = "AITIZER/1.0 (+https://aitizer.com)";
/** Connection-level headers: the client manages them (undici refuses most), so a configured one is dropped. */
const CONNECTION_HEADERS = new Set([
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie"];
/** Methods a request may use (not CONNECT, which would turn the connection into a tunnel, nor TRACE). */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** undici's codes for a request it will not send as given: not worth another try. */
const INVALID_REQUEST = new Set([
  "UND_ERR_INVALID_ARG",
  "UND_ERR_NOT_SUPPORTED",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
]);

/** Whether an address is public unicast (not private, loopback, link-local, CGNAT, metadata, …). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = ipaddr.process(address); // an IPv4-mapped IPv6 address is judged as its IPv4 address
  // ::/96 holds the deprecated IPv4-compatible form (::7f00:1 is 127.0.0.1): no public host is there.
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).parts.slice(0, 6).every((part) => part === 0)) return false;
  return ip.range() === "unicast";
}

async function resolveAll(host: string): Promise<string[]> {
  const lookups = (["A", "AAAA"] as const).map((type) =>
    Deno.resolveDns(host, type, { signal: AbortSignal.timeout(3_000) }).catch(() => [] as string[])
  );
  return (await Promise.all(lookups)).flat();
}

const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, "");

/** The checks that need no name resolution: scheme, credentials, this machine's names, IP literals. */
function parse(raw: string, opts: GuardedOptions): { url: URL; allowed: boolean } {
  let url: URL;
  try {
    url = new URL(raw); // WHATWG parsing normalises odd IPv4 spellings (2130706433, 0x7f.1, 017.0.0.1)
  } catch {
    throw new OutboundRefused(`Not a valid URL: ${raw}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new OutboundRefused(`Only http and https URLs are allowed, not ${url.protocol}`);
  }
  if (url.username || url.password) throw new OutboundRefused("URLs with credentials are not allowed");
  const allow = opts.allow ?? config.outboundAllow;
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (allow.includes(url.hostname) || allow.includes(`${url.hostname}:${port}`)) return { url, allowed: true };
  const host = bare(url.hostname);
  if (host === "localhost" || host.endsWith(".localhost")) {
    throw new OutboundRefused(`${host} is this machine: only public addresses may be called`);
  }
  if (ipaddr.isValid(host)) judge(url.hostname, [host]);
  return { url, allowed: false };
}

/** Refuses a host unless every address it has is public. */
function judge(hostname: string, addresses: string[]): void {
  if (addresses.length === 0) throw new OutboundRefused(`${hostname} does not resolve`);
  const bad = addresses.find((a) => !isPublicAddress(a));
  if (bad) {
    throw new OutboundRefused(
      `${hostname} resolves to ${bad}, a ${ipaddr.isValid(bad) ? ipaddr.process(bad).range() : "invalid"} ` +
        "address: only public addresses may be called",
    );
  }
}

/** Judges a URL's host name by what it resolves to (an IP literal was judged by parse). */
async function judgeName(url: URL, resolve: (host: string) => Promise<string[]>): Promise<void> {
  const host = bare(url.hostname);
  if (!ipaddr.isValid(host)) judge(url.hostname, await resolve(host));
}

/** Checks a URL without connecting: scheme, allow-list, then every address its host resolves to. */
export async function checkUrl(raw: string, opts: GuardedOptions = {}): Promise<URL> {
  const { url, allowed } = parse(raw, opts);
  if (!allowed) await judgeName(url, opts.resolve ?? resolveAll);
  return url;
}

/** node:net's lookup contract: every address when `all` is asked for, else the first and its family. */
type LookupCallback = (err: Error | null, address: LookupAddress[] | string, family?: number) => void;

/**
 * Connections whose addresses are the ones judged: the lookup resolves the name and refuses it
 * unless every address is public (or, for allow-listed hosts, resolves it as given).
 */
function pinnedAgent(resolve: (host: string) => Promise<string[]>, vet: boolean): Dispatcher {
  const lookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    const host = bare(hostname);
    const answer = ipaddr.isValid(host) ? Promise.resolve([host]) : resolve(host);
    answer.then((found) => {
      try {
        if (vet) judge(hostname, found);
        else if (found.length === 0) throw new OutboundRefused(`${hostname} does not resolve`);
      } catch (e) {
        return callback(e as Error, []);
      }
      const all = found.map((address) => ({ address, family: ipaddr.parse(address).kind() === "ipv6" ? 6 : 4 }));
      if (options?.all) callback(null, all);
      else callback(null, all[0].address, all[0].family);
    }, (e) => callback(e, []));
  };
  return pool(lookup);
}

function pool(lookup?: (hostname: string, options: { all?: boolean }, callback: LookupCallback) => void) {
  return new Agent(lookup ? { connect: { lookup } } : {});
}

/** Shared pools: one for public hosts (judged at connect), one for allow-listed hosts (the system's lookup). */
let publicPool: Dispatcher | undefined;
let allowedPool: Dispatcher | undefined;
function poolFor(allowed: boolean): Dispatcher {
  if (allowed) return allowedPool ??= pool();
  return publicPool ??= pinnedAgent(resolveAll, true);
}

/** The pool every request to a public host goes through (its test checks that it judges names). */
export const publicHostsPool = (): Dispatcher => poolFor(false);

/** The headers sent: the caller's, less connection-level ones, with a user agent and content type by default. */
function requestHeaders(given: Record<string, string> | undefined, body: string | undefined) {
  const headers: Record<string, string> = { "user-agent": USER_AGENT, accept: "*/*" };
  for (const [name, value] of Object.entries(given ?? {})) {
    const key = name.toLowerCase();
    if (!CONNECTION_HEADERS.has(key)) headers[key] = value;
  }
  if (body !== undefined && !("content-type" in headers)) headers["content-type"] = "text/plain;charset=UTF-8";
  return headers;
}

/**
 * The deadlines of the calls in flight, checked by one timer every TICK_MS while any is pending. A
 * timer per call (node-style in Deno: an object and two timer ops) cost ~1 KB and a few µs a
 * request; AbortSignal.timeout's lived on for its whole timeout. A deadline fires up to TICK_MS late.
 */
interface Deadline {
  at: number;
  fire: () => void;
}
const TICK_MS = 20;
const pending = new Set<Deadline>();
let ticker: ReturnType<typeof setTimeout> | null = null;

function arm(ms: number, fire: () => void): Deadline {
  const deadline = { at: performance.now() + ms, fire };
  pending.add(deadline);
  ticker ??= setTimeout(sweep, TICK_MS);
  return deadline;
}

function disarm(deadline: Deadline) {
  pending.delete(deadline);
  if (pending.size === 0 && ticker !== null) {
    clearTimeout(ticker);
    ticker = null;
  }
}

/** The deadlines armed and whether the sweeping timer runs (for tests: none once the calls end). */
export const armedDeadlines = () => ({ pending: pending.size, ticking: ticker !== null });

function sweep() {
  const now = performance.now();
  try {
    for (const deadline of pending) {
      if (deadline.at > now) continue;
      pending.delete(deadline);
      deadline.fire();
    }
  } finally { // one that threw must not stop the others for good
    ticker = pending.size > 0 ? setTimeout(sweep, TICK_MS) : null;
  }
}

/**
 * An HTTP request, refusing non-public destinations at every hop; the body is read up to `maxBytes`
 * (decoded), and the whole exchange (names, connects, redirects, body) ends within `timeoutMs`.
 */
export async function guardedFetch(raw: string, opts: GuardedOptions = {}): Promise<GuardedResponse> {
  let method = (opts.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod;
  if (!METHODS.has(method)) throw new OutboundRefused(`The ${method} method is not allowed`);
  const maxRedirects = opts.maxRedirects ?? 5;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const resolve = opts.resolve ?? resolveAll;
  let host = "";
  const late = () => new OutboundRefused(`No answer from ${host} within ${timeoutMs} ms`);
  // The deadline aborts the requests in flight, and rejects the race below: a request is abortable
  // only once it is on a connection, so a lookup or a connect that hangs would outlast it.
  const call: Call = { expired: null, open: new Set() };
  let expire: (e: Error) => void = () => {};
  const timedOut = new Promise<never>((_, reject) => (expire = reject));
  timedOut.catch(() => {});
  const deadline = arm(timeoutMs, () => {
    call.expired = late();
    for (const request of call.open) request.abort(call.expired);
    expire(call.expired);
  });
  // A resolver of the caller's own (tests) gets pools of its own, destroyed when the call ends.
  const own = opts.resolve ? [pinnedAgent(resolve, true), pinnedAgent(resolve, false)] : null;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let body = opts.body;
  const headers = requestHeaders(opts.headers, body);
  let current = raw;
  try {
    for (let redirects = 0;; redirects++) {
      const { url, allowed } = parse(current, opts);
      host = url.host;
      const hop = (async () => {
        // Judged here for a clear refusal, and again where the connection is made (the address it uses).
        if (!allowed) await judgeName(url, resolve);
        const dispatcher = own ? own[allowed ? 1 : 0] : poolFor(allowed);
        return await exchange(dispatcher, url, { method, headers, body }, maxBytes, call);
      })();
      hop.catch(() => {});
      let answer: Answer;
      try {
        answer = await Promise.race([hop, timedOut]);
      } catch (e) {
        throw outboundError(e, url, call.expired);
      }
      if (answer.redirect) {
        if (redirects >= maxRedirects) throw new OutboundRefused(`More than ${maxRedirects} redirects`);
        const next = new URL(answer.redirect, url);
        if (next.origin !== url.origin) { // no credential follows to another origin (or from https to http)
          for (const name of [...CREDENTIAL_HEADERS, ...(opts.credentialHeaders ?? [])]) {
            delete headers[name.toLowerCase()];
          }
        }
        current = next.href;
        if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && method === "POST")) {
          method = "GET";
          body = undefined;
          delete headers["content-type"];
        }
        continue;
      }
      const text = await bodyText(answer, maxBytes);
      return { status: answer.status, headers: answer.headers, body: text, url: url.href, redirects };
    }
  } finally {
    disarm(deadline);
    // A redirect's body may still be arriving: the call is over, so is its request (and its socket).
    for (const request of call.open) request.abort(new OutboundRefused("The call has ended"));
    if (own) await Promise.all(own.map((a) => a.destroy()));
  }
}

/** A call's deadline, once passed, and its requests still on a connection (to abort at the end). */
interface Call {
  expired: OutboundRefused | null;
  open: Set<Dispatcher.DispatchController>;
}

/** One hop's answer: a redirect's target, or the body as received (still encoded, if it was). */
interface Answer {
  status: number;
  headers: Record<string, string>;
  redirect: string | null;
  coding: string | null;
  chunks: Uint8Array[];
  size: number;
}

/** The body of a redirect is drained up to this (keeping the connection), else the connection is dropped. */
const REDIRECT_BODY_MAX = 131_072;
/** An encoded body may be a little larger than what it decodes to (framing): the cap is checked decoded. */
const ENCODED_SLACK = 65_536;

/**
 * One request, its answer gathered by a dispatch handler (undici's request() hands the body over as
 * a Node stream: ~13 µs more a request in Deno, a fifth of the client's cost). A redirect answers
 * as soon as its headers arrive. Over the size cap, or at the deadline, the request is aborted.
 */
function exchange(
  dispatcher: Dispatcher,
  url: URL,
  request: { method: Dispatcher.HttpMethod; headers: Record<string, string>; body: string | undefined },
  maxBytes: number,
  call: Call,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const answer: Answer = { status: 0, headers: {}, redirect: null, coding: null, chunks: [], size: 0 };
    let limit = maxBytes;
    let started: Dispatcher.DispatchController | null = null;
    const ended = () => started && call.open.delete(started);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (call.expired) return controller.abort(call.expired); // the deadline passed while connecting
        call.open.add(started = controller);
      },
      onResponseStart(controller, status, raw) {
        if (status < 200) return; // informational (103 Early Hints): the answer follows
        const headers = answer.headers = flatten(raw);
        answer.status = status;
        if (status >= 300 && status < 400 && headers["location"]) {
          answer.redirect = headers["location"];
          limit = REDIRECT_BODY_MAX;
          return resolve(answer); // its body is drained, unread
        }
        const coding = headers["content-encoding"]?.trim().toLowerCase();
        if (coding && coding !== "identity") {
          if (!DECODERS.has(coding)) {
            return controller.abort(new OutboundRefused(`Response encoded as "${coding}", which cannot be decoded`));
          }
          answer.coding = coding;
          limit = maxBytes + ENCODED_SLACK;
          return;
        }
        const declared = Number(headers["content-length"] ?? NaN);
        const bodiless = request.method === "HEAD" || status === 204 || status === 304;
        if (!bodiless && declared > maxBytes) {
          controller.abort(new OutboundRefused(`Response of ${declared} bytes is over the ${maxBytes}-byte limit`));
        }
      },
      onResponseData(controller, chunk) {
        answer.size += chunk.byteLength;
        if (answer.size > limit) {
          return controller.abort(new OutboundRefused(`Response is over the ${maxBytes}-byte limit`));
        }
        if (!answer.redirect) answer.chunks.push(chunk);
      },
      onResponseEnd: () => {
        ended();
        resolve(answer);
      },
      onResponseError: (_controller, error) => {
        ended();
        reject(error);
      },
    };
    if (call.expired) return reject(call.expired); // the deadline passed while the name was judged
    try {
      dispatcher.dispatch({ origin: url.origin, path: `${url.pathname}${url.search}`, ...request }, handler);
    } catch (e) {
      reject(e);
    }
  });
}

/** What a failed request becomes: a refusal (not worth another try) or a failure (worth one). */
function outboundError(e: unknown, url: URL, timedOut: OutboundRefused | null): Error {
  const refused = [e, (e as Error)?.cause].find((x) => x instanceof OutboundRefused);
  if (refused) return refused as OutboundRefused;
  if (timedOut) return timedOut;
  const code = (e as { code?: string })?.code;
  if (code && INVALID_REQUEST.has(code)) {
    return new OutboundRefused(`Invalid request to ${url.host}: ${(e as Error).message}`);
  }
  return new Error(`Request to ${url.host} failed: ${(e as Error)?.message ?? String(e)}`);
}

/** Response headers as one string each (repeated ones joined, as fetch's Headers does). */
function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** Decoders for the content codings a server may use (undici's decompress interceptor cost ~20 µs a request). */
const DECODERS = new Map<string, (data: Uint8Array, options: ZlibOptions) => Promise<Uint8Array>>([
  ["gzip", promisify(gunzip)],
  ["x-gzip", promisify(gunzip)],
  ["deflate", promisify(inflate)],
  ["br", promisify(brotliDecompress)],
]);

const utf8 = new TextDecoder();

/** The body as text, decoded if the server compressed it, refused past `maxBytes` (decoded). */
async function bodyText(answer: Answer, maxBytes: number): Promise<string> {
  const raw = answer.chunks.length === 1 ? answer.chunks[0] : concat(answer.chunks, answer.size);
  if (!answer.coding || answer.size === 0) return utf8.decode(raw);
  try {
    return utf8.decode(await DECODERS.get(answer.coding)!(raw, { maxOutputLength: Math.max(maxBytes, 1) }));
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new OutboundRefused(`Response is over the ${maxBytes}-byte limit`);
    }
    throw new OutboundRefused(`Response could not be decoded as ${answer.coding}: ${(e as Error).message}`);
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return all;
}
