// Waking the workers (migration 0024): a write that queues a job NOTIFYs aitizer_jobs only while a
// worker listens (a row in engine_listeners, which the gateway's worker keeps). Where none listens,
// writes skip the notification, and its commit-time lock. Notifications from separate
// transactions arrive in commit order, so a sentinel sent afterwards shows what was (not) sent.
import { assert, assertEquals } from "@std/assert";
import postgres from "postgres";
import { api, createWorkspace, db, DB_URL, test, until } from "../_helpers.ts";

test("a write notifies the workers only while one listens; its job runs either way", async () => {
  const ws = await createWorkspace();
  const created = await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: {
      name: "Notify",
      columns: [
        { name: "Name", type: "text" },
        { name: "Call", type: "http_request", httpUrl: "https://example.com/x", executeOnCreate: false },
      ],
    },
  });
  assertEquals(created.status, 201);
  const table = created.body;
  const name = table.columns.find((c: { name: string }) => c.name === "Name");
  const insert = (sql: postgres.Sql | postgres.TransactionSql, value: string) =>
    sql`insert into ${sql(`public.${table.pg_table_name}`)} (${sql(`col_${name.id}`)}) values (${value})
        returning id`;

  const heard: string[] = [];
  const listening = postgres(DB_URL, { max: 1, onnotice: () => {} });
  try {
    // Only this table's notifications and the sentinels: the gateway's worker and other writes
    // may notify the channel meanwhile (pings, other tables' jobs).
    await listening.listen("aitizer_jobs", (payload) => {
      if (payload === String(table.id) || payload.startsWith("sentinel-")) heard.push(payload);
    });
    const sentinel = async (tag: string) => {
      await db`select pg_catalog.pg_notify('aitizer_jobs', ${tag})`;
      await until(`the ${tag} notification`, () => Promise.resolve(heard.includes(tag)));
      return heard.indexOf(tag);
    };
    const start = await sentinel("sentinel-0");

    // The gateway's worker listens: an insert notifies, with its table's id.
    const [{ n }] = await db`select count(*)::int as n from public.engine_listeners`;
    assert(n > 0, "the gateway's worker is registered");
    const [a] = await insert(db, "a");
    const first = await sentinel("sentinel-1");
    assertEquals(heard.slice(start + 1, first), [String(table.id)]);

    // No listener registered (removed and put back inside the writing transaction, so the worker
    // never misses one): the insert's trigger sends nothing.
    const [b] = await db.begin(async (tx) => {
      const saved = await tx<{ name: string; seen_at: string }[]>`
        delete from public.engine_listeners returning name, seen_at`;
      const row = await insert(tx, "b");
      for (const l of saved) {
        await tx`insert into public.engine_listeners (name, seen_at) values (${l.name}, ${l.seen_at})
                 on conflict (name) do nothing`;
      }
      return row;
    });
    const second = await sentinel("sentinel-2");
    assertEquals(heard.slice(first + 1, second), [], "no notification for the second insert");

    // Both jobs run: the second is found by the worker's poll.
    await until("both records' pipelines", async () => {
      const [{ runs }] = await db`select count(distinct record_id)::int as runs from public.column_executions
                                 where table_id = ${table.id} and record_id = any(${[a.id, b.id]})`;
      return runs === 2;
    });
  } finally {
    await listening.end();
  }
});
