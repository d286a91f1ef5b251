// Slack's Web API: chat.postMessage with a bot token. Slack answers 200 with {ok: false} for
// most errors; only "ratelimited" (and 429/5xx) is worth another try.
import { z } from "zod";
import { config } from "../../config.ts";
import { ActionFailed, RetryableError } from "../../engine/errors.ts";
import { callProvider } from "../http.ts";
import { action, type IntegrationGroup } from "../types.ts";

export const slack: IntegrationGroup = {
  id: "slack",
  label: "Slack",
  category: "Messaging",
  description: "Messages to Slack channels with a bot token.",
  credential: { label: "Bot token (xoxb-…)", modes: ["admin_credential", "editor_credential"] },
  actions: [
    action({
      name: "post_message",
      label: "Post message",
      description: "Posts a message to a channel (id like C0123 or #name); stores {channel, ts}.",
      input: z.object({
        channel: z.string().min(1).max(200),
        text: z.string().min(1).max(40_000),
        thread_ts: z.string().max(50).optional(),
      }),
      async run(input, ctx) {
        if (!ctx.secret) throw new ActionFailed("slack: no bot token");
        const res = await callProvider("slack", `${config.providers.slack}/chat.postMessage`, {
          headers: { authorization: `Bearer ${ctx.secret}`, "content-type": "application/json; charset=utf-8" },
          body: input,
        });
        const body = res.body as { ok?: boolean; error?: string; channel?: string; ts?: string };
        if (body?.ok !== true) {
          if (body?.error === "ratelimited") throw new RetryableError("slack: ratelimited");
          throw new ActionFailed(`slack: ${body?.error ?? `HTTP ${res.status}`}`, res);
        }
        return { value: { channel: body.channel, ts: body.ts }, request: input, response: body };
      },
    }),
  ],
};
