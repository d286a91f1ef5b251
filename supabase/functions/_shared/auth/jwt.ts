// Supabase user JWTs: HS256 with the project's secret, or asymmetric keys from the JWKS URL.
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import { config } from "../config.ts";

const hsKey = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;
const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : null;

export interface UserClaims {
  sub: string;
  email?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Returns the signed-in user, or null when the JWT is not valid for a user of this project. */
export async function verifyUserJwt(jwt: string): Promise<UserClaims | null> {
  let payload: JWTPayload;
  try {
    const header = JSON.parse(atob(jwt.split(".")[0].replaceAll("-", "+").replaceAll("_", "/")));
    if (header.alg === "HS256") {
      if (!hsKey) return null;
      ({ payload } = await jwtVerify(jwt, hsKey, { algorithms: ["HS256"] }));
    } else {
      if (!jwks) return null;
      ({ payload } = await jwtVerify(jwt, jwks, { algorithms: ["RS256", "ES256", "EdDSA"] }));
    }
  } catch {
    return null;
  }
  // Only end users: the anon and service_role keys are not identities.
  if (payload.role !== "authenticated" || typeof payload.sub !== "string" || !UUID.test(payload.sub)) return null;
  return { sub: payload.sub, email: typeof payload.email === "string" ? payload.email : undefined };
}
