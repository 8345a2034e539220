import { type KeyObject, createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier } from './jwt.js';

// Forged and confused tokens against a project with every kind of key at once: the JWT secret, an
// HS256 signing key (sharedKeys) and RS256, ES256 and EdDSA public keys (jwks). Tokens are built by
// hand so that headers can say anything.

const now = 1_800_000_000;
const jwtSecret = 'project-a-jwt-secret-with-at-least-32-characters';
const sharedSecret = Buffer.from('project-a-hs256-signing-key-secret-bytes-0123456789');
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const publicJwk = (key: KeyObject, kid: string, alg: string) => ({
  ...key.export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
});
const jwks = {
  keys: [
    publicJwk(rsa.publicKey, 'rs-a', 'RS256'),
    publicJwk(ec.publicKey, 'es-a', 'ES256'),
    publicJwk(ed.publicKey, 'ed-a', 'EdDSA'),
  ],
};
const verifier = createJwtVerifier({
  jwtSecret,
  jwks,
  sharedKeys: [{ kid: 'hs-a', k: sharedSecret.toString('base64url') }],
});

const claims = { sub: 'u1', role: 'authenticated', iat: now, exp: now + 300 };
type Header = Record<string, unknown>;
const encode = (header: Header | string, payload: unknown = claims) =>
  `${b64(typeof header === 'string' ? header : header)}.${b64(payload)}`;

/** The signature each algorithm makes over `input`, with the named key. */
function signature(alg: string, input: string, key: KeyObject | Uint8Array | string): string {
  if (alg.startsWith('HS'))
    return createHmac(`sha${alg.slice(2)}`, key as Uint8Array)
      .update(input)
      .digest('base64url');
  if (alg === 'ES256')
    return sign('sha256', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' }).toString(
      'base64url',
    );
  if (alg === 'EdDSA') return sign(null, Buffer.from(input), key as KeyObject).toString('base64url');
  return sign('sha256', Buffer.from(input), key as KeyObject).toString('base64url');
}
function token(
  header: Header | string,
  key: KeyObject | Uint8Array | string,
  alg = (header as Header).alg as string,
  payload: unknown = claims,
) {
  const input = encode(header, payload);
  return `${input}.${signature(alg, input, key)}`;
}
const privateOf = { RS256: rsa.privateKey, ES256: ec.privateKey, EdDSA: ed.privateKey } as const;
const kidOf = { RS256: 'rs-a', ES256: 'es-a', EdDSA: 'ed-a' } as const;
const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'] as const;

const refused = (message: string) => ({ ok: false, error: { code: 'PGRST301', message } });
const claimsRefused = (message: string) => ({ ok: false, error: { code: 'PGRST303', message } });
const BAD_SIGNATURE = refused('JWSError JWSInvalidSignature');
const NO_KEY = refused('No suitable key or wrong key type');
const UNDECODABLE = refused('JWT could not be decoded');
const verify = (jwt: string) => verifier.verify(jwt, now);

describe('jwt attacks: every honest token verifies (the baseline the refusals below differ from)', () => {
  it('HS256 by the JWT secret (no kid) and by the signing key its kid names; RS256, ES256, EdDSA by kid', async () => {
    expect((await verify(token({ alg: 'HS256', typ: 'JWT' }, jwtSecret))).ok).toBe(true);
    expect((await verify(token({ alg: 'HS256', kid: 'hs-a' }, sharedSecret))).ok).toBe(true);
    for (const alg of ASYMMETRIC)
      expect((await verify(token({ alg, kid: kidOf[alg] }, privateOf[alg]))).ok, alg).toBe(true);
  });
});

const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });

