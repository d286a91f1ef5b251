// The two ways a request reaches Postgres without a transaction of its own round trips:
// - the engine's pipelined transaction sends its COMMIT with its statements, so a statement sent
//   after it would run outside the transaction: the helper must refuse it rather than run it;
// - the principal pool's sessions are `authenticated`, and a one-statement request's claims last
//   for that statement only: the next statement on the same connection has none.
// And timestamps read as the ISO 8601 text a Date prints, built without one.
import { assertEquals, assertRejects } from "@std/assert";
import {
  claimsSource,
  pipelinedAsOwner,
  principalSql,
  type Sql,
  sql,
  type Tx,
} from "../../supabase/functions/_shared/db/client.ts";
import { test } from "../_helpers.ts";

test("pipelined transactions refuse statements sent after the COMMIT", async () => {
  const inside = await pipelinedAsOwner(async (tx) => {
    const [row] = await tx<{ open: boolean }[]>`select pg_current_xact_id_if_assigned() is null as open`.execute();
    return row;
  });
  assertEquals(inside, { open: true });

  // A bare await sends the query a microtask after the COMMIT was queued.
  await assertRejects(
    () => pipelinedAsOwner(async (tx) => await tx`select current_user`),
    Error,
    "after the transaction's pipelined COMMIT",
  );
  // So is a statement built after the first await.
  await assertRejects(
    () =>
      pipelinedAsOwner(async (tx) => {
        await tx`select 1`.execute();
        return await tx`select current_user`.execute();
      }),
    Error,
    "pipelined COMMIT",
  );
});

test("the principal pool runs as authenticated and a statement's claims end with it", async () => {
  const claims = JSON.stringify({ sub: null, role: "authenticated", aitizer_token_id: 42 });
  const conn = await principalSql.reserve();
  try {
    const [one] = await conn.unsafe<{ principal: boolean; who: string; token: number }[]>(
      `select s.principal, current_user as who, public.current_token_id() as token from ${claimsSource("$1")}`,
      [claims],
    );
    assertEquals({ ...one }, { principal: true, who: "authenticated", token: 42 });
    // The same session, next statement: still authenticated, no claims left behind.
    const [next] = await conn<{ who: string; claims: string | null; token: number | null }[]>`
      select current_user as who, nullif(current_setting('request.jwt.claims', true), '') as claims,
             public.current_token_id() as token`;
    assertEquals({ ...next }, { who: "authenticated", claims: null, token: null });
  } finally {
    conn.release();
  }
});

test("timestamps read as the ISO text a Date would print, whatever the precision, year or offset", async () => {
  const values = [
    "2026-11-30 07:44:02.441735+00",
    "2026-11-30 07:44:02+00",
    "2026-11-30 07:44:02.4+00",
    "0042-01-02 03:04:05.06+00",
  ];
  const expected = [
    "2026-11-30T07:44:02.441Z",
    "2026-11-30T07:44:02.000Z",
    "2026-11-30T07:44:02.400Z",
    "0042-01-02T03:04:05.060Z",
  ];
  const read = async (tx: Sql | Tx) =>
    (await tx<{ t: string }[]>`select unnest(${values}::text[])::timestamptz as t`).map((r) => r.t);
  assertEquals(await read(sql), expected);
  // A session in another time zone prints other offsets ('+05:30', '-03'): the same instants. (Our
  // sessions run in UTC; before 1900 a zone's offset may have seconds, which no Date reads.)
  for (const zone of ["Asia/Kolkata", "America/Sao_Paulo"]) {
    assertEquals(
      await sql.begin(async (tx) => {
        await tx`select set_config('TimeZone', ${zone}, true)`;
        return (await read(tx)).slice(0, 3);
      }),
      expected.slice(0, 3),
    );
  }
  const [{ t }] = await sql<{ t: string }[]>`select 'infinity'::timestamptz as t`;
  assertEquals(t, "infinity");
});
