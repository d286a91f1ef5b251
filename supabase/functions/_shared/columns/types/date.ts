import { z } from "zod";
import { CellError, type Column, type ColumnTypeImpl } from "../type.ts";
import { describe } from "./text.ts";

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

const withTime = (column: Column) => column.config.includeTime === true;

function validDate(y: number, m: number, d: number) {
  const dt = new Date(0);
  dt.setUTCFullYear(y, m - 1, d); // (Date.UTC maps years 0–99 to 1900–1999)
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

/**
 * An ISO 8601 date-time as a UTC ISO string, within the years 0000–9999 once in UTC (what
 * Postgres and every client read back); throws CellError otherwise.
 */
export function parseDateTime(s: string): string {
  const ms = DATETIME.test(s) ? Date.parse(s.replace(" ", "T")) : NaN;
  if (Number.isNaN(ms)) throw new CellError(`"${s}" is not a valid ISO 8601 date-time`);
  const iso = new Date(ms).toISOString();
  if (!/^\d{4}-/.test(iso)) throw new CellError(`"${s}" is outside the years 0000–9999 once in UTC`);
  return iso;
}

/** ISO 8601 in and out: `YYYY-MM-DD` for dates, a full UTC timestamp when `includeTime`. */
export const date: ColumnTypeImpl = {
  family: "data",
  configSchema: z.object({ includeTime: z.boolean().optional(), indexed: z.boolean().optional() }),
  pgType: (config) => config.includeTime === true ? "timestamptz" : "date",
  coerce(value, column) {
    if (typeof value !== "string") throw new CellError(`expected an ISO 8601 date, got ${describe(value)}`);
    const s = value.trim();
    const d = DATE.exec(s);
    if (d) {
      if (!validDate(+d[1], +d[2], +d[3])) throw new CellError(`"${s}" is not a calendar date`);
      return withTime(column) ? `${s}T00:00:00.000Z` : s;
    }
    if (DATETIME.test(s)) {
      const iso = parseDateTime(s);
      return withTime(column) ? iso : iso.slice(0, 10);
    }
    throw new CellError(`expected an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ), got ${describe(value)}`);
  },
  serialize(value, column) {
    if (value === null || value === undefined) return null;
    if (value instanceof Date) return withTime(column) ? value.toISOString() : value.toISOString().slice(0, 10);
    return value; // date columns come back as 'YYYY-MM-DD' text
  },
  operators: ["eq", "neq", "gt", "gte", "lt", "lte", "empty", "nempty"],
  sortable: true,
  writable: true,
};
