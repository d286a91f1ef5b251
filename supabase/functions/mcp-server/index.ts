// The MCP server: /functions/v1/mcp-server (JSON-RPC 2.0 over Streamable HTTP).
import { createApp, requireAuth } from "../_shared/http/app.ts";
import { handleMcp } from "../_shared/mcp/server.ts";

const app = createApp("mcp-server");
app.on(["POST", "GET", "DELETE"], ["/", "/mcp"], requireAuth(), handleMcp);

export default { fetch: app.fetch };

if (import.meta.main) Deno.serve(app.fetch);
