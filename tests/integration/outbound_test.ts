// The guarded fetch every user-configured request goes through: each refusal, redirects checked
// at every hop, the size cap and the timeout. Local servers stand in for the internet; they are
// reachable only where the test allow-lists them explicitly.
import { assert, assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import { AssertionError } from "node:assert";
import { createRequire } from "node:module";
import { request } from "undici";
import {
  armedDeadlines,
  checkUrl,
  guardedFetch,
  isPublicAddress,
  OutboundRefused,
  publicHostsPool,
} from "../../supabase/functions/_shared/net/guarded_fetch.ts";
import { fastAssert, installUndiciAssert } from "../../supabase/functions/_shared/net/undici_assert.ts";
import { test } from "../_helpers.ts";

function serve(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const addr = server.addr as Deno.NetAddr;
  return { host: `127.0.0.1:${addr.port}`, url: `http://127.0.0.1:${addr.port}`, close: () => server.shutdown() };
}

const refused = (url: string, opts = {}) => assertRejects(() => checkUrl(url, { allow: [], ...opts }), OutboundRefused);

test("private, loopback, link-local, CGNAT, metadata and odd spellings are refused", async () => {
  for (
    const url of [
      "http://127.0.0.1/",
      "http://10.1.2.3/",
      "http://172.16.0.1/",
      "http://192.168.1.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://100.64.0.1/",
      "http://0.0.0.0/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[fd00::1]/",
      "http://[fe80::1]/",
      "http://[::7f00:1]/", // IPv4-compatible 127.0.0.1
      "http://[::127.0.0.1]/",
      "http://2130706433/",
      "http://0x7f.1/",
      "http://0177.0.0.1/", // octal 127
      "http://localhost/",
      "file:///etc/passwd",
      "ftp://example.com/",
      "http://user:secret@example.com/",
      "not a url",
    ]
  ) await refused(url);
  // A name is judged by every address it resolves to.
  await refused("http://rebind.example/", { resolve: () => Promise.resolve(["93.184.216.34", "10.0.0.5"]) });
  await refused("http://nowhere.example/", { resolve: () => Promise.resolve([]) });
  const ok = await checkUrl("https://api.example.com/x", {
    allow: [],
    resolve: () => Promise.resolve(["93.184.216.34"]),
  });
  assertEquals(ok.hostname, "api.example.com");
  assertEquals([isPublicAddress("8.8.8.8"), isPublicAddress("2001:4860:4860::8888"), isPublicAddress("::1")], [
    true,
    true,
    false,
  ]);
});

test("redirects are followed at most 5 times and checked at every hop; size cap and timeout", async () => {
  let hops = 0;
  const fake = serve((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/ok") return Response.json({ ok: true });
    if (path === "/to-private") return Response.redirect("http://169.254.169.254/latest/meta-data/", 302);
    if (path === "/to-loopback-name") return Response.redirect(`http://localhost:${fakePort()}/ok`, 302);
    if (path === "/loop") return Response.redirect(`${fake.url}/loop?${++hops}`, 302);
    if (path === "/twice") return Response.redirect(`${fake.url}/once`, 301);
    if (path === "/once") return Response.redirect(`${fake.url}/ok`, 302);
    if (path === "/big") return new Response("x".repeat(2048));
    if (path === "/big-redirect") { // a redirect with a body too large to drain: followed all the same
      return new Response("r".repeat(300_000), { status: 302, headers: { location: "/ok" } });
    }
    if (path === "/chunked-big") { // no declared length: the cap is counted as the body arrives
      return new Response(new Blob(["y".repeat(3000)]).stream());
    }
    if (path === "/trickle") { // the headers, one chunk, then nothing
      return new Response(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode("{")) }));
    }
    if (path === "/slow") { // answers only once the caller has given up
      return new Promise<Response>((resolve) => req.signal.addEventListener("abort", () => resolve(new Response(""))));
    }
    return new Response("nope", { status: 404 });
  });
  const fakePort = () => fake.host.split(":")[1];
  const allow = [fake.host];
  try {
    const ok = await guardedFetch(`${fake.url}/twice`, { allow });
    assertEquals([ok.status, JSON.parse(ok.body), ok.redirects], [200, { ok: true }, 2]);
    await assertRejects(() => guardedFetch(`${fake.url}/to-private`, { allow }), OutboundRefused, "linkLocal");
    await assertRejects(() => guardedFetch(`${fake.url}/to-loopback-name`, { allow }), OutboundRefused);
    await assertRejects(() => guardedFetch(`${fake.url}/loop`, { allow }), OutboundRefused, "More than 5 redirects");
    await assertRejects(() => guardedFetch(`${fake.url}/big`, { allow, maxBytes: 1024 }), OutboundRefused, "limit");
    await assertRejects(
      () => guardedFetch(`${fake.url}/chunked-big`, { allow, maxBytes: 1024 }),
      OutboundRefused,
      "over the 1024-byte limit",
    );
    const drained = await guardedFetch(`${fake.url}/big-redirect`, { allow });
    assertEquals([drained.status, drained.body, drained.redirects], [200, '{"ok":true}', 1]);
    await assertRejects( // the deadline covers the body too
      () => guardedFetch(`${fake.url}/trickle`, { allow, timeoutMs: 100 }),
      OutboundRefused,
      "No answer",
    );
    await assertRejects(
      () => guardedFetch(`${fake.url}/slow`, { allow, timeoutMs: 100 }),
      OutboundRefused,
      "No answer",
    );
    await assertRejects(() => guardedFetch(`${fake.url}/ok`, { allow: [] }), OutboundRefused, "loopback");
  } finally {
    await fake.close();
  }
});