describe('jwt attacks: algorithm confusion', () => {
  const publicKeyBytes: Record<string, string | Uint8Array> = {
    'RSA PEM (spki)': rsaPem,
    'RSA PEM (pkcs1)': rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }),
    'RSA DER (spki)': rsa.publicKey.export({ type: 'spki', format: 'der' }),
    'RSA JWK JSON': JSON.stringify(jwks.keys[0]),
    'RSA n (base64url text)': jwks.keys[0]!.n as string,
    'RSA n (bytes)': Buffer.from(jwks.keys[0]!.n as string, 'base64url'),
    'EC PEM': ec.publicKey.export({ type: 'spki', format: 'pem' }),
    'EC JWK JSON': JSON.stringify(jwks.keys[1]),
    'EC x (base64url text)': jwks.keys[1]!.x as string,
    'Ed25519 PEM': ed.publicKey.export({ type: 'spki', format: 'pem' }),
    'Ed25519 JWK JSON': JSON.stringify(jwks.keys[2]),
    'Ed25519 x (base64url text)': jwks.keys[2]!.x as string,
    'Ed25519 x (bytes)': Buffer.from(jwks.keys[2]!.x as string, 'base64url'),
    'the JWKS JSON': JSON.stringify(jwks),
  };

  it("an HS256 token MACed with a public key's bytes (PEM, DER, JWK JSON, n, x): no kid meets the secret, a public key's kid no key", async () => {
    for (const [name, bytes] of Object.entries(publicKeyBytes)) {
      const key = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      expect(await verify(token({ alg: 'HS256', typ: 'JWT' }, key)), name).toEqual(BAD_SIGNATURE);
      for (const kid of Object.values(kidOf)) {
        expect(await verify(token({ alg: 'HS256', kid }, key)), `${name} kid ${kid}`).toEqual(NO_KEY);
      }
      expect(await verify(token({ alg: 'HS256', kid: 'hs-a' }, key)), `${name} kid hs-a`).toEqual(
        BAD_SIGNATURE,
      );
      for (const alg of ['HS384', 'HS512'])
        expect(await verify(token({ alg }, key)), `${name} ${alg}`).toEqual(BAD_SIGNATURE);
    }
  });

  it('RS256, ES256 and EdDSA tokens whose kid names the HS256 signing key (or the secret MACs them) find no key', async () => {
    for (const alg of ASYMMETRIC) {
      expect(await verify(token({ alg, kid: 'hs-a' }, privateOf[alg])), alg).toEqual(NO_KEY);
      // A "signature" that is the shared secret's (or the JWT secret's) HMAC over the input.
      const input = encode({ alg, kid: 'hs-a' });
      for (const secret of [sharedSecret, Buffer.from(jwtSecret)]) {
        expect(await verify(`${input}.${signature('HS256', input, secret)}`), alg).toEqual(NO_KEY);
      }
      const withPublicKid = encode({ alg, kid: kidOf[alg] });
      expect(
        await verify(`${withPublicKid}.${signature('HS256', withPublicKid, sharedSecret)}`),
        alg,
      ).toEqual(BAD_SIGNATURE);
    }
  });

  it("a public key's kid on another algorithm's token, and HS256 tokens whose kid names a public key", async () => {
    // EdDSA signed by the Ed25519 key but naming the RSA key: no RSA key takes EdDSA.
    expect(await verify(token({ alg: 'EdDSA', kid: 'rs-a' }, ed.privateKey))).toEqual(NO_KEY);
    expect(await verify(token({ alg: 'RS256', kid: 'ed-a' }, rsa.privateKey))).toEqual(NO_KEY);
    expect(await verify(token({ alg: 'ES256', kid: 'rs-a' }, ec.privateKey))).toEqual(NO_KEY);
    for (const kid of Object.values(kidOf)) {
      expect(await verify(token({ alg: 'HS256', kid }, jwtSecret)), kid).toEqual(NO_KEY);
      expect(await verify(token({ alg: 'HS256', kid }, sharedSecret)), kid).toEqual(NO_KEY);
    }
  });

  it('an HS384 or HS512 token under the signing key its kid names is refused (that key is HS256); the JWT secret takes all three as PostgREST does', async () => {
    for (const alg of ['HS384', 'HS512']) {
      expect(await verify(token({ alg, kid: 'hs-a' }, sharedSecret)), alg).toEqual(
        refused('JWT algorithm is not allowed'),
      );
      expect((await verify(token({ alg }, jwtSecret))).ok, alg).toBe(true);
    }
  });

  it('alg spelled otherwise (hs256, Ed25519, ES256K, PS256, RS512, none, None, empty, absent, non-string) is refused before any key', async () => {
    const spellings: [unknown, KeyObject | string][] = [
      ['hs256', jwtSecret],
      ['Hs256', jwtSecret],
      ['HS256 ', jwtSecret],
      ['Ed25519', ed.privateKey],
      ['ED25519', ed.privateKey],
      ['ES256K', ec.privateKey],
      ['PS256', rsa.privateKey],
      ['RS512', rsa.privateKey],
      ['RS384', rsa.privateKey],
      ['ES384', ec.privateKey],
      ['none', jwtSecret],
      ['None', jwtSecret],
      ['NONE', jwtSecret],
      ['nOnE', jwtSecret],
    ];
    for (const [alg, key] of spellings) {
      const signAs =
        alg === 'Ed25519' || alg === 'ED25519'
          ? 'EdDSA'
          : alg === 'ES256K' || alg === 'ES384'
            ? 'ES256'
            : String(alg).startsWith('R') || alg === 'PS256'
              ? 'RS256'
              : 'HS256';
      const signed = token(
        { alg, kid: signAs === 'HS256' ? undefined : kidOf[signAs as 'RS256'] },
        key,
        signAs,
      );
      expect(await verify(signed), String(alg)).toEqual(refused(`JWT algorithm ${alg} is not allowed`));
      // Unsigned (RFC 7519's unsecured JWT: an empty third segment).
      expect(await verify(`${encode({ alg })}.`), String(alg)).toEqual(
        refused(`JWT algorithm ${alg} is not allowed`),
      );
    }
    expect(await verify(`${encode({ alg: '' })}.`)).toEqual(refused('JWT algorithm  is not allowed'));
    expect(await verify(`${encode({ typ: 'JWT' })}.`)).toEqual(refused('JWT algorithm none is not allowed'));
    expect(await verify(token({ typ: 'JWT' }, jwtSecret, 'HS256'))).toEqual(
      refused('JWT algorithm none is not allowed'),
    );
    for (const alg of [['HS256'], { HS256: true }, 256, null, true]) {
      expect(await verify(token({ alg }, jwtSecret, 'HS256')), JSON.stringify(alg)).toMatchObject({
        ok: false,
        error: { code: 'PGRST301' },
      });
    }
  });
});

