// The Telegram Bot API: sendMessage. The bot token is part of the URL, so the logged request
// names the method only.
import { z } from "zod";
import { config } from "../../config.ts";
import { ActionFailed } from "../../engine/errors.ts";
import { callProvider, refused } from "../http.ts";
import { action, type IntegrationGroup } from "../types.ts";

export const telegram: IntegrationGroup = {
  id: "telegram",
  label: "Telegram",
  category: "Messaging",
  description: "Messages from a Telegram bot.",
  credential: { label: "Bot token (from @BotFather)", modes: ["admin_credential", "editor_credential"] },
  actions: [
    action({
      name: "send_message",
      label: "Send message",
      description: "Sends a text message to a chat; stores {message_id, chat_id}.",
      input: z.object({
        chat_id: z.union([z.number().int(), z.string().min(1).max(100)]),
        text: z.string().min(1).max(4096),
        parse_mode: z.enum(["HTML", "MarkdownV2", "Markdown"]).optional(),
      }),
      async run(input, ctx) {
        if (!ctx.secret) throw new ActionFailed("telegram: no bot token");
        const url = `${config.providers.telegram}/bot${encodeURIComponent(ctx.secret)}/sendMessage`;
        const res = await callProvider("telegram", url, { body: input });
        const body = res.body as { ok?: boolean; result?: { message_id: number; chat: { id: unknown } } };
        if (body?.ok !== true || !body.result) refused("telegram", res);
        return {
          value: { message_id: body.result.message_id, chat_id: body.result.chat.id },
          request: { method: "sendMessage", ...input },
          response: body,
        };
      },
    }),
  ],
};