test("a connection goes to the addresses judged in its own lookup: no second resolution to rebind", async () => {
  const hosts: string[] = [];
  const fake = serve((req) => {
    hosts.push(req.headers.get("host") ?? "");
    return Response.json({ ok: true });
  });
  const port = fake.host.split(":")[1];
  const asked: string[] = [];
  // `.test` names resolve nowhere: only the connection's lookup (this resolver) can place them.
  const resolve = (host: string) => {
    asked.push(host);
    return Promise.resolve(["127.0.0.1"]);
  };
  try {
    const ok = await guardedFetch(`http://svc.test:${port}/ok`, { allow: [`svc.test:${port}`], resolve });
    assertEquals([ok.status, JSON.parse(ok.body), hosts, asked], [200, { ok: true }, [`svc.test:${port}`], [
      "svc.test",
    ]]);
    // Not allow-listed, a loopback answer is refused.
    await assertRejects(
      () => guardedFetch(`http://svc.test:${port}/ok`, { allow: [], resolve }),
      OutboundRefused,
      "loopback",
    );
    // Rebinding: public when the name is checked, loopback by the time the connection is made. The
    // connection's own lookup is the answer used, and it is judged too: nothing reaches the fake.
    let answers = 0;
    const rebinding = () => Promise.resolve(++answers === 1 ? ["93.184.216.34"] : ["127.0.0.1"]);
    await assertRejects(
      () => guardedFetch(`http://rebind.test:${port}/ok`, { allow: [], resolve: rebinding }),
      OutboundRefused,
      "rebind.test resolves to 127.0.0.1, a loopback",
    );
    assertEquals(answers, 2);
    assertEquals([hosts.length, asked.length], [1, 2]);
  } finally {
    await fake.close();
  }
});

test("the shared pool for public hosts judges names itself", async () => {
  // The system's lookup would fail with ENOTFOUND; this pool's own lookup refuses the name.
  await assertRejects(
    () => request("http://nowhere.invalid/", { dispatcher: publicHostsPool() }),
    OutboundRefused,
    "does not resolve",
  );
});

test("credentials do not follow a redirect to another origin; the deadline covers connecting", async () => {
  const seen: Record<string, string>[] = [];
  const other = serve((req) => {
    seen.push(Object.fromEntries(req.headers));
    return Response.json({ ok: true });
  });
  const first = serve((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/away") return Response.redirect(`${other.url}/landed`, 302);
    if (path === "/here") return Response.redirect(`${first.url}/landed`, 302);
    seen.push(Object.fromEntries(req.headers));
    return Response.json({ ok: true });
  });
  const allow = [first.host, other.host];
  const headers = { Authorization: "Bearer S", "X-Api-Key": "K", Cookie: "c=1", "X-Trace": "t" };
  try {
    await guardedFetch(`${first.url}/here`, { allow, headers, credentialHeaders: ["X-Api-Key"] });
    await guardedFetch(`${first.url}/away`, { allow, headers, credentialHeaders: ["X-Api-Key"] });
    const pick = (h: Record<string, string>) => [h.authorization, h["x-api-key"], h.cookie, h["x-trace"]];
    assertEquals(pick(seen[0]), ["Bearer S", "K", "c=1", "t"]); // same origin: all kept
    assertEquals(pick(seen[1]), [undefined, undefined, undefined, "t"]); // another origin: credentials dropped

    // A name whose connection never gets an address: the deadline ends the call, not undici's 10 s.
    let asked = 0;
    const hangs = () => (++asked === 1 ? Promise.resolve(["93.184.216.34"]) : new Promise<string[]>(() => {}));
    await assertRejects(
      () => guardedFetch("http://hangs.test/", { allow: [], resolve: hangs, timeoutMs: 100 }),
      OutboundRefused,
      "No answer from hangs.test within 100 ms",
    );
    assertEquals(asked, 2); // judged before connecting, then in the connection's lookup, which never answered
  } finally {
    await Promise.all([first.close(), other.close()]);
  }
});

