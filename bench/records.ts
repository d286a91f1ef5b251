// Records through the full stack (HTTP → gateway → auth → RLS transaction → Postgres) against raw
// postgres.js running the equivalent SQL on the same table in the same run. The ratio that counts
// is against raw postgres.js behind a bare HTTP server (bench/raw_server.ts): both sides pay for
// HTTP and JSON, so it is what AITIZER itself adds; the two are measured in alternating windows
// (harness.ts measurePair). The bare driver is printed too, for scale.
//   get one by id ≥ 0.5×, list 50 filtered on an indexed column of 100,000 rows ≥ 0.4×,
//   create one ≥ 0.4×, batch-create 1,000 ≤ 3× the time of one raw multi-row insert,
//   a cursor page at row 90,000 costs what the first page costs (within 2×).
import { SignJWT } from "jose";
import {
  compare,
  type Comparison,
  JWT_SECRET,
  measure,
  measurePair,
  medianMs,
  rawDb,
  round,
  saveResults,
  startGateway,
  startRawServer,
} from "./harness.ts";

const ROWS = 100_000;
const CATEGORIES = 100;

export default async function bench() {
  const gw = await startGateway();
  const db = rawDb();
  const api = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${gw.url}/functions/v1/rest-api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => {
      const json = await r.json();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    });

  try {
    // A workspace, a table with an indexed select column and 100,000 rows.
    const [user] =
      await db`insert into auth.users (email) values (${`bench-${crypto.randomUUID()}@bench.local`}) returning id`;
    const jwt = await new SignJWT({ sub: user.id, role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
    const ws = await api("POST", "/workspaces", jwt, { name: "bench" });
    const token: string = ws.vibe_mcp_token.token;
    const options = Array.from({ length: CATEGORIES }, (_, i) => ({ id: `c${i}`, label: `Category ${i}` }));
    const table = await api("POST", "/tables", token, {
      name: "Bench",
      columns: [
        { name: "Name", type: "text" },
        { name: "Score", type: "number" },
        { name: "Category", type: "single_select", options, indexed: true },
      ],
    });
    const [name, score, category] = table.columns.map((c: { key: string }) => c.key);
    const t = db("public." + table.pg_table_name);
    await db`insert into ${t} (${db(name)}, ${db(score)}, ${db(category)})
             select 'row ' || g, g % 1000, 'c' || (g % ${CATEGORIES}) from generate_series(1, ${ROWS}) g`;
    await db`analyze ${t}`;
    const cols = db(["id", "created_at", "updated_at", "created_by", "created_by_token", name, score, category]);
    const path = `/tables/${table.id}/records`;
    const raw = await startRawServer(table.pg_table_name, [name, score, category]);
    const rawHttp = (method: string, p: string, body?: unknown) =>
      fetch(`${raw.url}${p}`, {
        method,
        headers: body ? { "content-type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      }).then((r) => r.json());
    const rid = (i: number) => 1 + ((i * 7919) % ROWS);
    const results: (Comparison | Record<string, unknown>)[] = [];

    // Get one record by id.
    const [getApi, getRaw] = await measurePair(
      { name: "GET record", op: (i) => api("GET", `${path}/${rid(i)}`, token) },
      { name: "raw select by id", op: (i) => rawHttp("GET", `/record/${rid(i)}`) },
    );
    const getDriver = await measure("driver select by id", (i) => db`select ${cols} from ${t} where id = ${rid(i)}`);
    results.push(compare("get one record by id", getApi, getRaw, 0.5, getDriver));

    // List 50 filtered on the indexed column.
    const cat = (i: number) => `c${i % CATEGORIES}`;
    const [listApi, listRaw] = await measurePair(
      { name: "GET records filtered", op: (i) => api("GET", `${path}?filter[Category]=${cat(i)}&limit=50`, token) },
      { name: "raw filtered select", op: (i) => rawHttp("GET", `/list?v=${cat(i)}`) },
    );
    const listDriver = await measure(
      "driver filtered select",
      (i) => db`select ${cols} from ${t} where ${db(category)} = ${cat(i)} order by id limit 51`,
    );
    results.push(compare("list 50 filtered (indexed, 100k rows)", listApi, listRaw, 0.4, listDriver));

    // Create one record.
    const [createApi, createRaw] = await measurePair(
      {
        name: "POST record",
        op: (i) => api("POST", path, token, { row_data: { Name: `new ${i}`, Score: i, Category: cat(i) } }),
      },
      { name: "raw insert", op: (i) => rawHttp("POST", "/record", { name: `new ${i}`, score: i, category: cat(i) }) },
    );
    const createDriver = await measure(
      "driver insert",
      (i) =>
        db`insert into ${t} (${db(name)}, ${db(score)}, ${db(category)}) values (${`new ${i}`}, ${i}, ${cat(i)})
         returning ${cols}`,
    );
    results.push(compare("create one record", createApi, createRaw, 0.4, createDriver));

    // Batch-create 1,000 rows vs one raw multi-row insert.
    const batch = (k: number) =>
      Array.from({ length: 1000 }, (_, i) => ({ Name: `b${k}-${i}`, Score: i, Category: cat(i) }));
    let k = 0;
    const batchMs = await medianMs(
      () => api("POST", `${path}/batch`, token, { records: batch(k++).map((row_data) => ({ row_data })) }),
      7,
    );
    const rawBatchMs = await medianMs(
      () =>
        db`insert into ${t} ${
          db(batch(k++).map((r) => ({ [name]: r.Name, [score]: r.Score, [category]: r.Category })))
        } returning id`,
      7,
    );
    const batchRatio = round(batchMs / rawBatchMs);
    console.log(
      `${
        "batch-create 1,000 rows".padEnd(44)
      } ${batchMs} ms vs raw ${rawBatchMs} ms  ratio ${batchRatio}x (target <= 3x) ${
        batchRatio <= 3 ? "ok" : "ABOVE TARGET"
      }`,
    );
    results.push({
      bench: "batch-create 1000",
      api_ms: batchMs,
      raw_ms: rawBatchMs,
      ratio: batchRatio,
      target: "<= 3x",
    });

    // Cursor paging: the page at row 90,000 against the first page.
    let cursor: string | null = null;
    for (let seen = 0; seen < 90_000; seen += 1000) {
      const page: { next_cursor: string } = await api(
        "GET",
        `${path}?limit=1000${cursor ? `&cursor=${cursor}` : ""}`,
        token,
      );
      cursor = page.next_cursor;
    }
    const first = await measure("first page", () => api("GET", `${path}?limit=50`, token), {
      concurrency: 4,
      seconds: 2,
    });
    const deep = await measure("page at row 90,000", () => api("GET", `${path}?limit=50&cursor=${cursor}`, token), {
      concurrency: 4,
      seconds: 2,
    });
    const offset = await measure("offset 90,000", () => api("GET", `${path}?limit=50&offset=90000`, token), {
      concurrency: 4,
      seconds: 2,
    });
    const depthRatio = round(first.rps / deep.rps);
    console.log(
      `${
        "cursor page at row 90,000 vs first page".padEnd(44)
      } ${deep.rps} vs ${first.rps} req/s  cost ${depthRatio}x (target <= 2x) ${
        depthRatio <= 2 ? "ok" : "ABOVE TARGET"
      }  (offset: ${offset.rps} req/s)`,
    );
    results.push({ bench: "cursor depth 90k", first, deep, offset, cost_ratio: depthRatio, target: "<= 2x" });

    await raw.stop();
    await saveResults("records", results);
    return results;
  } finally {
    await db.end();
    await gw.stop();
  }
}

if (import.meta.main) await bench();
