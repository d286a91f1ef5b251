// QuickJS (WASM) evaluation of formulas: each evaluation has a deadline (checked by QuickJS's
// interrupt handler) and the runtime a memory cap; a column's formula is compiled once per
// runtime, not per row. Runs inside the sandbox worker (sandbox.ts), which also guards against
// time spent in QuickJS's native code, where the interrupt handler is not consulted.
import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from "quickjs-emscripten";

export interface Limits {
  timeoutMs: number;
  memoryBytes: number;
}

let limits: Limits = { timeoutMs: 200, memoryBytes: 16 * 1024 * 1024 };
export function setLimits(next: Limits) {
  limits = next;
}

export class FormulaError extends Error {}

interface Compiled {
  key: string;
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  fn: QuickJSHandle;
}

const compiled = new Map<number, Compiled>();
const MAX_COMPILED = 500;

/** `{Column Name}` references of a formula, in order of appearance. */
export function formulaRefs(source: string): string[] {
  return [...source.matchAll(/\{([^{}\n]{1,200})\}/g)].map((m) => m[1].trim()).filter((n) => !n.startsWith("$"));
}

/** The formula as a JS function of `row` (values by column name). */
export function formulaFunction(source: string, mode: "expression" | "javascript"): string {
  const body = source.replace(/\{([^{}\n]{1,200})\}/g, (_, raw: string) => {
    const name = raw.trim();
    // {$item}, {$item.field.sub} and {$index} inside a loop; every other tag is a column.
    const item = /^\$item((?:\.[^.]+)*)$/.exec(name);
    if (item) return `row["$item"]${item[1].split(".").slice(1).map((k) => `?.[${JSON.stringify(k)}]`).join("")}`;
    if (name === "$index") return `row["$index"]`;
    return `row[${JSON.stringify(name)}]`;
  });
  return mode === "javascript" ? `(function (row) {\n${body}\n})` : `(function (row) { return (${body}\n); })`;
}

function dispose(c: Compiled) {
  try {
    c.fn.dispose();
    c.context.dispose();
    c.runtime.dispose();
  } catch { /* a runtime that failed hard may refuse to dispose cleanly */ }
}

async function compile(columnId: number, key: string, source: string, mode: "expression" | "javascript") {
  const cached = compiled.get(columnId);
  if (cached?.key === key) return cached;
  if (cached) {
    compiled.delete(columnId);
    dispose(cached);
  }
  const quickjs = await getQuickJS();
  const runtime = quickjs.newRuntime();
  runtime.setMemoryLimit(limits.memoryBytes);
  runtime.setMaxStackSize(256 * 1024);
  const context = runtime.newContext();
  deadline(runtime);
  const result = context.evalCode(formulaFunction(source, mode), `formula_${columnId}.js`);
  if (result.error) {
    const message = describe(context, result.error);
    result.error.dispose();
    context.dispose();
    runtime.dispose();
    throw new FormulaError(`formula does not compile: ${message}`);
  }
  const entry = { key, runtime, context, fn: result.value };
  if (compiled.size >= MAX_COMPILED) {
    const [oldestId, oldest] = compiled.entries().next().value!;
    compiled.delete(oldestId);
    dispose(oldest);
  }
  compiled.set(columnId, entry);
  return entry;
}

function deadline(runtime: QuickJSRuntime) {
  const until = Date.now() + limits.timeoutMs;
  runtime.setInterruptHandler(() => Date.now() > until);
}

function describe(context: QuickJSContext, error: QuickJSHandle): string {
  const dumped = context.dump(error);
  if (dumped && typeof dumped === "object" && "message" in dumped) {
    const name = (dumped as { name?: string }).name;
    const message = String((dumped as { message: unknown }).message);
    if (name === "InternalError" && /interrupted/.test(message)) {
      return `took longer than ${limits.timeoutMs} ms`;
    }
    if (/out of memory/.test(message)) return `used more than ${limits.memoryBytes} bytes of memory`;
    return `${name ?? "Error"}: ${message}`;
  }
  return String(dumped);
}

/**
 * Evaluates a column's formula on one row. The key identifies the formula's version (compiled
 * again when it changes). Returns a JSON value; undefined, NaN and infinities become null.
 */
export async function evaluateFormula(
  columnId: number,
  key: string,
  source: string,
  mode: "expression" | "javascript",
  row: Record<string, unknown>,
): Promise<unknown> {
  const c = await compile(columnId, key, source, mode);
  const { context, runtime } = c;
  deadline(runtime);
  const arg = context.evalCode(`(${JSON.stringify(row)})`);
  if (arg.error) {
    arg.error.dispose();
    throw new FormulaError("the row could not be passed to the formula");
  }
  const result = context.callFunction(c.fn, context.undefined, arg.value);
  arg.value.dispose();
  if (result.error) {
    const message = describe(context, result.error);
    result.error.dispose();
    if (/longer than|memory/.test(message)) {
      // A runtime that ran out of time or memory is not reused.
      compiled.delete(columnId);
      dispose(c);
    }
    throw new FormulaError(message);
  }
  const value = context.dump(result.value);
  result.value.dispose();
  return normalise(value);
}

function normalise(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  return JSON.parse(JSON.stringify(value) ?? "null");
}