test("requests carry a user agent and content type; compressed answers are read; bad requests are refused", async () => {
  let got: Record<string, string> = {};
  const fake = serve(async (req) => {
    got = Object.fromEntries(req.headers);
    const path = new URL(req.url).pathname;
    if (path === "/gzip" || path === "/gzip-big") {
      const text = path === "/gzip" ? '{"zipped":true}' : "x".repeat(4096); // 4 KiB that zip to a few bytes
      const zipped = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
      return new Response(await new Response(zipped).arrayBuffer(), { headers: { "content-encoding": "gzip" } });
    }
    if (path === "/compress") return new Response("??", { headers: { "content-encoding": "compress" } });
    if (path === "/gzip-empty") return new Response(null, { status: 204, headers: { "content-encoding": "gzip" } });
    if (path === "/gzip-bad") return new Response("not gzip at all", { headers: { "content-encoding": "gzip" } });
    return new Response(await req.text());
  });
  const allow = [fake.host];
  try {
    const echoed = await guardedFetch(`${fake.url}/echo`, {
      allow,
      method: "POST",
      body: "plain words",
      headers: { Connection: "close", Expect: "100-continue", "X-One": "1" }, // connection-level ones dropped
    });
    assertEquals(echoed.body, "plain words");
    assertEquals([got["user-agent"]?.startsWith("AITIZER/"), got["content-type"], got["x-one"], got.expect], [
      true,
      "text/plain;charset=UTF-8",
      "1",
      undefined,
    ]);
    const zipped = await guardedFetch(`${fake.url}/gzip`, { allow, headers: { "Accept-Encoding": "gzip" } });
    assertEquals(JSON.parse(zipped.body), { zipped: true });
    // The cap counts decoded bytes (a small zipped body can unzip to anything).
    await assertRejects(
      () => guardedFetch(`${fake.url}/gzip-big`, { allow, maxBytes: 1024 }),
      OutboundRefused,
      "limit",
    );
    await assertRejects(() => guardedFetch(`${fake.url}/compress`, { allow }), OutboundRefused, "cannot be decoded");
    await assertRejects(() => guardedFetch(`${fake.url}/gzip-bad`, { allow }), OutboundRefused, "could not be decoded");
    const empty = await guardedFetch(`${fake.url}/gzip-empty`, { allow });
    assertEquals([empty.status, empty.body], [204, ""]);
    await assertRejects(
      () => guardedFetch(`${fake.url}/echo`, { allow, headers: { "X-Bad": "a\r\nb" } }),
      OutboundRefused,
      "Invalid request",
    );
  } finally {
    await fake.close();
  }
});

test("concurrent calls' deadlines each fire, in order, and nothing stays armed once the calls end", async () => {
  const fake = serve((req) =>
    new Promise((resolve) => req.signal.addEventListener("abort", () => resolve(new Response(""))))
  );
  const allow = [fake.host];
  try {
    const order: number[] = [];
    const call = (ms: number) =>
      guardedFetch(`${fake.url}/slow`, { allow, timeoutMs: ms }).then(() => assert(false, "answered"), (e) => {
        assertInstanceOf(e, OutboundRefused);
        assertEquals(e.message, `No answer from ${fake.host} within ${ms} ms`);
        order.push(ms);
      });
    const calls = [call(100), call(400)];
    assertEquals(armedDeadlines(), { pending: 2, ticking: true });
    await Promise.all(calls);
    assertEquals(order, [100, 400]);
    assertEquals(armedDeadlines(), { pending: 0, ticking: false });
    await guardedFetch(`${fake.url}/slow`, { allow, timeoutMs: 50 }).catch(() => {});
    assertEquals(armedDeadlines(), { pending: 0, ticking: false });
  } finally {
    await fake.close();
  }
});

