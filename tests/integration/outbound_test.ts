// The guarded fetch every user-configured request goes through: each refusal, redirects checked
// at every hop, the size cap and the timeout. Local servers stand in for the internet; they are
// reachable only where the test allow-lists them explicitly.
import { assertEquals, assertRejects } from "@std/assert";
import {
  checkUrl,
  guardedFetch,
  isPublicAddress,
  OutboundRefused,
} from "../../supabase/functions/_shared/net/guarded_fetch.ts";
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
    // Not allow-listed, the same answer is judged where the connection is made, and refused there.
    await assertRejects(
      () => guardedFetch(`http://svc.test:${port}/ok`, { allow: [], resolve }),
      OutboundRefused,
      "loopback",
    );
    const rebinding = (host: string) => Promise.resolve(host === "mixed.test" ? ["93.184.216.34", "10.0.0.5"] : []);
    await assertRejects(
      () => guardedFetch(`http://mixed.test:${port}/ok`, { allow: [], resolve: rebinding }),
      OutboundRefused,
      "10.0.0.5, a private",
    );
    assertEquals([hosts.length, asked.length], [1, 2]);
  } finally {
    await fake.close();
  }
});
