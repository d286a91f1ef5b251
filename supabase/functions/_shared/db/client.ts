// The one Postgres pool of a function instance, and the transaction every request runs in.
import postgres from "postgres";
import { config } from "../config.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

/** Connects as the database owner; requests drop to `authenticated` inside their transaction. */
export const sql: Sql = postgres(config.databaseUrl, {
  max: config.dbPoolMax,
  prepare: config.dbPrepare,
  idle_timeout: 60,
  connect_timeout: 10,
  onnotice: () => {},
  connection: { application_name: "aitizer-functions" },
  types: {
    // bigint ids come back as numbers (ids stay far below 2^53).
    bigint: { to: 20, from: [20], serialize: (x: number | bigint) => x.toString(), parse: (x: string) => Number(x) },
    // Calendar dates stay 'YYYY-MM-DD' text: a Date would shift with the process's time zone.
    dateonly: { to: 1082, from: [1082], serialize: (x: string) => x, parse: (x: string) => x },
  },
});

/** The claims a transaction runs under: what auth.uid(), auth.jwt() and our helpers read. */
export interface RequestClaims {
  sub: string | null;
  role: "authenticated";
  email?: string;
  aitizer_token_id?: number;
  aitizer_workspace_id?: number;
}

/**
 * Runs `fn` in one transaction as the `authenticated` role with the principal's claims, so RLS
 * applies to every statement. BEGIN and the claims are sent without waiting, pipelined in front of
 * the first query of `fn`: two round trips fewer than `sql.begin` plus a separate set_config on
 * every request. A failure anywhere rolls back; the connection goes back to the pool either way.
 */
export async function asPrincipal<T>(claims: RequestClaims, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const conn = await sql.reserve();
  const begin = conn`begin`.execute();
  const setup = conn`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${
    JSON.stringify(claims)
  }, true)`.execute();
  try {
    const result = await fn(conn as unknown as Tx);
    await begin;
    await setup;
    await conn`commit`;
    return result;
  } catch (e) {
    await Promise.allSettled([begin, setup]); // fn's own error is the one worth reporting
    await conn`rollback`.catch(() => {});
    throw e;
  } finally {
    conn.release();
  }
}

/**
 * Runs `fn` with the privileges of the connection's own role (the owner of the data tables), for
 * the DDL behind a schema change the caller was already authorised for; then drops back.
 */
export async function asOwner<T>(tx: Tx, fn: () => Promise<T>): Promise<T> {
  await tx`select set_config('role', 'none', true)`;
  try {
    return await fn();
  } finally {
    await tx`select set_config('role', 'authenticated', true)`;
  }
}