test("undici's modules get an assert that only checks; it fails as node:assert does; others get node:assert", () => {
  // The loader this process uses was wrapped when guarded_fetch.ts loaded, before undici.
  const fromUndici = createRequire("/deps/node_modules/undici/lib/core/util.js");
  const fromOther = createRequire("/deps/node_modules/other/index.js");
  assert(fromUndici("node:assert") === fastAssert);
  assert(fromOther("node:assert") !== fastAssert);
  assertEquals(typeof fromOther("node:assert").deepStrictEqual, "function");

  fastAssert(1);
  fastAssert("x", "never thrown");
  const failed = assertThrows(() => fastAssert(0, "queue is empty"), AssertionError, "queue is empty");
  assertEquals((failed as AssertionError).code, "ERR_ASSERTION");
  assertThrows(() => fastAssert(null), AssertionError);
  assertThrows(() => fastAssert(false, new TypeError("its own")), TypeError, "its own");

  // Wrapping is idempotent, leaves other requests and other callers alone, and needs a _load.
  type Load = (request: string, parent: { filename?: string }, isMain: boolean) => unknown;
  const loader: { _load: Load } = { _load: (request) => `real ${request}` };
  assert(installUndiciAssert(loader as never));
  assert(!installUndiciAssert(loader as never));
  const undiciParent = { filename: "/x/undici/lib/api/api-request.js" };
  assert(loader._load("node:assert", undiciParent, false) === fastAssert);
  assertEquals(
    loader._load("node:assert", { filename: "/x/postgres/cjs/src/index.js" }, false),
    "real node:assert",
  );
  assertEquals(loader._load("node:fs", undiciParent, false), "real node:fs");
  assert(!installUndiciAssert({} as never));
});

/** A server speaking raw HTTP/1.1 (what Deno.serve will not send: 1xx answers, a body that never comes). */
function rawServer(answer: (method: string, path: string, conn: Deno.Conn) => Promise<void> | void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const closed = new Map<Deno.Conn, PromiseWithResolvers<void>>();
  const text = new TextDecoder();
  const serveConn = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(4096);
    let pending = "";
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      pending += text.decode(buf.subarray(0, n));
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const [method, path] = pending.slice(0, end).split(" ");
        pending = pending.slice(end + 4); // bodiless requests only
        await answer(method, path, conn);
      }
    }
    closed.get(conn)!.resolve();
    try {
      conn.close();
    } catch { /* closed already */ }
  };
  void (async () => {
    for await (const conn of listener) {
      closed.set(conn, Promise.withResolvers<void>());
      void serveConn(conn);
    }
  })().catch(() => {});
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    /** Settles once the client has closed the connection. */
    closing: (conn: Deno.Conn) => closed.get(conn)!.promise,
    close() {
      listener.close();
      for (const conn of closed.keys()) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    },
  };
}

const write = (conn: Deno.Conn, text: string) => conn.write(new TextEncoder().encode(text));

test("a redirect whose body never ends is cut when the call ends; 1xx answers are skipped; only plain methods", async () => {
  const seen: { stalled?: Deno.Conn } = {};
  const fake = rawServer(async (method, path, conn) => {
    if (path === "/stall-redirect") {
      seen.stalled = conn;
      return void await write(conn, "HTTP/1.1 302 Found\r\nlocation: /ok\r\ncontent-length: 1000\r\n\r\n");
    }
    if (path === "/hints") { // a 103 whose headers must not be taken for the answer's
      await write(conn, "HTTP/1.1 103 Early Hints\r\ncontent-encoding: gzip\r\ncontent-length: 99999999\r\n\r\n");
    }
    if (path === "/odd-coding") {
      return void await write(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-encoding: constructor\r\ncontent-length: 5\r\n\r\nhello",
      );
    }
    const declared = method === "HEAD" ? "99999999" : "5";
    await write(conn, `HTTP/1.1 200 OK\r\ncontent-length: ${declared}\r\n\r\n${method === "HEAD" ? "" : "hello"}`);
  });
  const allow = [fake.host];
  try {
    const followed = await guardedFetch(`${fake.url}/stall-redirect`, { allow });
    assertEquals([followed.body, followed.redirects], ["hello", 1]);
    const stalled = seen.stalled;
    if (!stalled) throw new Error("the redirect was not asked for");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cut = await Promise.race([ // settles at once if the socket was cut; the timer only bounds a failure
      fake.closing(stalled).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5_000))),
    ]);
    clearTimeout(timer);
    assert(cut, "the redirect's connection stayed open after the call ended");

    const hinted = await guardedFetch(`${fake.url}/hints`, { allow });
    assertEquals([hinted.status, hinted.body], [200, "hello"]);
    // A coding name that is a property of every object is still an unknown coding.
    await assertRejects(() => guardedFetch(`${fake.url}/odd-coding`, { allow }), OutboundRefused, "cannot be decoded");
    // A HEAD answer declares a length it does not send: not over the cap.
    const head = await guardedFetch(`${fake.url}/head`, { allow, method: "HEAD", maxBytes: 10 });
    assertEquals([head.status, head.body], [200, ""]);
    for (const method of ["CONNECT", "TRACE"]) {
      await assertRejects(() => guardedFetch(`${fake.url}/x`, { allow, method }), OutboundRefused, "not allowed");
    }
    assertEquals(armedDeadlines(), { pending: 0, ticking: false });
  } finally {
    fake.close();
  }
});
