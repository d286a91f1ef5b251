// The one Postgres pool of a function instance, and the transaction every request runs in.
import postgres from "postgres";
import { config } from "../config.ts";
import { log } from "../log.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

const options = {
  prepare: config.dbPrepare,
  connect_timeout: 10,
  onnotice: () => {},
  types: {
    // bigint ids come back as numbers (ids stay far below 2^53).
    bigint: { to: 20, from: [20], serialize: (x: number | bigint) => x.toString(), parse: (x: string) => Number(x) },
    // Calendar dates stay 'YYYY-MM-DD' text: a Date would shift with the process's time zone.
    dateonly: { to: 1082, from: [1082], serialize: (x: string) => x, parse: (x: string) => x },
    // Timestamps read as the ISO 8601 text a Date would print ('2026-11-30T07:44:02.441Z'), built
    // from Postgres's own text: sessions run in UTC, so that text ends in '+00'. No Date on the way
    // (parsing one and printing it again cost more than the rest of a large page's JSON). Other
    // offsets, or years outside 0000-9999, go through a Date; what no Date can hold stays as sent.
    timestamptz: {
      to: 1184,
      from: [1184],
      // Text goes as it is: Postgres reads ISO 8601 itself (a Date would take '0042-…' for 2042).
      serialize: (x: Date | string) => (x instanceof Date ? x.toISOString() : x),
      parse: (x: string) => {
        const n = x.length;
        if (n >= 22 && x.charCodeAt(4) === 45 && x.charCodeAt(10) === 32 && x.endsWith("+00")) {
          const fraction = n > 22 ? x.slice(20, n - 3) : "";
          return `${x.slice(0, 10)}T${x.slice(11, 19)}.${(fraction + "000").slice(0, 3)}Z`;
        }
        const sign = x.charCodeAt(n - 3); // '+05' → '+05:00'
        const date = new Date((sign === 43 || sign === 45 ? x + ":00" : x).replace(" ", "T"));
        return Number.isNaN(date.getTime()) ? x : date.toISOString();
      },
    },
  },
};

/** Connects as the database owner; requests drop to `authenticated` inside their transaction. */
export const sql: Sql = postgres(config.databaseUrl, {
  ...options,
  max: config.dbPoolMax,
  idle_timeout: 60,
  connection: { application_name: "aitizer-functions", TimeZone: "UTC" },
});

/**
 * A second pool whose sessions start as `authenticated` (startup option `-c role=authenticated`),
 * for requests that are one statement: the statement sets the caller's claims itself (see
 * `claimsSource`), in the implicit transaction it runs in, so BEGIN, the claims statement and
 * COMMIT are not needed. Every session is `authenticated`, so RLS applies to everything sent here,
 * and a statement that did not set claims sees nothing.
 */
export const principalSql: Sql = postgres(config.databaseUrl, {
  ...options,
  max: config.dbPoolMax,
  // No idle timeout: postgres.js restarts that timer after every query, and this pool serves the
  // hottest requests. Its connections close with the instance (or after their lifetime).
  connection: { application_name: "aitizer-principal", TimeZone: "UTC", options: "-c role=authenticated" },
});

/**
 * Whether principalSql's sessions are `authenticated`. A deployment whose connections drop the
 * startup option (some poolers do) shows it on the first one-statement request, which then ran
 * nothing; from there on every request takes asPrincipal's transaction instead.
 */
export const principalPool = {
  usable: true,
  refused() {
    if (this.usable) log.error("principal pool sessions are not 'authenticated'; one-statement requests are off");
    this.usable = false;
  },
};

/**
 * The first item of the FROM list of a one-statement request on `principalSql`: one row `s` that
 * sets the claims (the text parameter `claims`) for the rest of the statement and says whether the
 * session really is `authenticated` (`s.principal`). Everything that reads the claims must depend
 * on `s` laterally (take `s.principal` in an argument or condition), so it runs after it. The
 * setting is transaction-local: it ends with the statement's implicit transaction, and each
 * statement postgres.js sends ends with its own Sync.
 */
export const claimsSource = (claims: string) =>
  `(select current_user operator(pg_catalog.=) 'authenticated' as principal,
           pg_catalog.set_config('request.jwt.claims', ${claims}, true) as claims) s`;

