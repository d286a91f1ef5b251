// The one way to make an HTTP request to an address a user configured (http_request columns,
// custom actions): public unicast addresses only, with a timeout and a response-size cap. A name is
// resolved once per connection, in the connection's own lookup, and the connection goes to the
// addresses that were judged there: a DNS answer that changes between a check and the connect
// (rebinding) cannot reach an address no check saw. Redirects are followed by hand, each hop judged
// anew. The client is undici over node:net (as postgres.js is): Deno's fetch has no way to pin the
// address it connects to.
import { Agent, type Dispatcher, request } from "undici";
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

/** Whether an address is public unicast (not private, loopback, link-local, CGNAT, metadata, …). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === "unicast";
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
function judge(hostname: string, addresses: string[]): string[] {
  if (addresses.length === 0) throw new OutboundRefused(`${hostname} does not resolve`);
  const bad = addresses.find((a) => !isPublicAddress(a));
  if (bad) {
    throw new OutboundRefused(
      `${hostname} resolves to ${bad}, a ${ipaddr.isValid(bad) ? ipaddr.process(bad).range() : "invalid"} ` +
        "address: only public addresses may be called",
    );
  }
  return addresses;
}

/** Checks a URL without connecting: scheme, allow-list, then every address its host resolves to. */
export async function checkUrl(raw: string, opts: GuardedOptions = {}): Promise<URL> {
  const { url, allowed } = parse(raw, opts);
  const host = bare(url.hostname);
  if (!allowed && !ipaddr.isValid(host)) judge(url.hostname, await (opts.resolve ?? resolveAll)(host));
  return url;
}

/** node:net's lookup contract: every address when `all` is asked for, else the first and its family. */
type LookupCallback = (err: Error | null, address: LookupAddress[] | string, family?: number) => void;

/**
 * Connections whose addresses are the ones judged: the lookup resolves the name and refuses it
 * unless every address is public (or, for allow-listed hosts, resolves it as given).
 */
function pinnedAgent(resolve: (host: string) => Promise<string[]>, vet: boolean): Agent {
  const lookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    const host = bare(hostname);
    (ipaddr.isValid(host) ? Promise.resolve([host]) : resolve(host))
      .then((found) => {
        if (vet) judge(hostname, found);
        else if (found.length === 0) throw new OutboundRefused(`${hostname} does not resolve`);
        const all = found.map((address) => ({ address, family: ipaddr.parse(address).kind() === "ipv6" ? 6 : 4 }));
        if (options?.all) callback(null, all);
        else callback(null, all[0].address, all[0].family);
      })
      .catch((e) => callback(e, []));
  };
  return new Agent({ connect: { lookup } });
}

/** Shared pools: one for public hosts (judged at connect), one for allow-listed hosts (the system's lookup). */
let publicAgent: Agent | undefined;
let allowedAgent: Agent | undefined;
function agentFor(allowed: boolean): Agent {
  if (allowed) return allowedAgent ??= new Agent();
  return publicAgent ??= pinnedAgent(resolveAll, true);
}

/** request(), refusing non-public destinations at every hop; the body is read up to `maxBytes`. */
export async function guardedFetch(raw: string, opts: GuardedOptions = {}): Promise<GuardedResponse> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  // A resolver of the caller's own (tests) gets pools of its own, closed when the call ends.
  const own = opts.resolve ? [pinnedAgent(opts.resolve, true), pinnedAgent(opts.resolve, false)] : null;
  let method = (opts.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod;
  let body = opts.body;
  let current = raw;
  try {
    for (let redirects = 0;; redirects++) {
      const { url, allowed } = parse(current, opts);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method,
          headers: opts.headers,
          body,
          signal,
          dispatcher: own ? own[allowed ? 1 : 0] : agentFor(allowed),
        });
      } catch (e) {
        const refused = [e, (e as Error).cause].find((x) => x instanceof OutboundRefused);
        if (refused) throw refused;
        if (signal.aborted) throw new OutboundRefused(`No answer from ${url.host} within ${timeoutMs} ms`);
        throw new Error(`Request to ${url.host} failed: ${(e as Error).message}`);
      }
      const headers = flatten(res.headers);
      const location = headers["location"];
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        await res.body.dump();
        if (redirects >= maxRedirects) throw new OutboundRefused(`More than ${maxRedirects} redirects`);
        current = new URL(location, url).href;
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === "POST")) {
          method = "GET";
          body = undefined;
        }
        continue;
      }
      let text: string;
      try {
        text = await readCapped(res, headers, opts.maxBytes ?? DEFAULT_MAX_BYTES);
      } catch (e) {
        if (signal.aborted && !(e instanceof OutboundRefused)) {
          throw new OutboundRefused(`No answer from ${url.host} within ${timeoutMs} ms`);
        }
        throw e;
      }
      return { status: res.statusCode, headers, body: text, url: url.href, redirects };
    }
  } finally {
    if (own) await Promise.all(own.map((a) => a.close()));
  }
}

/** Response headers as one string each (repeated ones joined, as fetch's Headers does). */
function flatten(headers: Dispatcher.ResponseData["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function readCapped(res: Dispatcher.ResponseData, headers: Record<string, string>, maxBytes: number) {
  const declared = Number(headers["content-length"] ?? NaN);
  if (declared > maxBytes) {
    await res.body.dump();
    throw new OutboundRefused(`Response of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
  // A declared length frames the body (the client reads exactly that many bytes): read it whole.
  if (Number.isFinite(declared)) return await res.body.text();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      res.body.destroy();
      throw new OutboundRefused(`Response is over the ${maxBytes}-byte limit`);
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}
