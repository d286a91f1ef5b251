// sql_query as a tool: the checking and rewriting live in ../sql.ts.
import { z } from "zod";
import { runSql, SQL_ROW_CAP, SQL_TIMEOUT_MS } from "../sql.ts";
import { READ, tool } from "../tool.ts";

export const sqlTools = [
  tool({
    name: "sql_query",
    scope: "data",
    title: "Query with SQL",
    description: "One read-only SELECT over this workspace's tables, written with their names and column names " +
      `(double-quote names with spaces or capitals: select "Name", count(*) from "Deals" group by 1). Up to ` +
      `${SQL_ROW_CAP} rows, ${SQL_TIMEOUT_MS / 1000} s. Joins, CTEs, aggregates and window functions work; ` +
      "writes, DDL, several statements and functions with side effects are refused. Relation columns hold " +
      "arrays of record ids; system columns are id, created_at, updated_at, created_by.",
    input: { query: z.string().min(1).max(20_000).describe("The SELECT statement.") },
    annotations: READ,
    async run(ctx, a) {
      const result = await runSql(ctx.principal, a.query);
      const notes = result.truncated ? [`Only the first ${SQL_ROW_CAP} rows are shown.`] : undefined;
      return { value: result, untrusted: true, notes };
    },
  }),
];
