// Resend: transactional email (POST /emails).
import { z } from "zod";
import { config } from "../../config.ts";
import { ActionFailed } from "../../engine/errors.ts";
import { callProvider, refused } from "../http.ts";
import { action, type IntegrationGroup } from "../types.ts";

/** One address, a list, or a comma-separated text (what a row usually holds). */
const recipients = z.union([z.string(), z.array(z.string())]).transform((v) =>
  (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean)
).pipe(z.array(z.email()).min(1).max(50));

export const resend: IntegrationGroup = {
  id: "resend",
  label: "Resend",
  category: "Email",
  description: "Transactional email through Resend.",
  credential: { label: "API key (re_…)", modes: ["admin_credential", "editor_credential"] },
  actions: [
    action({
      name: "send_email",
      label: "Send email",
      description: "Sends an email (html or text body); stores {id}.",
      input: z.object({
        from: z.string().min(3).max(320).describe('Sender, e.g. "Acme <hi@acme.com>" (a verified domain)'),
        to: recipients,
        subject: z.string().min(1).max(998),
        html: z.string().max(500_000).optional(),
        text: z.string().max(500_000).optional(),
        reply_to: z.email().optional(),
      }).refine((v) => v.html !== undefined || v.text !== undefined, { message: "html or text is required" }),
      async run(input, ctx) {
        if (!ctx.secret) throw new ActionFailed("resend: no API key");
        const res = await callProvider("resend", `${config.providers.resend}/emails`, {
          headers: { authorization: `Bearer ${ctx.secret}`, "idempotency-key": ctx.idempotencyKey.slice(0, 256) },
          body: input,
        });
        const body = res.body as { id?: string };
        if (res.status >= 300 || !body?.id) refused("resend", res);
        return { value: { id: body.id }, request: input, response: body };
      },
    }),
  ],
};
