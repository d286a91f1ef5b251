// Every column type, in one exhaustive table: a type missing here is a compile error.
// Adding a type is adding one module and one entry.
import type { ColumnTypeImpl } from "./type.ts";
import { text } from "./types/text.ts";
import { number } from "./types/number.ts";
import { checkbox } from "./types/checkbox.ts";
import { date } from "./types/date.ts";
import { file } from "./types/file.ts";
import { multiSelect, singleSelect } from "./types/select.ts";
import { relation, userReference } from "./types/references.ts";
import {
  createRecordAction,
  delay,
  deleteRecordAction,
  fetchRecordsAction,
  formula,
  httpRequest,
  integrationAction,
  jsonParser,
  loop,
  rollup,
  updateRecordAction,
} from "./types/engine.ts";

export const DATA_TYPES = [
  "text",
  "number",
  "checkbox",
  "date",
  "file",
  "single_select",
  "multi_select",
  "user_reference",
  "relation",
] as const;

export const COMPUTED_TYPES = ["formula", "json_parser", "rollup"] as const;
export const ACTION_TYPES = [
  "http_request",
  "action",
  "create_record",
  "update_record",
  "delete_record",
  "fetch_records",
  "loop",
  "delay",
] as const;

export const COLUMN_TYPES = [...DATA_TYPES, ...COMPUTED_TYPES, ...ACTION_TYPES] as const;
export type ColumnType = typeof COLUMN_TYPES[number];

export const registry: Record<ColumnType, ColumnTypeImpl> = {
  text,
  number,
  checkbox,
  date,
  file,
  single_select: singleSelect,
  multi_select: multiSelect,
  user_reference: userReference,
  relation,
  formula,
  json_parser: jsonParser,
  rollup,
  http_request: httpRequest,
  action: integrationAction,
  create_record: createRecordAction,
  update_record: updateRecordAction,
  delete_record: deleteRecordAction,
  fetch_records: fetchRecordsAction,
  loop,
  delay,
};

export function isColumnType(value: string): value is ColumnType {
  return Object.hasOwn(registry, value);
}

export function typeOf(type: string): ColumnTypeImpl {
  if (!isColumnType(type)) throw new Error(`unknown column type ${type}`);
  return registry[type];
}
