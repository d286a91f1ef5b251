import { assertEquals, assertMatch } from "@std/assert";
import { api, auditRow, test } from "../_helpers.ts";

test("health reports the database and the migration version without auth", async () => {
  const res = await api("GET", "/rest-api/health");
  assertEquals(res.status, 200);
  assertEquals(res.body.database, "reachable");
  assertMatch(res.body.migration_version, /^\d{14}$/);
  const row = await auditRow(res.headers.get("x-request-id"));
  assertEquals(row.endpoint, "/rest-api/health");
  assertEquals(row.status_code, 200);
});
