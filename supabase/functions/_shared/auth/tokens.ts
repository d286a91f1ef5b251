// Workspace token secrets: `aitz_<kind>_<43 chars of base64url>` (256 random bits).
// Only the SHA-256 of the whole secret is stored; the prefix is kept so humans can tell them apart.

export const TOKEN_TYPES = ["rest_api", "user_mcp", "vibe_mcp"] as const;
export type TokenType = typeof TOKEN_TYPES[number];

const KIND: Record<TokenType, string> = { rest_api: "rest", user_mcp: "umcp", vibe_mcp: "vmcp" };
const SHAPE = /^aitz_(rest|umcp|vmcp)_[A-Za-z0-9_-]{20,200}$/;

export function looksLikeToken(value: string): boolean {
  return SHAPE.test(value);
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function generateToken(type: TokenType): { token: string; prefix: string } {
  const token = `aitz_${KIND[type]}_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
  return { token, prefix: token.slice(0, 16) };
}

export async function hashToken(token: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
}
