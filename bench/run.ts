// `deno task bench`: every benchmark, one after another (each also runs alone:
// `deno run -A bench/records.ts`). Results are printed and saved under bench/results/ (ignored).
import engine from "./engine.ts";
import mcp from "./mcp.ts";
import memory from "./memory.ts";
import records from "./records.ts";

await records();
await mcp();
await memory();
await engine();
