// Request-scoped variables, typed once for every Hono handler.
import type { Principal } from "../auth/principal.ts";

declare module "hono" {
  interface ContextVariableMap {
    requestId: string;
    principal: Principal;
    /** Set by handlers that act on one table, for the audit row. */
    tableId: number;
    /** Set when the workspace is known, for the audit row. */
    workspaceId: number;
    /** Set by the MCP server, for the audit row. */
    toolName: string;
    /** The status a failed MCP tool call stands for (the HTTP response is 200 either way). */
    toolStatus: number;
  }
}