describe('jwt attacks: header tricks', () => {
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const attackerEd = generateKeyPairSync('ed25519');
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' });

  it("an embedded jwk, jku, x5u or x5c naming the attacker's key is ignored: the signature meets the project's key only", async () => {
    const pointers: Header[] = [
      { jwk: attackerJwk },
      { jwk: { ...attackerJwk, kid: 'rs-a' }, kid: 'rs-a' },
      { jku: 'https://attacker.example/jwks.json' },
      { jku: 'https://attacker.example/jwks.json', kid: 'rs-a' },
      { x5u: 'https://attacker.example/cert.pem', kid: 'rs-a' },
      { x5c: [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')], kid: 'rs-a' },
    ];
    for (const extra of pointers) {
      const header = { alg: 'RS256', ...extra };
      // No kid: the one RSA key of the JWKS is tried, and the attacker's signature fails against it.
      expect(await verify(token(header, attacker.privateKey)), JSON.stringify(Object.keys(extra))).toEqual(
        BAD_SIGNATURE,
      );
    }
    expect(
      await verify(
        token({ alg: 'EdDSA', jwk: attackerEd.publicKey.export({ format: 'jwk' }) }, attackerEd.privateKey),
      ),
    ).toEqual(BAD_SIGNATURE);
    expect(
      await verify(
        token({ alg: 'HS256', jwk: { kty: 'oct', k: b64('attacker') }, kid: 'attacker' }, 'attacker'),
      ),
    ).toEqual(BAD_SIGNATURE);
  });

  it('crit naming an unknown (or a registered) header, and b64: false, refuse an otherwise valid token', async () => {
    const headers: Header[] = [
      { crit: ['x-unknown'], 'x-unknown': 1 },
      { crit: ['exp'] },
      { crit: [] },
      { crit: 'x-unknown' },
      { crit: ['b64'], b64: false },
    ];
    for (const extra of headers) {
      expect(await verify(token({ alg: 'HS256', ...extra }, jwtSecret)), JSON.stringify(extra)).toEqual(
        UNDECODABLE,
      );
      expect(
        await verify(token({ alg: 'HS256', kid: 'hs-a', ...extra }, sharedSecret)),
        JSON.stringify(extra),
      ).toEqual(UNDECODABLE);
      for (const alg of ASYMMETRIC) {
        expect(
          await verify(token({ alg, kid: kidOf[alg], ...extra }, privateOf[alg])),
          `${alg} ${JSON.stringify(extra)}`,
        ).toEqual(UNDECODABLE);
      }
    }
    // b64 outside crit has no effect (RFC 7797 §6): the payload is read as base64url, as signed.
    expect((await verify(token({ alg: 'HS256', b64: false }, jwtSecret))).ok).toBe(true);
    // b64: false with the raw payload signed (RFC 7797), which a JWT may never use.
    const input = `${b64({ alg: 'HS256', b64: false, crit: ['b64'] })}.${JSON.stringify(claims)}`;
    expect(await verify(`${input}.${signature('HS256', input, jwtSecret)}`)).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
  });

  it('a kid of path traversal, SQL, 10 kB or not a string names no key: HS falls back to the JWT secret (GoTrue), public algorithms find none', async () => {
    const kids: unknown[] = [
      '../../../etc/passwd',
      '../hs-a',
      "hs-a' OR '1'='1",
      'hs-a\u0000',
      ' hs-a',
      'HS-A',
      'x'.repeat(10_240),
      7,
      ['hs-a'],
      { kid: 'hs-a' },
      null,
    ];
    for (const kid of kids) {
      const label = JSON.stringify(kid).slice(0, 40);
      // Signed by the shared key: its kid is not named, so the JWT secret is tried and fails.
      expect(await verify(token({ alg: 'HS256', kid }, sharedSecret)), label).toEqual(BAD_SIGNATURE);
      // Whoever holds the JWT secret may write any kid (GoTrue: an unknown kid is the legacy secret's).
      expect((await verify(token({ alg: 'HS256', kid }, jwtSecret))).ok, label).toBe(true);
      for (const alg of ASYMMETRIC) {
        expect(await verify(token({ alg, kid }, privateOf[alg])), `${alg} ${label}`).toMatchObject({
          ok: false,
          error: { code: 'PGRST301' },
        });
      }
    }
  });

  it('duplicate JSON keys: the last wins, in the header (alg, kid) and in the claims the verifier hands back', async () => {
    const noneLast = '{"alg":"HS256","alg":"none"}';
    expect(await verify(token(noneLast, jwtSecret, 'HS256'))).toEqual(
      refused('JWT algorithm none is not allowed'),
    );
    const rsLast = '{"alg":"HS256","alg":"RS256","kid":"rs-a"}';
    expect(await verify(token(rsLast, rsaPem, 'HS256'))).toEqual(BAD_SIGNATURE);
    // kid: the shared key's first, then a public key's: the public key's is the one read, and an HS token naming it is refused.
    expect(await verify(token('{"alg":"HS256","kid":"hs-a","kid":"rs-a"}', sharedSecret, 'HS256'))).toEqual(
      NO_KEY,
    );
    const payload = '{"role":"authenticated","sub":"u1","role":"service_role","exp":1800000300,"exp":1}';
    const input = `${b64({ alg: 'HS256' })}.${b64(payload)}`;
    expect(await verify(`${input}.${signature('HS256', input, jwtSecret)}`)).toEqual(
      claimsRefused('JWT expired'),
    );
    const roleTwice = `${b64({ alg: 'HS256' })}.${b64('{"role":"anon","role":"authenticated","exp":1800000300}')}`;
    const result = await verify(`${roleTwice}.${signature('HS256', roleTwice, jwtSecret)}`);
    expect(result.ok && result.claims.role).toBe('authenticated');
  });

  it('a JWS in JSON serialization, extra or missing segments, a JWE and whitespace are refused as PostgREST does', async () => {
    const compact = token({ alg: 'HS256' }, jwtSecret);
    const [h, p, s] = compact.split('.') as [string, string, string];
    expect(await verify(JSON.stringify({ protected: h, payload: p, signature: s }))).toEqual(
      refused('Expected 3 parts in JWT; got 1'),
    );
    expect(
      await verify(JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] })),
    ).toEqual(refused('Expected 3 parts in JWT; got 1'));
    expect(await verify(`${compact}.`)).toEqual(refused('Expected 3 parts in JWT; got 4'));
    expect(await verify(`${compact}.${s}`)).toEqual(refused('Expected 3 parts in JWT; got 4'));
    expect(await verify(`${h}.${p}.${s}.${p}.${s}`)).toEqual(refused('Expected 3 parts in JWT; got 5'));
    expect(await verify(`${h}.${p}`)).toEqual(refused('Expected 3 parts in JWT; got 2'));
    expect(await verify(`${b64({ alg: 'dir', enc: 'A256GCM' })}..iv.ciphertext.tag`)).toEqual(
      refused('Expected 3 parts in JWT; got 5'),
    );
    // An empty, cut or extended signature.
    expect(await verify(`${h}.${p}.`)).toEqual(BAD_SIGNATURE);
    expect(await verify(`${h}.${p}.${s.slice(0, -1)}`)).toEqual(BAD_SIGNATURE);
    expect(await verify(`${h}.${p}.${s}A`)).toEqual(BAD_SIGNATURE);
    expect(await verify(`${h}.${p}.${s}==`)).toEqual(UNDECODABLE);
    // jose's decoder takes a trailing '=' or whitespace after the signature: the same signature over
    // the same bytes, so nothing is forged; each spelling is verified on its own (the gateway's
    // accepted-token cache is keyed by the exact string).
    expect((await verify(`${h}.${p}.${s}=`)).ok).toBe(true);
    // A payload that is no JSON object (a JSON array, a string), validly signed.
    for (const body of ['[1]', '"role"', 'null', 'not json']) {
      const input = `${b64({ alg: 'HS256' })}.${b64(body)}`;
      expect(await verify(`${input}.${signature('HS256', input, jwtSecret)}`), body).toEqual(UNDECODABLE);
    }
    // A header that is not JSON, or not base64url.
    expect(await verify(`${b64('not json')}.${p}.${s}`)).toEqual(UNDECODABLE);
    expect(await verify(`!!!.${p}.${s}`)).toEqual(UNDECODABLE);
  });
});

