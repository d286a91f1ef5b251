// The baseline: the same SQL through raw postgres.js behind a bare Deno.serve, with no framework,
// auth, transaction, RLS or validation. Started by the benchmarks as its own process, like the
// gateway, so both sides pay the same HTTP and JSON costs and the ratio is what AITIZER adds.
import postgres from "postgres";

const db = postgres(Deno.env.get("DATABASE_URL")!, {
  max: 10,
  onnotice: () => {},
  types: { bigint: { to: 20, from: [20], serialize: (x: number) => x.toString(), parse: (x: string) => Number(x) } },
});
const table = db("public." + Deno.env.get("BENCH_TABLE")!);
const [name, score, category] = Deno.env.get("BENCH_COLUMNS")!.split(",");
const cols = db(["id", "created_at", "updated_at", "created_by", "created_by_token", name, score, category]);

Deno.serve({ port: Number(Deno.env.get("PORT")), onListen: () => console.log("raw server up") }, async (req) => {
  const url = new URL(req.url);
  const [, kind, arg] = url.pathname.split("/");
  if (kind === "record" && req.method === "GET") {
    const [row] = await db`select ${cols} from ${table} where id = ${Number(arg)}`;
    return Response.json(row);
  }
  if (kind === "list") {
    const rows = await db`select ${cols} from ${table} where ${db(category)} = ${url.searchParams.get("v")}
                          order by id limit 51`;
    return Response.json({ records: rows.slice(0, 50) });
  }
  if (kind === "record" && req.method === "POST") {
    const body = await req.json();
    const [row] = await db`insert into ${table} (${db(name)}, ${db(score)}, ${db(category)})
                           values (${body.name}, ${body.score}, ${body.category}) returning ${cols}`;
    return Response.json(row, { status: 201 });
  }
  return new Response("not found", { status: 404 });
});
