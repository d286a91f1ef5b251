// MCP tools/call against the equivalent REST calls, both through the same gateway in the same run:
//   tools/call get_record ≥ 0.8× the req/s of GET /records/:id,
//   tools/call create_record ≥ 0.8× the req/s of POST /records.
// Calls are raw JSON-RPC posts (what an MCP client sends after its handshake; stateless server).
import { SignJWT } from "jose";
import { compare, type Comparison, JWT_SECRET, measurePair, rawDb, saveResults, startGateway } from "./harness.ts";

export default async function bench() {
  const gw = await startGateway();
  const db = rawDb(2);
  const rest = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${gw.url}/functions/v1/rest-api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => {
      const json = await r.json();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    });
  let rpcId = 0;
  const mcp = (token: string, name: string, args: unknown) =>
    fetch(`${gw.url}/functions/v1/mcp-server`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name, arguments: args } }),
    }).then(async (r) => {
      const json = await r.json();
      if (!r.ok || json.error || json.result?.isError) throw new Error(`${name}: ${JSON.stringify(json)}`);
      return json;
    });

  try {
    const [user] =
      await db`insert into auth.users (email) values (${`bench-${crypto.randomUUID()}@bench.local`}) returning id`;
    const jwt = await new SignJWT({ sub: user.id, role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
    const ws = await rest("POST", "/workspaces", jwt, { name: "bench-mcp" });
    const token: string = ws.vibe_mcp_token.token;
    const table = await rest("POST", "/tables", token, {
      name: "Bench",
      columns: [{ name: "Name", type: "text" }, { name: "Score", type: "number" }],
    });
    const t = db("public." + table.pg_table_name);
    const [name, score] = table.columns.map((c: { key: string }) => c.key);
    await db`insert into ${t} (${db(name)}, ${db(score)}) select 'row ' || g, g from generate_series(1, 1000) g`;
    const rid = (i: number) => 1 + ((i * 7919) % 1000);
    const path = `/tables/${table.id}/records`;
    const results: Comparison[] = [];

    const [getMcp, getRest] = await measurePair(
      { name: "tools/call get_record", op: (i) => mcp(token, "get_record", { table_id: table.id, record_id: rid(i) }) },
      { name: "GET record", op: (i) => rest("GET", `${path}/${rid(i)}`, token) },
    );
    results.push(compare("MCP get_record vs REST GET", getMcp, getRest, 0.8));

    const [createMcp, createRest] = await measurePair(
      {
        name: "tools/call create_record",
        op: (i) => mcp(token, "create_record", { table_id: table.id, fields: { Name: `m${i}`, Score: i } }),
      },
      { name: "POST record", op: (i) => rest("POST", path, token, { row_data: { Name: `r${i}`, Score: i } }) },
    );
    results.push(compare("MCP create_record vs REST POST", createMcp, createRest, 0.8));

    await saveResults("mcp", results);
    return results;
  } finally {
    await db.end();
    await gw.stop();
  }
}

if (import.meta.main) await bench();
