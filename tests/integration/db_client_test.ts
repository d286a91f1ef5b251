// The transaction helper's guard: a read-only transaction pipelines its COMMIT, so a statement
// sent after it would run outside the transaction as the connection's own role, without RLS.
// The helper must refuse it rather than run it.
import { assertEquals, assertRejects } from "@std/assert";
import { asPrincipal } from "../../supabase/functions/_shared/db/client.ts";
import { test } from "../_helpers.ts";

const claims = { sub: null, role: "authenticated" as const };

test("read-only transactions run as authenticated and refuse statements sent after the COMMIT", async () => {
  const inside = await asPrincipal(claims, async (tx) => {
    const [row] = await tx<{ who: string; ro: string }[]>`
      select current_user as who, current_setting('transaction_read_only') as ro`.execute();
    return row;
  }, { readOnly: true });
  assertEquals(inside, { who: "authenticated", ro: "on" });

  // A bare await sends the query a microtask after the COMMIT was queued.
  await assertRejects(
    () => asPrincipal(claims, async (tx) => await tx`select current_user`, { readOnly: true }),
    Error,
    "after the transaction's pipelined COMMIT",
  );
  // So is a statement built after the first await.
  await assertRejects(
    () =>
      asPrincipal(claims, async (tx) => {
        await tx`select 1`.execute();
        return await tx`select current_user`.execute();
      }, { readOnly: true }),
    Error,
    "pipelined COMMIT",
  );
});
