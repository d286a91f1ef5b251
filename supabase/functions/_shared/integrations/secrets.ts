// Secrets at rest: pgcrypto's pgp_sym_encrypt with a key from the environment (never stored in
// the database). Column configs keep { "set": true } where a secret was entered; the values live
// in column_secrets, one encrypted object per column, read only by the engine.
import { config } from "../config.ts";
import { asOwner, sql, type Tx } from "../db/client.ts";
import { badRequest } from "../http/errors.ts";

export const SET = { set: true } as const;
const isSet = (v: unknown) => v !== null && typeof v === "object" && (v as { set?: unknown }).set === true;

/** The encryption key; storing a secret without one is refused rather than done in the clear. */
export function secretsKey(): string {
  if (!config.secretsKey) {
    throw badRequest("This deployment cannot store secrets: set AITIZER_SECRETS_KEY (supabase secrets set)");
  }
  return config.secretsKey;
}

/** What tells two keys apart without revealing them: the last four characters of a long one. */
export const hintOf = (secret: string) => (secret.length >= 12 ? `…${secret.slice(-4)}` : "…");

/** Where secrets sit in each type's config. */
const SECRET_PATHS: Record<string, readonly string[]> = {
  action: ["credential"],
  http_request: ["httpAuth.token", "httpAuth.password", "httpAuth.value"],
};

export const hasSecrets = (type: string) => Object.hasOwn(SECRET_PATHS, type);

const get = (o: Record<string, unknown>, path: string): unknown =>
  path.split(".").reduce<unknown>(
    (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
    o,
  );

function set(o: Record<string, unknown>, path: string, value: unknown) {
  const keys = path.split(".");
  let target = o;
  for (const k of keys.slice(0, -1)) {
    target[k] = { ...(target[k] as Record<string, unknown>) };
    target = target[k] as Record<string, unknown>;
  }
  target[keys.at(-1)!] = value;
}

export interface Sealed {
  /** The config to store: every secret replaced by { set: true }. */
  config: Record<string, unknown>;
  /** Secrets entered now. */
  fresh: Record<string, string>;
  /** Paths that keep the secret stored before ({ set: true } sent back, or the config unchanged). */
  kept: string[];
}

/** Takes the secrets out of a column config. */
export function seal(type: string, input: Record<string, unknown>): Sealed {
  const out: Sealed = { config: { ...input }, fresh: {}, kept: [] };
  for (const path of SECRET_PATHS[type] ?? []) {
    const v = get(input, path);
    if (typeof v === "string" && v !== "") {
      out.fresh[path] = v;
      set(out.config, path, SET);
    } else if (isSet(v)) {
      out.kept.push(path);
      set(out.config, path, SET);
    }
  }
  return out;
}

async function readSecrets(tx: Tx | typeof sql, columnId: number): Promise<Record<string, string>> {
  const [row] = await tx<{ value: Record<string, string> }[]>`
    select extensions.pgp_sym_decrypt(secret, ${secretsKey()})::jsonb as value
    from public.column_secrets where column_id = ${columnId}`;
  return row?.value ?? {};
}

/** Stores a column's secrets (in the transaction that saves the column). */
export async function storeSecrets(tx: Tx, columnId: number, workspaceId: number, sealed: Sealed) {
  const needsKey = Object.keys(sealed.fresh).length > 0 || sealed.kept.length > 0;
  await asOwner(tx, async () => {
    const before = needsKey ? await readSecrets(tx, columnId) : {};
    const missing = sealed.kept.filter((p) => before[p] === undefined);
    if (missing.length > 0) {
      throw badRequest(`${missing[0]}: { "set": true } keeps a stored secret, but none is stored: send the secret`);
    }
    const next = { ...Object.fromEntries(sealed.kept.map((p) => [p, before[p]])), ...sealed.fresh };
    if (Object.keys(next).length === 0) {
      await tx`delete from public.column_secrets where column_id = ${columnId}`;
      return;
    }
    await tx`
      insert into public.column_secrets (column_id, workspace_id, secret)
      values (${columnId}, ${workspaceId}, extensions.pgp_sym_encrypt(${JSON.stringify(next)}, ${secretsKey()}))
      on conflict (column_id) do update set secret = excluded.secret, updated_at = now()`;
  });
}

/** The config with its secrets filled back in, for the engine (a no-op without any). */
export async function reveal(type: string, columnId: number, cfg: Record<string, unknown>) {
  const paths = (SECRET_PATHS[type] ?? []).filter((p) => isSet(get(cfg, p)));
  if (paths.length === 0) return cfg;
  const secrets = await readSecrets(sql, columnId);
  const out = { ...cfg };
  for (const p of paths) set(out, p, secrets[p] ?? "");
  return out;
}

/** A workspace credential's secret, for the engine. */
export async function credentialSecret(workspaceId: number, credentialId: number): Promise<string | null> {
  const [row] = await sql<{ value: string }[]>`
    select extensions.pgp_sym_decrypt(secret, ${secretsKey()}) as value
    from public.credentials where id = ${credentialId} and workspace_id = ${workspaceId}`;
  return row?.value ?? null;
}
