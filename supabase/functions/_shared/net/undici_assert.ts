// undici checks its invariants with node:assert's `assert(value)`, dozens of times a request. Deno's
// node:assert takes rest arguments and spreads them through an iterator on every call: ~10 KB of
// garbage a request, and ~8% of an engine worker's CPU (one worker draining 20,000 jobs: 187 → 171
// µs a job; the garbage measured with the heap sampler). Loaded before undici (guarded_fetch.ts imports this first), this hands undici's modules
// an `assert` that checks the value and, when the check fails, throws node:assert's AssertionError
// as node:assert would. Every other module still gets node:assert itself. Where the
// runtime's CommonJS loader has no `_load` to wrap, nothing changes but the speed.
import realAssert, { AssertionError } from "node:assert";
import Module from "node:module";

/** node:assert's `assert(value, message?)`, with the passing case kept free of allocation. */
export function fastAssert(value: unknown, message?: string | Error): asserts value {
  if (value) return;
  if (message instanceof Error) throw message;
  throw new AssertionError({
    message: message ?? "The expression evaluated to a falsy value",
    actual: value,
    expected: true,
    operator: "==",
  });
}
Object.assign(fastAssert, realAssert);

const UNDICI = /[\\/]undici[\\/]/;

/** Wraps the CommonJS loader so that a `require("node:assert")` from undici gets fastAssert. */
export function installUndiciAssert(loader = Module as unknown as Loader): boolean {
  if (typeof loader._load !== "function" || loader._load.undiciAssert) return false;
  const load = loader._load;
  const wrapped: Loader["_load"] = function (this: unknown, request, parent, isMain) {
    if ((request === "node:assert" || request === "assert") && UNDICI.test(parent?.filename ?? "")) return fastAssert;
    return Reflect.apply(load, this, [request, parent, isMain]);
  };
  wrapped.undiciAssert = true;
  loader._load = wrapped;
  return true;
}

interface Loader {
  _load: ((request: string, parent: { filename?: string } | undefined, isMain: boolean) => unknown) & {
    undiciAssert?: boolean;
  };
}

installUndiciAssert();