describe("jwt attacks: another project's keys", () => {
  const rsaB = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const edB = generateKeyPairSync('ed25519');
  const sharedB = Buffer.from('project-b-hs256-signing-key-secret-bytes-9876543210');

  it("tokens B's RS256, EdDSA and HS256 keys sign, with B's kids or A's, are refused by A", async () => {
    expect(await verify(token({ alg: 'RS256', kid: 'rs-b' }, rsaB.privateKey))).toEqual(NO_KEY);
    expect(await verify(token({ alg: 'RS256', kid: 'rs-a' }, rsaB.privateKey))).toEqual(BAD_SIGNATURE);
    expect(await verify(token({ alg: 'RS256' }, rsaB.privateKey))).toEqual(BAD_SIGNATURE);
    expect(await verify(token({ alg: 'EdDSA', kid: 'ed-b' }, edB.privateKey))).toEqual(NO_KEY);
    expect(await verify(token({ alg: 'EdDSA', kid: 'ed-a' }, edB.privateKey))).toEqual(BAD_SIGNATURE);
    // B's HS256 key under its own kid: A knows no such kid, so A's JWT secret is tried.
    expect(await verify(token({ alg: 'HS256', kid: 'hs-b' }, sharedB))).toEqual(BAD_SIGNATURE);
    expect(await verify(token({ alg: 'HS256', kid: 'hs-a' }, sharedB))).toEqual(BAD_SIGNATURE);
    expect(await verify(token({ alg: 'HS256' }, sharedB))).toEqual(BAD_SIGNATURE);
  });

  it('a key revoked (gone from the records) verifies nothing: its HS256 kid falls back to the JWT secret, its public kid to no key', async () => {
    const afterRevoke = createJwtVerifier({ jwtSecret, jwks: { keys: jwks.keys.slice(1) } });
    expect(await afterRevoke.verify(token({ alg: 'HS256', kid: 'hs-a' }, sharedSecret), now)).toEqual(
      BAD_SIGNATURE,
    );
    expect(await afterRevoke.verify(token({ alg: 'RS256', kid: 'rs-a' }, rsa.privateKey), now)).toEqual(
      NO_KEY,
    );
    expect(await afterRevoke.verify(token({ alg: 'RS256' }, rsa.privateKey), now)).toEqual(NO_KEY);
  });
});

