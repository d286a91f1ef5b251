// The one-statement paths of GET /records/:id and the create of one record, run in this process
// against the test database: they answer when the caller may and the cached metadata is
// current, and hand everything else to the checked path, which gives the precise answer. A fast
// path that always handed over would pass every HTTP test (the checked path answers the same), so
// this one counts what answered.
import { assertEquals, assertRejects } from "@std/assert";
import { authenticate } from "../../supabase/functions/_shared/auth/principal.ts";
import { HttpError } from "../../supabase/functions/_shared/http/errors.ts";
import {
  createRecord,
  getRecord,
  oneStatement,
  readStatement,
} from "../../supabase/functions/_shared/records/service.ts";
import { claimsText } from "../../supabase/functions/_shared/auth/principal.ts";
import { sql } from "../../supabase/functions/_shared/db/client.ts";
import { peekTableVersion } from "../../supabase/functions/_shared/tables/meta.ts";
import { api, createToken, createWorkspace, db, test } from "../_helpers.ts";

const principalOf = (token: string) => authenticate(new Headers({ authorization: `Bearer ${token}` }));

/** What `fn` left in the counters. */
async function counted(fn: () => Promise<unknown>) {
  const before = { ...oneStatement };
  await fn().catch((e) => e);
  return { answered: oneStatement.answered - before.answered, handedOver: oneStatement.handedOver - before.handedOver };
}

test("one statement answers reads and creates, and hands refusals and stale metadata to the checked path", async () => {
  const ws = await createWorkspace();
  const table = (await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: { name: "Fast", columns: [{ name: "Name", type: "text" }] },
  })).body;
  const reader = await createToken(ws, "rest_api", { permissions: [{ table_id: table.id, can_read_all: true }] });
  const owner = await principalOf(ws.vibeToken);
  const readOnly = await principalOf(reader.token);

  // This process has not seen the table yet: the checked path reads it and caches its metadata.
  let created!: { record: { id: number } };
  assertEquals(
    await counted(async () => created = await createRecord(owner, table.id, { Name: "first" })),
    { answered: 0, handedOver: 0 },
  );
  assertEquals(await counted(() => createRecord(owner, table.id, { Name: "second" })), { answered: 1, handedOver: 0 });
  const read = await getRecord(readOnly, table.id, created.record.id);
  assertEquals(read.row_data, { [table.columns[0].key]: "first" });
  assertEquals(await counted(() => getRecord(readOnly, table.id, created.record.id)), { answered: 1, handedOver: 0 });
  // A record that is not there is a 404 from the one statement.
  await assertRejects(() => getRecord(readOnly, table.id, 987654321), HttpError, "record 987654321");

  // A read-only token may not create: the one statement refuses, the checked path says 403.
  assertEquals(await counted(() => createRecord(readOnly, table.id, { Name: "no" })), { answered: 0, handedOver: 1 });
  const refused = await createRecord(readOnly, table.id, { Name: "no" }).catch((e) => e);
  assertEquals([refused instanceof HttpError, (refused as HttpError).status], [true, 403]);
  assertEquals((await db`select count(*)::int as n from ${db("public." + table.pg_table_name)}`)[0].n, 2);

  // A token revoked after it was resolved: the one statement refuses, and the checked path
  // answers 404 for a table it can no longer see.
  await db`update public.api_tokens set revoked_at = now() where id = ${reader.id}`;
  assertEquals(await counted(() => getRecord(readOnly, table.id, created.record.id)), { answered: 0, handedOver: 1 });
  await assertRejects(() => getRecord(readOnly, table.id, created.record.id), HttpError, `table ${table.id}`);

  // A schema change moves the version: the cached statement hands over once, the checked path
  // refreshes the cache, and the next request is one statement again, with the new column.
  const added = (await api("POST", `/rest-api/tables/${table.id}/columns`, {
    token: ws.vibeToken,
    body: { name: "Extra", type: "number" },
  })).body;
  assertEquals(await counted(() => getRecord(owner, table.id, created.record.id)), { answered: 0, handedOver: 1 });
  assertEquals(await counted(() => getRecord(owner, table.id, created.record.id)), { answered: 1, handedOver: 0 });
  let fresh!: { record: { row_data: Record<string, unknown> } };
  assertEquals(
    await counted(async () => fresh = await createRecord(owner, table.id, { Name: "third", Extra: 3 })),
    { answered: 1, handedOver: 0 },
  );
  assertEquals(fresh.record.row_data[added.key], 3);
});

test("the one statement reads nothing on a session that is not 'authenticated'", async () => {
  // A deployment whose pooler drops the startup option would run it as the owner, whom RLS does
  // not bind: the statement must then refuse before the check and the row, not read past them.
  const ws = await createWorkspace();
  const table = (await api("POST", "/rest-api/tables", {
    token: ws.vibeToken,
    body: { name: "Owner", columns: [{ name: "Name", type: "text" }] },
  })).body;
  const owner = await principalOf(ws.vibeToken);
  const { record } = await createRecord(owner, table.id, { Name: "secret" });
  await getRecord(owner, table.id, record.id); // caches the metadata
  const cached = peekTableVersion(table.id)!;
  const statement = readStatement(cached.meta, undefined)!;
  const [asOwner] = await sql.unsafe(statement.text, [claimsText(owner), table.id, cached.version, record.id]);
  assertEquals([asOwner.principal, asOwner.ok ?? false, asOwner.id], [false, false, null]);
});
