// Template tags — {Column Name}, {$item}, {$item.field}, {$index} — resolved at execution time,
// and JSON paths for json_parser (items[0].price, a.b, list[*].id).

export interface TemplateScope {
  /** The row's values by column name. */
  row: Record<string, unknown>;
  item?: unknown;
  index?: number;
}

export class TemplateError extends Error {}

const TAG = /\{(\$item(?:\.[^{}\s]+)?|\$index|[^{}\n$][^{}\n]{0,199})\}/g;

function lookup(tag: string, scope: TemplateScope): unknown {
  if (tag === "$index") return scope.index ?? null;
  if (tag === "$item") return scope.item ?? null;
  if (tag.startsWith("$item.")) return extractPath(scope.item, tag.slice("$item.".length));
  const name = tag.trim();
  const key = Object.keys(scope.row).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key === undefined) throw new TemplateError(`unknown column {${name}}`);
  return scope.row[key];
}

const asText = (v: unknown) => v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);

/** Plain text (URLs get their tags percent-encoded with `url: true`). */
export function renderText(template: string, scope: TemplateScope, opts: { url?: boolean } = {}): string {
  return template.replace(TAG, (_, tag: string) => {
    const text = asText(lookup(tag, scope));
    return opts.url ? encodeURIComponent(text) : text;
  });
}

/** A mapped value (field mappings, action inputs): a template that is exactly one tag keeps the value's type. */
export function renderValue(template: unknown, scope: TemplateScope): unknown {
  if (typeof template !== "string") return template;
  const whole = /^\{([^{}]+)\}$/.exec(template.trim());
  if (whole) {
    const tag = whole[1].trim();
    if (tag === "$item" || tag === "$index" || tag.startsWith("$item.")) return lookup(tag, scope);
    const key = Object.keys(scope.row).find((k) => k.toLowerCase() === tag.toLowerCase());
    if (key !== undefined) return scope.row[key];
  }
  return renderText(template, scope);
}

/**
 * A JSON body: a tag inside a string literal is inserted escaped for that string; a tag outside
 * one is inserted as a JSON value. The result must parse (a TemplateError otherwise).
 */
export function renderJson(template: string, scope: TemplateScope): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < template.length;) {
    const ch = template[i];
    if (ch === "\\" && inString) {
      out += template.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (ch === '"') inString = !inString;
    if (ch === "{") {
      TAG.lastIndex = i;
      const m = TAG.exec(template);
      if (m && m.index === i) {
        const value = lookup(m[1], scope);
        out += inString ? JSON.stringify(asText(value)).slice(1, -1) : JSON.stringify(value ?? null);
        i += m[0].length;
        continue;
      }
    }
    out += ch;
    i++;
  }
  try {
    JSON.parse(out);
  } catch (e) {
    throw new TemplateError(`the body is not valid JSON once its tags are filled in: ${(e as Error).message}`);
  }
  return out;
}

/** `items[0].price`, `a.b`, `list[*].id` (a list of matches), `$` or `` for the whole value. */
export function extractPath(value: unknown, path: string): unknown {
  const steps = path.replace(/^\$\.?/, "").match(/[^.[\]]+|\[(\d+|\*)\]/g) ?? [];
  let current: unknown[] = [value];
  let fanned = false;
  for (const step of steps) {
    const next: unknown[] = [];
    const index = /^\[(\d+|\*)\]$/.exec(step);
    for (const v of current) {
      if (index?.[1] === "*") {
        fanned = true;
        if (Array.isArray(v)) next.push(...v);
      } else if (index) {
        if (Array.isArray(v) && Number(index[1]) < v.length) next.push(v[Number(index[1])]);
      } else if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, step)) {
        next.push((v as Record<string, unknown>)[step]);
      } else if (Array.isArray(v) && /^\d+$/.test(step) && Number(step) < v.length) {
        next.push(v[Number(step)]);
      }
    }
    current = next;
  }
  return fanned ? current : current[0] ?? null;
}

/** Parses a stored value that may be JSON text. */
export function asJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
