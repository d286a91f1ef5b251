// The sandbox worker: formulas are evaluated here, off the function's own thread, so even time
// spent inside QuickJS's native code cannot stall requests; the parent terminates a worker that
// does not answer in time and starts a new one.
/// <reference lib="deno.worker" />
import { getQuickJS } from "quickjs-emscripten";
import { evaluateFormula, type Limits, setLimits } from "./quickjs.ts";

export interface SandboxRequest {
  id: number;
  limits: Limits;
  columnId: number;
  key: string;
  source: string;
  mode: "expression" | "javascript";
  row: Record<string, unknown>;
}

export type SandboxReply = { id: number; value: unknown } | { id: number; error: string } | { ready: true };

/**
 * One evaluation at a time, in arrival order: evaluateFormula awaits (compilation), and two
 * evaluations of one column interleaved there would share a runtime that the first may dispose
 * (after a timeout) while the second still uses it.
 */
let queue: Promise<void> = Promise.resolve();

self.onmessage = (event: MessageEvent<SandboxRequest>) => {
  const r = event.data;
  queue = queue.then(async () => {
    setLimits(r.limits);
    try {
      const value = await evaluateFormula(r.columnId, r.key, r.source, r.mode, r.row);
      self.postMessage({ id: r.id, value } satisfies SandboxReply);
    } catch (e) {
      self.postMessage({ id: r.id, error: e instanceof Error ? e.message : String(e) } satisfies SandboxReply);
    }
  });
};

// Loading the WASM module takes a moment (more on a busy machine); the parent starts its
// watchdog only once the worker says it is ready.
await getQuickJS();
self.postMessage({ ready: true } satisfies SandboxReply);
