// Formulas run in QuickJS (WASM) inside a dedicated worker, never in the function's own isolate:
// QuickJS enforces a deadline per evaluation and a memory cap per runtime; the worker adds a
// watchdog — a worker that does not answer in time (stuck in native code) is terminated and
// replaced. Either way the cell fails with a clear error and the process carries on.
import { config } from "../config.ts";
import type { SandboxReply, SandboxRequest } from "./sandbox_worker.ts";

export class FormulaError extends Error {}

export { formulaFunction, formulaRefs } from "./quickjs.ts";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

let worker: Worker | null = null;
let ready: Promise<void> = Promise.resolve();
let failReady: (e: Error) => void = () => {};
const pending = new Map<number, Pending>();
let nextId = 0;

function start(): Worker {
  const w = new Worker(new URL("./sandbox_worker.ts", import.meta.url).href, { type: "module" });
  let markReady: () => void;
  ready = new Promise((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // observed by the evaluations that await it
  w.onmessage = (event: MessageEvent<SandboxReply>) => {
    const reply = event.data;
    if ("ready" in reply) return markReady();
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    clearTimeout(p.timer);
    if ("error" in reply) p.reject(new FormulaError(reply.error));
    else p.resolve(reply.value);
  };
  w.onerror = (event) => {
    event.preventDefault();
    restart(new FormulaError(`the formula sandbox failed: ${event.message}`));
  };
  return w;
}

/** Terminates the worker; every evaluation waiting on it fails with `error`. */
function restart(error: Error) {
  worker?.terminate();
  worker = null;
  failReady(error);
  for (const [id, p] of pending) {
    clearTimeout(p.timer);
    p.reject(error);
    pending.delete(id);
  }
}

/**
 * Evaluates a column's formula on one row (values by column name). `key` identifies the
 * formula's version: it is compiled again when the key changes. Returns a JSON value.
 */
export async function evaluateFormula(
  columnId: number,
  key: string,
  source: string,
  mode: "expression" | "javascript",
  row: Record<string, unknown>,
): Promise<unknown> {
  worker ??= start();
  const current = worker;
  await ready;
  if (worker !== current || !worker) throw new FormulaError("the formula sandbox restarted; try again");
  const id = ++nextId;
  const request: SandboxRequest = {
    id,
    limits: { timeoutMs: config.formulaTimeoutMs, memoryBytes: config.formulaMemoryBytes },
    columnId,
    key,
    source,
    mode,
    row,
  };
  return await new Promise((resolve, reject) => {
    // The watchdog: QuickJS interrupts JS itself at timeoutMs; this covers native code (and the
    // evaluations queued behind it), with room for compilation.
    const timer = setTimeout(
      () => restart(new FormulaError(`took longer than ${config.formulaTimeoutMs} ms`)),
      config.formulaTimeoutMs * 5 + 1_000,
    );
    pending.set(id, { resolve, reject, timer });
    worker!.postMessage(request);
  });
}
