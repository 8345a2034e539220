import { createHash, randomBytes } from 'node:crypto';

/** The two kinds of opaque Supabase API key. */
export type ApiKeyType = 'publishable' | 'secret';

const API_KEY_PREFIX: Readonly<Record<ApiKeyType, string>> = {
  publishable: 'sb_publishable_',
  secret: 'sb_secret_',
};

/** The database role a key of each type acts as. */
export const API_KEY_ROLE: Readonly<Record<ApiKeyType, 'anon' | 'service_role'>> = {
  publishable: 'anon',
  secret: 'service_role',
};

const RANDOM_BYTES = 17;
// 17 random bytes encode to 23 base64url chars; the format keeps the first 22 (132 bits).
const RANDOM_CHARS = 22;
const CHECKSUM_CHARS = 8;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const REF_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;

interface ParsedApiKey {
  readonly type: ApiKeyType;
  readonly prefix: string;
  readonly random: string;
  readonly checksum: string;
}

type ParseResult = { ok: true; key: ParsedApiKey } | { ok: false; reason: string };

/** True when `ref` has the shape of a project ref (lower-case, 3–63 chars). */
export function isValidRef(ref: string): boolean {
  return REF_PATTERN.test(ref);
}

function checksumFor(ref: string, prefix: string, random: string): string {
  return createHash('sha256')
    .update(`${ref}|${prefix}${random}`)
    .digest('base64url')
    .slice(0, CHECKSUM_CHARS);
}

/** A new key for project `ref`: `<prefix><22 random base64url>_<8-char checksum>`. */
export function generateApiKey(ref: string, type: ApiKeyType): string {
  if (!isValidRef(ref)) throw new Error('invalid project ref');
  const prefix = API_KEY_PREFIX[type];
  const random = randomBytes(RANDOM_BYTES).toString('base64url').slice(0, RANDOM_CHARS);
  return `${prefix}${random}_${checksumFor(ref, prefix, random)}`;
}

/**
 * Splits a key by fixed offsets (the random part is base64url and may itself contain `_`).
 * Checks shape only; use {@link verifyApiKey} to bind it to a project.
 */
export function parseApiKey(key: string): ParseResult {
  if (typeof key !== 'string' || key.length === 0) return { ok: false, reason: 'empty key' };
  let type: ApiKeyType;
  if (key.startsWith(API_KEY_PREFIX.publishable)) type = 'publishable';
  else if (key.startsWith(API_KEY_PREFIX.secret)) type = 'secret';
  else return { ok: false, reason: 'unknown key prefix' };
  const prefix = API_KEY_PREFIX[type];
  if (key.length !== prefix.length + RANDOM_CHARS + 1 + CHECKSUM_CHARS) {
    return { ok: false, reason: 'wrong key length' };
  }
  const random = key.slice(prefix.length, prefix.length + RANDOM_CHARS);
  const separator = key[prefix.length + RANDOM_CHARS];
  const checksum = key.slice(prefix.length + RANDOM_CHARS + 1);
  if (separator !== '_' || !BASE64URL.test(random) || !BASE64URL.test(checksum)) {
    return { ok: false, reason: 'malformed key' };
  }
  return { ok: true, key: { type, prefix, random, checksum } };
}

/** Parses `key` and checks that its checksum was made for project `ref`. No I/O. */
export function verifyApiKey(key: string, ref: string): ParseResult {
  const parsed = parseApiKey(key);
  if (!parsed.ok) return parsed;
  const { prefix, random, checksum } = parsed.key;
  if (checksumFor(ref, prefix, random) !== checksum) return { ok: false, reason: 'checksum mismatch' };
  return parsed;
}

/** Lookup hash of a key: hex SHA-256 of the whole key string. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A display form that never reveals the secret part: `sb_secret_AbCd••••••••`. */
export function maskApiKey(key: string): string {
  const parsed = parseApiKey(key);
  if (!parsed.ok) return '••••••••';
  return `${parsed.key.prefix}${parsed.key.random.slice(0, 4)}${'•'.repeat(8)}`;
}
