// The audit log (api_usage_logs): one row per call, buffered in memory and written in batches so
// no request waits for it. The buffer is bounded; flushAudit() drains it on shutdown.
import { config } from "./config.ts";
import { sql } from "./db/client.ts";
import { log } from "./log.ts";

export interface AuditRow {
  workspace_id: number | null;
  function_name: string;
  endpoint: string;
  method: string;
  table_id: number | null;
  tool_name: string | null;
  status_code: number;
  token_id: number | null;
  user_id: string | null;
  duration_ms: number;
  request_id: string;
  created_at: Date;
}

const MAX_BUFFERED = 50_000;
const BATCH = 1_000;
let buffer: AuditRow[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<void> = Promise.resolve();
let dropped = 0;

export function recordAudit(row: AuditRow) {
  if (buffer.length >= MAX_BUFFERED) {
    buffer.shift();
    dropped++;
  }
  buffer.push(row);
  if (buffer.length === BATCH) void writeBuffered(BATCH); // a full batch goes at once
  else scheduleFlush(config.auditFlushMs);
}

/**
 * Writes what is buffered when the timer fires, unless a flush is already scheduled. What arrives
 * meanwhile, and while that write is in flight, waits for the next one: batches of a flush
 * interval's requests, not of one write's round trip.
 */
function scheduleFlush(ms: number) {
  if (timer !== undefined) return;
  timer = setTimeout(() => {
    timer = undefined;
    void writeBuffered(buffer.length);
  }, ms);
  Deno.unrefTimer(timer);
}

const COLUMNS = [
  "workspace_id",
  "function_name",
  "endpoint",
  "method",
  "table_id",
  "tool_name",
  "status_code",
  "token_id",
  "user_id",
  "duration_ms",
  "request_id",
  "created_at",
] as const satisfies readonly (keyof AuditRow)[];

async function write(rows: AuditRow[]) {
  const tokens = [...new Set(rows.flatMap((r) => r.token_id === null ? [] : [r.token_id]))];
  // The batch goes as one JSON parameter: one prepared statement whatever the batch size (a
  // multi-row VALUES list is a new statement per size, with 12 parameters a row to serialise).
  await sql`insert into public.api_usage_logs (${sql(COLUMNS)})
            select ${sql(COLUMNS)}
            from json_populate_recordset(null::public.api_usage_logs, ${JSON.stringify(rows)}::text::json)`;
  if (tokens.length > 0) {
    await sql`update public.api_tokens set last_used_at = now() where id = any(${tokens}::bigint[])`;
  }
}

/** Writes everything buffered so far; resolves when it is in the database. */
export function flushAudit(): Promise<void> {
  if (timer !== undefined) {
    clearTimeout(timer);
    timer = undefined;
  }
  return writeBuffered(Number.POSITIVE_INFINITY);
}

/** Writes the oldest `limit` buffered rows, in batches, behind any write in flight. */
function writeBuffered(limit: number): Promise<void> {
  inflight = inflight.then(async () => {
    let left = limit;
    while (left > 0 && buffer.length > 0) {
      const rows = buffer.slice(0, Math.min(BATCH, left));
      buffer = buffer.slice(rows.length);
      left -= rows.length;
      try {
        await write(rows);
      } catch (e) {
        log.error("audit flush failed; rows kept for the next attempt", { error: String(e), rows: rows.length });
        buffer = rows.concat(buffer).slice(-MAX_BUFFERED);
        scheduleFlush(Math.max(1_000, config.auditFlushMs));
        return;
      }
    }
    if (dropped > 0) {
      log.warn("audit buffer overflowed", { dropped });
      dropped = 0;
    }
  });
  return inflight;
}

// The edge runtime fires beforeunload before it retires an instance: drain the buffer then.
addEventListener("beforeunload", () => {
  const pending = flushAudit();
  const runtime = (globalThis as { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } }).EdgeRuntime;
  runtime?.waitUntil(pending);
});