/**
 * A client of one connection that stays open (no idle timeout, no lifetime limit), for session
 * state such as advisory locks. Not a reserved connection of the pool: a reserved connection
 * whose backend went away crashes the process on its next write (postgres.js#1208), while this
 * one reconnects; `onclose` says the session, and whatever it held, is gone.
 */
export function sessionClient(name: string, onclose: () => void): Sql {
  return postgres(config.databaseUrl, {
    ...options,
    max: 1,
    idle_timeout: undefined,
    max_lifetime: null,
    onclose,
    connection: { application_name: name, TimeZone: "UTC" },
  });
}

/** The claims a transaction runs under: what auth.uid(), auth.jwt() and our helpers read. */
export interface RequestClaims {
  sub: string | null;
  role: "authenticated";
  email?: string;
  aitizer_token_id?: number;
  aitizer_workspace_id?: number;
}

/**
 * Runs `fn` in one transaction as the `authenticated` role with the principal's claims (`claimsText`), so RLS
 * applies to every statement. BEGIN and the claims are sent without waiting, pipelined in front of
 * the first query of `fn`: two round trips fewer than `sql.begin` plus a separate set_config on
 * every request. A failure anywhere rolls back; the connection goes back to the pool either way.
 * (Requests that are one statement skip the transaction: `principalSql`.)
 */
export async function asPrincipal<T>(claims: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const conn = await sql.reserve();
  // Prepared statements, so Postgres neither parses nor plans them again on every request (a
  // simple-protocol message with the claims inlined cost ~50 µs more of Postgres per request).
  const begin = Promise.all([
    conn`begin`.execute(),
    conn`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`
      .execute(),
  ]);
  try {
    const result = await fn(conn as unknown as Tx);
    await begin;
    await conn`commit`.simple();
    return result;
  } catch (e) {
    await Promise.allSettled([begin]); // fn's own error is the one worth reporting
    await conn`rollback`.simple().catch(() => {});
    throw e;
  } finally {
    conn.release();
  }
}

/**
 * Runs `fn` in one transaction as the connection's own role, with BEGIN, `fn`'s statements and
 * COMMIT sent together: one round trip. `fn` must send every statement before its first await
 * (call `.execute()`; a bare `await` sends a query one microtask too late), and each statement must
 * carry its own checks, since nothing `fn` decides after seeing results can roll it back; a failed
 * statement turns the COMMIT into a rollback, reported as an error. For the engine's group commit,
 * which writes as the system.
 */
export async function pipelinedAsOwner<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
  const conn = await sql.reserve();
  try {
    const begin = conn`begin`.execute();
    let open = true;
    const result = fn(untilClosed(conn, () => open));
    const commit = conn`commit`.simple().execute();
    open = false;
    await Promise.allSettled([begin, result, commit]);
    await begin;
    const value = await result;
    // COMMIT of a transaction a statement aborted answers ROLLBACK: nothing was written.
    const done = await commit;
    if (done.command !== "COMMIT") throw new Error(`pipelined transaction ended with ${done.command}`);
    return value;
  } finally {
    conn.release();
  }
}

/**
 * The connection, refusing to send a statement once the pipelined COMMIT is on its way: it would
 * run outside the transaction, as the connection's own role, without RLS.
 */
function untilClosed(conn: postgres.ReservedSql, isOpen: () => boolean): Tx {
  const late = () => new Error("a statement was sent after the transaction's pipelined COMMIT");
  return new Proxy(conn, {
    apply(target, self, args) {
      const query = Reflect.apply(target, self, args);
      if (!Array.isArray(args[0]) || !("raw" in args[0])) return query; // an identifier or helper
      if (!isOpen()) throw late();
      let sent = false;
      const { execute, then } = query;
      query.execute = function () {
        if (!sent && !isOpen()) throw late();
        sent = true;
        return execute.call(this);
      };
      query.then = function (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) {
        if (!sent && !isOpen()) return Promise.reject(late()).then(onFulfilled, onRejected);
        sent = true;
        return then.call(this, onFulfilled, onRejected);
      };
      return query;
    },
  }) as unknown as Tx;
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
