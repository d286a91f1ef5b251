// A data table's insert trigger is on exactly while the table has computed or action columns
// (migrations 0019 and 0025), also when two transactions change those columns at once: the second
// waits for the first and decides on what it committed.
import { assert, assertEquals } from "@std/assert";
import postgres from "postgres";
import { api, createWorkspace, db, DB_URL, test, until } from "../_helpers.ts";

test("two transactions removing a table's two action columns at once leave its insert trigger off", async () => {
  const ws = await createWorkspace();
  const created = await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: {
      name: "Two actions",
      columns: [
        { name: "Name", type: "text" },
        { name: "X", type: "http_request", httpUrl: "https://example.com/x", executeOnCreate: false },
        { name: "Y", type: "http_request", httpUrl: "https://example.com/y", executeOnCreate: false },
      ],
    },
  });
  assertEquals(created.status, 201);
  const table = created.body;
  const column = (n: string) => table.columns.find((c: { name: string }) => c.name === n).id as number;
  const triggerOn = async () =>
    (await db`select tgenabled <> 'D' as on from pg_catalog.pg_trigger
              where tgrelid = ${`public.${table.pg_table_name}`}::regclass and tgname = 'enqueue_on_insert'`)[0].on;
  assert(await triggerOn(), "on while the table has action columns");

  const a = postgres(DB_URL, { max: 1, onnotice: () => {} });
  const b = postgres(DB_URL, { max: 1, onnotice: () => {} });
  try {
    const [{ pid }] = await b`select pg_catalog.pg_backend_pid() as pid`;
    await a`begin`;
    await a`delete from public.app_columns where id = ${column("X")}`;
    await b`begin`;
    const second = b`delete from public.app_columns where id = ${column("Y")}`.execute();
    // The second change is under way, and waits for the first.
    await until("the second transaction to wait for a lock", async () => {
      const [s] = await db`select wait_event_type from pg_catalog.pg_stat_activity where pid = ${pid}`;
      return s?.wait_event_type === "Lock";
    });
    await a`commit`;
    await second;
    await b`commit`;
    assertEquals(await triggerOn(), false, "off once neither action column is left");
  } finally {
    await a.end();
    await b.end();
  }
});