describe('jwt attacks: exp, nbf and iat with 30 s of skew, for every algorithm', () => {
  const signers: [string, () => (payload: unknown) => string][] = [
    ['HS256 secret', () => (payload) => token({ alg: 'HS256' }, jwtSecret, 'HS256', payload)],
    ['HS256 key', () => (payload) => token({ alg: 'HS256', kid: 'hs-a' }, sharedSecret, 'HS256', payload)],
    ...ASYMMETRIC.map((alg): [string, () => (payload: unknown) => string] => [
      alg,
      () => (payload) => token({ alg, kid: kidOf[alg] }, privateOf[alg], alg, payload),
    ]),
  ];
  for (const [name, make] of signers) {
    it(`${name}: exp 31 s past refused, 29 s past accepted; nbf 30 s ahead accepted, 31 s refused; iat likewise`, async () => {
      const sign = make();
      const at = (extra: Record<string, unknown>) => verify(sign({ role: 'authenticated', ...extra }));
      expect(await at({ exp: now - 31 })).toEqual(claimsRefused('JWT expired'));
      expect(await at({ exp: now - 3600 })).toEqual(claimsRefused('JWT expired'));
      expect((await at({ exp: now - 29 })).ok).toBe(true);
      expect((await at({ nbf: now + 30, exp: now + 60 })).ok).toBe(true);
      expect(await at({ nbf: now + 31, exp: now + 60 })).toEqual(claimsRefused('JWT not yet valid'));
      expect((await at({ iat: now + 30, exp: now + 60 })).ok).toBe(true);
      expect(await at({ iat: now + 31, exp: now + 60 })).toEqual(claimsRefused('JWT issued at future'));
      // Claims of the wrong type are refused, never read as absent.
      expect(await at({ exp: String(now + 60) })).toEqual(claimsRefused('JWT claims validation failed'));
      expect(await at({ exp: null })).toEqual(claimsRefused('JWT claims validation failed'));
      expect(await at({ nbf: String(now - 60) })).toEqual(claimsRefused('JWT not yet valid'));
      expect(await at({ iat: String(now - 60) })).toEqual(claimsRefused('JWT issued at future'));
      // No exp: valid (PostgREST and Supabase accept such tokens; whoever signs decides).
      expect((await at({})).ok).toBe(true);
    });
  }
});
