// The REST API: /functions/v1/rest-api/…
import { createApp } from "../_shared/http/app.ts";
import { mountData } from "../_shared/data/router.ts";
import { mountIntegrations } from "../_shared/integrations/router.ts";
import { mountSystem } from "../_shared/system/router.ts";
import { mountWorkspaces } from "../_shared/workspaces/router.ts";

const app = createApp("rest-api");
mountSystem(app);
mountWorkspaces(app);
mountData(app);
mountIntegrations(app);

export default { fetch: app.fetch };

if (import.meta.main) Deno.serve(app.fetch);
