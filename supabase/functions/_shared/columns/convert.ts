// Changing a column's type converts the stored values where that loses nothing; otherwise it is
// refused with the first rows that could not be converted.
import type { Fragment, Helper } from "postgres";

/** A column reference or an expression. */
type Part = Fragment | Helper<string, []>;
import type { Tx } from "../db/client.ts";
import { badRequest } from "../http/errors.ts";
import type { Column, PgType, SelectOption } from "./type.ts";

interface Conversion {
  /** Rows whose value cannot be converted (a predicate on `c`). */
  bad?: (tx: Tx, c: Part) => Fragment;
  /** A rewrite of the values in their old type, before the type changes (may take parameters). */
  prepare?: (tx: Tx, c: Part) => Fragment;
  /** The converted value: part of ALTER TABLE, so it takes no parameters. */
  using: (tx: Tx, c: Part) => Fragment;
}

const NUMBER_RE = "^\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*$";
const DATE_RE = "^\\d{4}-\\d{2}-\\d{2}$";
const DATETIME_RE = "^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}(:?\\d{2})?)?$";

function optionCase(tx: Tx, c: Part, options: SelectOption[]): Fragment {
  // Value → option id, matching ids exactly or labels ignoring case.
  const ids = options.map((o) => o.id);
  const labels = options.map((o) => o.label.toLowerCase());
  return tx`coalesce(
    (select i from unnest(${ids}::text[]) i where i = ${c}),
    (select i from unnest(${ids}::text[], ${labels}::text[]) as o(i, l) where o.l = lower(${c}) limit 1))`;
}

/** The conversion between two physical types, or null when there is none worth offering. */
function conversion(from: PgType, to: PgType, target: Column): Conversion | null {
  const key = `${from}->${to}`;
  switch (key) {
    case "double precision->text":
    case "boolean->text":
    case "date->text":
      return { using: (tx, c) => tx`${c}::text` };
    case "timestamptz->text":
      return { using: (tx, c) => tx`to_char(${c} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` };
    case "text->double precision":
      return {
        bad: (tx, c) => tx`${c} !~ ${NUMBER_RE}`,
        using: (tx, c) => tx`nullif(btrim(${c}), '')::double precision`,
      };
    case "text->boolean":
      return {
        bad: (tx, c) => tx`lower(btrim(${c})) not in ('true', 'false', '')`,
        using: (tx, c) => tx`nullif(lower(btrim(${c})), '')::boolean`,
      };
    case "text->date":
      return { bad: (tx, c) => tx`${c} !~ ${DATE_RE}`, using: (tx, c) => tx`nullif(btrim(${c}), '')::date` };
    case "text->timestamptz":
      return {
        bad: (tx, c) => tx`${c} !~ ${DATETIME_RE} and ${c} !~ ${DATE_RE}`,
        using: (tx, c) => tx`nullif(btrim(${c}), '')::timestamptz`,
      };
    case "date->timestamptz":
      return { using: (tx, c) => tx`(${c}::timestamp at time zone 'UTC')` };
    case "timestamptz->date":
      return {
        bad: (tx, c) => tx`(${c} at time zone 'UTC')::time <> '00:00'`,
        using: (tx, c) => tx`(${c} at time zone 'UTC')::date`,
      };
    case "text->text[]":
      // single_select → multi_select; text → multi_select maps values to options.
      return target.options.length > 0
        ? {
          bad: (tx, c) => tx`${c} <> '' and ${optionCase(tx, c, target.options)} is null`,
          prepare: (tx, c) => optionCase(tx, c, target.options),
          using: (tx, c) => tx`case when ${c} is null or ${c} = '' then null else array[${c}] end`,
        }
        : null;
    case "text[]->text":
      return { bad: (tx, c) => tx`cardinality(${c}) > 1`, using: (tx, c) => tx`${c}[1]` };
    default:
      return null;
  }
}

/**
 * Converts `col` of `table` from the old column to the new one in place. Same physical type with
 * new select options: values given by label are mapped, unknown ones refused.
 */
export async function convertColumn(tx: Tx, tableName: string, before: Column, after: Column) {
  const from = before.pg_type!;
  const to = after.pg_type!;
  const t = tx("public." + tableName);
  const c = tx(`col_${after.id}`);
  const selects = ["single_select", "multi_select"];
  if (selects.includes(before.type) && !selects.includes(after.type) && before.options.length > 0) {
    // Option ids become the labels people saw, before any other conversion.
    const ids = before.options.map((o) => o.id);
    const labels = before.options.map((o) => o.label);
    const label = (e: Part) =>
      tx`coalesce((select o.l from unnest(${ids}::text[], ${labels}::text[]) as o(i, l) where o.i = ${e}), ${e})`;
    await tx`update ${t} set ${c} = ${
      from === "text[]" ? tx`array(select ${label(tx`e`)} from unnest(${c}) e)` : label(c)
    } where ${c} is not null`;
  }
  if (from === to && !(after.type === "single_select" && before.type !== "single_select")) return;
  if (from === to) {
    // text → single_select: every value must name an option.
    const bad = await tx<{ id: number }[]>`
      select id from ${t} where ${c} is not null and ${c} <> '' and ${optionCase(tx, c, after.options)} is null
      order by id limit 5`;
    if (bad.length > 0) refuse(before, after, bad);
    await tx`update ${t} set ${c} = ${optionCase(tx, c, after.options)} where ${c} is not null and ${c} <> ''`;
    return;
  }
  const conv = conversion(from, to, after);
  const [{ filled }] = await tx<
    { filled: boolean }[]
  >`select exists (select 1 from ${t} where ${c} is not null) as filled`;
  if (!conv && filled) {
    throw badRequest(
      `Cannot change column '${before.name}' from ${before.type} to ${after.type} while it holds values; ` +
        "empty it first or add a new column",
    );
  }
  if (conv?.bad && filled) {
    const bad = await tx<{ id: number }[]>`
      select id from ${t} where ${c} is not null and ${conv.bad(tx, c)} order by id limit 5`;
    if (bad.length > 0) refuse(before, after, bad);
  }
  if (conv?.prepare && filled) await tx`update ${t} set ${c} = ${conv.prepare(tx, c)} where ${c} is not null`;
  const using = conv ? conv.using(tx, c) : tx`null`;
  await tx`alter table ${t} alter column ${c} type ${tx.unsafe(to)} using ${using}`;
}

function refuse(before: Column, after: Column, rows: { id: number }[]): never {
  throw badRequest(
    `Cannot change column '${before.name}' from ${before.type} to ${after.type} without losing data: ` +
      `records ${rows.map((r) => r.id).join(", ")} hold values that do not convert`,
  );
}
