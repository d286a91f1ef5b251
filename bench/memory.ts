// Memory stays flat while listing: a client walks a 100,000-row table page by page (cursor, 1,000
// wide rows a page), four times over, and the gateway's resident memory is sampled after every
// page. The first two walks warm caches and the JIT up and let V8 size its heap (it collects
// lazily, and its heap was still growing through the second walk: a first walk that allocates less
// only reaches the plateau later); if anything kept more than a page, every walk would add as much
// again. Flat: the memory after the fourth walk is within 32 MB of the memory after the second.
import { SignJWT } from "jose";
import { JWT_SECRET, rawDb, round, saveResults, startGateway } from "./harness.ts";

const ROWS = 100_000;
const PAGE = 1_000;
const PORT = 54394;
const MB = 1024 * 1024;
const WALKS = 4;
const WARM_WALKS = 2;

/** Resident set size of a process, from /proc. */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

export default async function bench() {
  const gateway = await startGateway(PORT);
  if (gateway.pid === null) {
    console.log("\nmemory while listing: skipped (needs a gateway started here, not AITIZER_URL)");
    return;
  }
  const pid = gateway.pid;
  const url = `${gateway.url}/functions/v1/rest-api`;
  const db = rawDb();
  try {
    const api = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const [user] = await db`insert into auth.users (email) values (${`mem-${crypto.randomUUID()}@bench.local`})
                            returning id`;
    const jwt = await new SignJWT({ sub: user.id, role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
    const ws = await api("POST", "/workspaces", jwt, { name: "memory bench" });
    const token: string = ws.vibe_mcp_token.token;
    const table = await api("POST", "/tables", token, {
      name: "Wide",
      columns: [{ name: "Body", type: "text" }, { name: "Score", type: "number" }],
    });
    const [body, score] = table.columns.map((c: { key: string }) => c.key);
    await db`insert into ${db("public." + table.pg_table_name)} (${db(body)}, ${db(score)})
             select repeat(md5(g::text), 16), g from generate_series(1, ${ROWS}) g`;
    await db`analyze ${db("public." + table.pg_table_name)}`;

    const before = await rss(pid);
    const samples: number[] = [];
    let cursor: string | null = null;
    let rows = 0;
    const afterWalk: number[] = [];
    for (let walk = 0; walk < WALKS; walk++) {
      do {
        const page: { records: unknown[]; next_cursor: string | null } = await api(
          "GET",
          `/tables/${table.id}/records?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ""}`,
          token,
        );
        rows += page.records.length;
        cursor = page.next_cursor;
        samples.push(await rss(pid));
      } while (cursor);
      afterWalk.push(samples[samples.length - 1]);
    }

    const growth = (afterWalk[WALKS - 1] - afterWalk[WARM_WALKS - 1]) / MB;
    const result = {
      bench: "memory while listing",
      rows,
      pages: samples.length,
      rss_before_mb: round(before / MB),
      rss_after_each_walk_mb: afterWalk.map((x) => round(x / MB)),
      rss_peak_mb: round(Math.max(...samples) / MB),
      growth_after_warm_up_mb: round(growth),
      target: `< 32 MB more after walk ${WALKS} than after walk ${WARM_WALKS} (a page is ~0.6 MB of JSON)`,
      pass: growth < 32,
    };
    console.log(
      `\nmemory while listing: ${WALKS} walks of ${ROWS} rows in pages of ${PAGE}; gateway RSS ` +
        `${result.rss_before_mb} MB before, ${result.rss_after_each_walk_mb.join(" / ")} MB after each walk ` +
        `(peak ${result.rss_peak_mb} MB): ${result.growth_after_warm_up_mb} MB over the last ${
          WALKS - WARM_WALKS
        } walks ` +
        `${result.pass ? "ok (flat)" : "NOT FLAT"}`,
    );
    await saveResults("memory", [result]);
  } finally {
    await gateway.stop();
    await db.end();
  }
}

if (import.meta.main) await bench();
