// Checked when a column is saved, never discovered at run time: references to unknown columns,
// a formula referencing itself, and cycles through other computed columns are 400s naming them.
import type { TableShape } from "../tables/meta.ts";
import { badRequest } from "../http/errors.ts";
import { formulaRefs } from "./sandbox.ts";

type Config = Record<string, unknown>;

/** Column names a column's settings refer to by template tag ({Name}). */
function tagRefs(type: string, config: Config): string[] {
  if (type === "formula") return formulaRefs(String(config.formula ?? ""));
  if (type === "http_request") {
    const texts = [
      config.httpUrl,
      config.httpBody,
      ...Object.values((config.httpHeaders ?? {}) as Record<string, unknown>),
      ...Object.values((config.httpAuth ?? {}) as Record<string, unknown>),
    ];
    return texts.flatMap((t) => (typeof t === "string" ? formulaRefs(t) : []));
  }
  if (type === "action") {
    return Object.values((config.inputMapping ?? {}) as Record<string, unknown>)
      .flatMap((t) => (typeof t === "string" ? formulaRefs(t) : []));
  }
  if (["create_record", "update_record", "delete_record", "fetch_records"].includes(type)) {
    const strings: string[] = [];
    const collect = (v: unknown) => {
      if (typeof v === "string") strings.push(v);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === "object") Object.values(v).forEach(collect);
    };
    collect(config.fieldMappings);
    collect(config.filters);
    return strings.flatMap(formulaRefs);
  }
  return [];
}

/** Column ids a computed column reads (what must be computed before it). */
function dependencies(table: TableShape, type: string, config: Config): number[] {
  const byName = (n: string) => table.columns.find((c) => c.name.toLowerCase() === n.toLowerCase())?.id;
  const ids = tagRefs(type, config).map(byName).filter((x): x is number => x !== undefined);
  if (type === "json_parser") ids.push(Number(config.jsonSourceColumnId));
  return ids;
}

export function checkEngineConfig(table: TableShape, type: string, config: Config, self: { id: number; name: string }) {
  const known = (n: string) =>
    n.toLowerCase() === self.name.toLowerCase() || table.columns.some((c) => c.name.toLowerCase() === n.toLowerCase());
  const unknown = [...new Set(tagRefs(type, config).filter((n) => !known(n)))];
  if (unknown.length > 0) {
    throw badRequest(`Unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `{${n}}`).join(", ")}`);
  }
  if (type === "loop" || type === "delay") {
    const loops = table.columns.filter((c) => c.type === "loop" && c.id !== self.id);
    if (type === "loop" && loops.length > 0) {
      throw badRequest(`A loop cannot be nested in a loop: '${loops[0].name}' already runs the columns to its right`);
    }
    if (type === "delay" && loops.length > 0 && Number(config.delaySeconds) > 60) {
      throw badRequest(
        `delaySeconds: inside the loop '${loops[0].name}' a delay pauses between items, for at most 60 seconds`,
      );
    }
  }
  if (type === "rollup") {
    const ref = String(config.rollupRelationColumnId);
    const id = /^(col_)?\d+$/.test(ref) ? Number(ref.replace("col_", "")) : undefined;
    const relation = table.columns.find((
      c,
    ) => (id !== undefined ? c.id === id : c.name.toLowerCase() === ref.toLowerCase()));
    if (!relation || relation.type !== "relation") {
      throw badRequest(`rollupRelationColumnId: '${ref}' is not a relation column of table ${table.id}`);
    }
    config.rollupRelationColumnId = relation.id;
  }
  if (type === "loop") {
    const ref = String(config.loopSourceColumnId);
    const id = /^(col_)?\d+$/.test(ref) ? Number(ref.replace("col_", "")) : undefined;
    const source = table.columns.find((
      c,
    ) => (id !== undefined ? c.id === id : c.name.toLowerCase() === ref.toLowerCase()));
    if (!source || source.id === self.id) {
      throw badRequest(`loopSourceColumnId: no other column '${ref}' in table ${table.id}`);
    }
    config.loopSourceColumnId = source.id;
  }
  if (type === "json_parser") {
    const ref = String(config.jsonSourceColumnId);
    const id = /^(col_)?\d+$/.test(ref) ? Number(ref.replace("col_", "")) : undefined;
    const source = table.columns.find((
      c,
    ) => (id !== undefined ? c.id === id : c.name.toLowerCase() === ref.toLowerCase()));
    if (!source || source.id === self.id) {
      throw badRequest(`jsonSourceColumnId: no other column '${ref}' in table ${table.id}`);
    }
    config.jsonSourceColumnId = source.id; // stored as the id: renaming the source changes nothing
  }
  if (type !== "formula" && type !== "json_parser") return;
  if (tagRefs(type, config).some((n) => n.toLowerCase() === self.name.toLowerCase())) {
    throw badRequest(`A formula cannot reference its own column {${self.name}}`);
  }
  // Walk the dependency graph from this column: reaching it again is a cycle.
  const deps = new Map<number, number[]>();
  for (const c of table.columns) {
    if (c.id !== self.id && (c.type === "formula" || c.type === "json_parser")) {
      deps.set(c.id, dependencies(table, c.type, c.config));
    }
  }
  deps.set(self.id, dependencies(table, type, config));
  const path: number[] = [self.id];
  const visit = (id: number): boolean => {
    if (id === self.id) return true;
    if (path.includes(id)) return false;
    path.push(id);
    if ((deps.get(id) ?? []).some(visit)) return true;
    path.pop();
    return false;
  };
  if ((deps.get(self.id) ?? []).some(visit)) {
    const name = (id: number) => id === self.id ? self.name : table.columns.find((c) => c.id === id)?.name ?? id;
    throw badRequest(`Circular reference: ${[...path, self.id].map(name).join(" → ")}`);
  }
}
