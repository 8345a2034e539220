import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';

/** The algorithms Supabase's CreateSigningKeyBody names, all of which are made and imported here. */
export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'RS256', 'HS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** The published half of an asymmetric key: what a JWKS holds. */
export type PublicJwk = {
  kty: 'EC' | 'RSA' | 'OKP';
  crv?: 'P-256' | 'Ed25519';
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  kid: string;
  alg: 'ES256' | 'RS256' | 'EdDSA';
  use: 'sig';
};

/** A key pair (or shared secret) ready to store: the public half is `null` for HS256. */
export interface KeyMaterial {
  readonly publicJwk: PublicJwk | null;
  /** The private JWK (or `oct` secret), sealed before it is stored. */
  readonly privateJwk: Record<string, unknown>;
}

type Import = { ok: true; material: KeyMaterial; kid: string } | { ok: false; reason: string };

/** What each algorithm's keys are: `kty`, curve, and the members a private JWK must carry. */
const SHAPES: Record<
  SigningAlgorithm,
  { kty: string; crv?: string; publicMembers: readonly string[]; privateMembers: readonly string[] }
> = {
  RS256: { kty: 'RSA', publicMembers: ['n', 'e'], privateMembers: ['d', 'p', 'q', 'dp', 'dq', 'qi'] },
  ES256: { kty: 'EC', crv: 'P-256', publicMembers: ['x', 'y'], privateMembers: ['d'] },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', publicMembers: ['x'], privateMembers: ['d'] },
  HS256: { kty: 'oct', publicMembers: [], privateMembers: ['k'] },
};

/** RSA keys are 2048 bits here, as Supabase makes them; an import may be larger, never smaller. */
export const RSA_MODULUS_BITS = 2048;
/** Supabase's shortest `k` for an imported shared secret (its schema's minLength). */
const MIN_SECRET_CHARS = 16;
const OPTIONAL_MEMBERS = ['kid', 'use', 'key_ops', 'ext', 'alg'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A new key of the algorithm, made here: RSA 2048, P-256, Ed25519, or a 256-bit shared secret. */
export function generateKeyMaterial(algorithm: SigningAlgorithm, kid: string): KeyMaterial {
  if (algorithm === 'HS256') {
    const k = randomBytes(32).toString('base64url');
    return { publicJwk: null, privateJwk: { kty: 'oct', k, kid, alg: algorithm } };
  }
  const { privateKey } =
    algorithm === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS })
      : algorithm === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return fromPrivateKey(algorithm, privateKey, kid);
}

/**
 * Checks a `private_jwk` to import as Supabase's CreateSigningKeyBody describes it: `kty` (and `crv`)
 * of the algorithm, every private member present, nothing else but `kid` (a uuid), `use: "sig"`,
 * `key_ops: ["sign","verify"]`, `ext: true` and `alg` (the algorithm's own), RSA at least 2048 bits
 * with e = AQAB, and a public half that belongs to the private one. Reasons name members, never values.
 */
export function importPrivateJwk(algorithm: SigningAlgorithm, jwk: Record<string, unknown>): Import {
  const shape = SHAPES[algorithm];
  const fail = (reason: string): Import => ({ ok: false, reason: `private_jwk: ${reason}` });
  if (jwk.kty !== shape.kty) {
    return fail(`kty must be "${shape.kty}" for algorithm ${algorithm}`);
  }
  if (jwk.alg !== undefined && jwk.alg !== algorithm) return fail(`alg must be "${algorithm}" (or left out)`);
  if (shape.crv && jwk.crv !== shape.crv)
    return fail(`crv must be "${shape.crv}" for algorithm ${algorithm}`);
  const allowed = new Set(['kty', ...(shape.crv ? ['crv'] : []), ...OPTIONAL_MEMBERS]);
  for (const member of [...shape.publicMembers, ...shape.privateMembers]) allowed.add(member);
  const unknown = Object.keys(jwk).filter((member) => !allowed.has(member));
  if (unknown.length)
    return fail(`${unknown.map((m) => JSON.stringify(m)).join(', ')} not allowed for kty ${shape.kty}`);
  const missing = [...shape.publicMembers, ...shape.privateMembers].filter(
    (member) => typeof jwk[member] !== 'string' || !BASE64URL.test(jwk[member] as string),
  );
  if (missing.length) {
    return fail(
      `${missing.join(', ')} must be present as base64url strings (the private key is required, not only its public half)`,
    );
  }
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || !UUID.test(jwk.kid))) {
    return fail('kid must be a uuid (it becomes the key id, and the kid of the tokens it signs)');
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') return fail('use must be "sig"');
  if (jwk.ext !== undefined && jwk.ext !== true) return fail('ext must be true');
  if (
    jwk.key_ops !== undefined &&
    !(
      Array.isArray(jwk.key_ops) &&
      jwk.key_ops.length === 2 &&
      jwk.key_ops.includes('sign') &&
      jwk.key_ops.includes('verify')
    )
  ) {
    return fail('key_ops must be ["sign", "verify"]');
  }
  const kid = typeof jwk.kid === 'string' ? jwk.kid.toLowerCase() : randomUUID();

  if (algorithm === 'HS256') {
    const k = jwk.k as string;
    if (k.length < MIN_SECRET_CHARS) return fail(`k must be at least ${MIN_SECRET_CHARS} characters`);
    try {
      createSecretKey(Buffer.from(k, 'base64url'));
    } catch {
      return fail('k is not a usable secret');
    }
    return { ok: true, kid, material: { publicJwk: null, privateJwk: { kty: 'oct', k, kid, alg: 'HS256' } } };
  }

  if (algorithm === 'RS256' && jwk.e !== 'AQAB') return fail('e must be "AQAB" (65537)');
  const members = pick(jwk, ['kty', 'crv', ...shape.publicMembers, ...shape.privateMembers]) as JsonWebKey;
  let privateKey: KeyObject;
  let publicKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: members, format: 'jwk' });
    publicKey = createPublicKey({
      key: pick(jwk, ['kty', 'crv', ...shape.publicMembers]) as JsonWebKey,
      format: 'jwk',
    });
  } catch {
    return fail(`not a valid ${shape.crv ?? shape.kty} private key`);
  }
  if (algorithm === 'RS256') {
    const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < RSA_MODULUS_BITS)
      return fail(`an RSA key must be at least ${RSA_MODULUS_BITS} bits (this one is ${bits})`);
  }
  // The public members must be the private key's: a key that signs what its published half cannot
  // verify would make every token it signs a 401.
  const probe = randomBytes(32);
  const digest = algorithm === 'EdDSA' ? null : 'sha256';
  let matches = false;
  try {
    matches = verify(digest, probe, publicKey, sign(digest, probe, privateKey));
  } catch {
    matches = false;
  }
  if (!matches) {
    return fail(`its public members (${shape.publicMembers.join(', ')}) do not belong to its private key`);
  }
  return { ok: true, kid, material: fromPrivateKey(algorithm, privateKey, kid) };
}

function fromPrivateKey(
  algorithm: Exclude<SigningAlgorithm, 'HS256'>,
  privateKey: KeyObject,
  kid: string,
): KeyMaterial {
  const shape = SHAPES[algorithm];
  const exported = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  const publicJwk = {
    kty: shape.kty,
    ...(shape.crv ? { crv: shape.crv } : {}),
    ...pick(exported, shape.publicMembers),
    kid,
    alg: algorithm,
    use: 'sig',
  } as PublicJwk;
  return { publicJwk, privateJwk: { ...exported, kid, alg: algorithm } };
}

/** The named members a JWK has, in the order named. */
function pick(jwk: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]]));
}
