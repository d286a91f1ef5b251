// Well-known local-only demo credentials, like Supabase's local anon and service keys.
// supabase/seed.sql creates the same workspace, user and tokens; it is never pushed to a
// hosted project, so none of these values exist anywhere but a local stack.
import { createHmac } from "node:crypto";

const jwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";
const ownerId = "00000000-0000-4000-8000-000000000001";

function b64url(input) {
  return Buffer.from(input).toString("base64url");
}

function signJwt(payload, secret) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

export const DEMO = {
  jwtSecret,
  workspaceId: 1,
  ownerId,
  ownerEmail: "owner@demo.aitizer.local",
  restToken: "aitz_rest_demoLocalOnlyRestApiToken000000000000",
  userMcpToken: "aitz_umcp_demoLocalOnlyUserMcpToken00000000000",
  vibeMcpToken: "aitz_vmcp_demoLocalOnlyVibeMcpToken00000000000",
  ownerJwt: signJwt({
    sub: ownerId,
    role: "authenticated",
    aud: "authenticated",
    email: "owner@demo.aitizer.local",
    iat: 1767225600,
    exp: 4102444800,
  }, jwtSecret),
};
