// The one way to make an HTTP request to an address a user configured (http_request columns,
// custom actions, webhooks): public unicast addresses only, checked after DNS resolution and
// again on every redirect, with a timeout and a response-size cap.
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
  headers?: HeadersInit;
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

/** Checks a URL before connecting: scheme, allow-list, then every address its host resolves to. */
export async function checkUrl(raw: string, opts: GuardedOptions = {}): Promise<URL> {
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
  if (allow.includes(url.hostname) || allow.includes(`${url.hostname}:${port}`)) return url;

  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost")) {
    throw new OutboundRefused(`${host} is this machine: only public addresses may be called`);
  }
  const addresses = ipaddr.isValid(host) ? [host] : await (opts.resolve ?? resolveAll)(host);
  if (addresses.length === 0) throw new OutboundRefused(`${url.hostname} does not resolve`);
  const bad = addresses.find((a) => !isPublicAddress(a));
  if (bad) {
    throw new OutboundRefused(
      `${url.hostname} resolves to ${bad}, a ${ipaddr.isValid(bad) ? ipaddr.process(bad).range() : "invalid"} ` +
        "address: only public addresses may be called",
    );
  }
  return url;
}

/** fetch, refusing non-public destinations at every hop; the body is read up to `maxBytes`. */
export async function guardedFetch(raw: string, opts: GuardedOptions = {}): Promise<GuardedResponse> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let method = (opts.method ?? "GET").toUpperCase();
  let body = opts.body;
  let current = raw;
  for (let redirects = 0;; redirects++) {
    const url = await checkUrl(current, opts);
    let res: Response;
    try {
      res = await fetch(url, { method, headers: opts.headers, body, redirect: "manual", signal });
    } catch (e) {
      if (signal.aborted) {
        throw new OutboundRefused(`No answer from ${url.host} within ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`);
      }
      throw new Error(`Request to ${url.host} failed: ${(e as Error).message}`);
    }
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      if (redirects >= maxRedirects) throw new OutboundRefused(`More than ${maxRedirects} redirects`);
      current = new URL(location, url).href;
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
      }
      continue;
    }
    return {
      status: res.status,
      headers: Object.fromEntries(res.headers),
      body: await readCapped(res, opts.maxBytes ?? DEFAULT_MAX_BYTES),
      url: url.href,
      redirects,
    };
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new OutboundRefused(`Response of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
  if (!res.body) return "";
  // A declared length frames the body (the client reads exactly that many bytes): read it whole,
  // without a stream reader per chunk (which cost as much as the request itself).
  if (Number.isFinite(declared)) return await res.text();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new OutboundRefused(`Response is over the ${maxBytes}-byte limit`);
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
