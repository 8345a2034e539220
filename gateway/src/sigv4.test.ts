import { createHmac, randomBytes } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import {
  type AwsCredentials,
  createSigV4Signer,
  formatQuery,
  hmacHex,
  hmacKey,
  parseQuery,
  sha256Hex,
} from './sigv4.js';

const staticCreds: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const sessionCreds: AwsCredentials = {
  ...staticCreds,
  sessionToken: 'IQoJb3JpZ2luX2VjE//session+token/with=chars==',
};

/** The reference: @smithy/signature-v4 fed the query as any HTTP server would decode it. */
async function referenceSign(input: {
  method: string;
  host: string;
  path: string;
  sentQuery: string;
  body: Uint8Array | undefined;
  region: string;
  credentials: AwsCredentials;
  date: Date;
}) {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(input.sentQuery)) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else query[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  const signer = new SignatureV4({
    service: 'lambda',
    region: input.region,
    credentials: input.credentials,
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: input.method,
      protocol: 'https:',
      hostname: input.host.split(':')[0]!,
      path: input.path,
      query,
      headers: { host: input.host },
      body: input.body,
    } as never,
    { signingDate: input.date },
  );
  return (signed as unknown as { headers: Record<string, string> }).headers;
}

async function compare(
  rawQuery: string,
  options: {
    path?: string;
    method?: string;
    body?: Uint8Array;
    credentials?: AwsCredentials;
    date?: Date;
  } = {},
) {
  const parsed = parseQuery(rawQuery);
  if (!parsed.ok) throw new Error(`unexpected parse failure for ${rawQuery}`);
  const sentQuery = formatQuery(parsed.pairs);
  const input = {
    method: options.method ?? 'GET',
    host: 'rest-abc.lambda-url.eu-west-1.on.aws',
    path: options.path ?? '/rest/v1/todos',
    region: 'eu-west-1',
    credentials: options.credentials ?? staticCreds,
    date: options.date ?? new Date('2026-11-22T10:11:12.345Z'),
  };
  const body = options.body;
  const mine = createSigV4Signer().sign({
    ...input,
    query: parsed.pairs,
    payloadHash: sha256Hex(body ?? new Uint8Array()),
    service: 'lambda',
  });
  const reference = await referenceSign({ ...input, sentQuery, body });
  expect(mine.authorization, `query ${rawQuery}`).toBe(reference.authorization);
  expect(mine['x-amz-date']).toBe(reference['x-amz-date']);
  expect(mine['x-amz-content-sha256']).toBe(reference['x-amz-content-sha256']);
  expect(mine['x-amz-security-token']).toBe(reference['x-amz-security-token']);
  return { mine, sentQuery };
}

const POSTGREST_QUERIES = [
  '',
  'select=*',
  'select=id,name,author:authors(id,name)&order=created_at.desc.nullslast&limit=10&offset=0',
  "name=eq.O'Brien&title=like.*foo*",
  'or=(age.lt.18,age.gt.65)&and=(a.eq.1,b.neq.2)',
  'id=in.(1,2,3)&status=not.is.null',
  'name=eq.hello world',
  'name=eq.hello+world&tag=a%2Bb',
  'name=eq.caf%C3%A9&emoji=%F0%9F%98%80',
  'name=eq.%E6%97%A5%E6%9C%AC%E8%AA%9E',
  'id=gte.1&id=lte.10&id=neq.5',
  'b=2&a=1&b=1&a=3',
  'a=1&a=1',
  'already=%25encoded%2520twice&x=%2A%28%29',
  'select=*&columns=%22id%22,%22name%22',
  'flag&empty=&=novalue',
  'select=id&name&order=id',
  'name=eq.100%&b=%zz%4&c%=1',
  'a-b=1&a=2&a.b=3&a_b=4&A=5',
  'x=!&y=~&z=%7E&w=:@/?',
  'apikey-like=sb_publishable_x&X-Amz-Signature=ignored',
  'q=' + 'long,'.repeat(400),
];

describe('SigV4 signer vs @smithy/signature-v4', () => {
  it('signs PostgREST-style queries identically', async () => {
    for (const query of POSTGREST_QUERIES) await compare(query);
  });

  it('signs identically with a session token, other dates and methods, and bodies', async () => {
    const binary = new Uint8Array(4096).map((_, i) => (i * 31 + 7) & 0xff);
    const cases: Array<Parameters<typeof compare>[1]> = [
      { credentials: sessionCreds },
      { method: 'POST', body: new TextEncoder().encode('{"name":"é ☃ 🚀"}') },
      { method: 'PATCH', body: binary, credentials: sessionCreds },
      { method: 'DELETE', body: new Uint8Array() },
      { date: new Date('2027-01-01T00:00:00.000Z') },
      { path: '/rest/v1/my%20table' },
      { path: '/rest/v1/caf%C3%A9/' },
      { path: '/rest/v1/rpc/fn(x)*' },
      { path: '/rest/v1/' },
      // Unreserved-only paths take the signer's shortcut; dot segments and '//' must not.
      { path: '/rest/v1/a.b/..c/.d~e_f-g' },
      { path: '/rest/v1/./t/../u' },
      { path: '/rest/v1//t/.' },
      { path: '/auth/v1/token' },
    ];
    for (const options of cases) await compare('select=*&id=eq.1', options);
  });

  it('matches on 300 random queries over a hostile alphabet', async () => {
    const alphabet = [
      'a',
      'Z',
      '0',
      '*',
      '(',
      ')',
      ',',
      ':',
      '!',
      "'",
      ' ',
      '+',
      '%20',
      '%25',
      'é',
      '日',
      '😀',
      '~',
      '-',
      '.',
      '_',
      '=',
      '%3D',
      '&',
      '/',
      '?',
      '@',
      '$',
      ';',
      '"',
    ];
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const token = () => {
      let s = '';
      const len = 1 + rand(8);
      for (let i = 0; i < len; i++) s += alphabet[rand(alphabet.length)];
      return s;
    };
    for (let i = 0; i < 300; i++) {
      const raw = Array.from(
        { length: 1 + rand(5) },
        () => `${encodeURIComponent(token())}=${encodeURI(token())}`,
      ).join('&');
      const parsed = parseQuery(raw);
      if (!parsed.ok) continue;
      await compare(raw, { credentials: i % 2 ? sessionCreds : staticCreds });
    }
  });

  it('sorts repeated keys and values alike below and above the insertion-sort bound (16 pairs)', async () => {
    const pairs = (n: number) =>
      Array.from({ length: n }, (_, i) => `${'bac'[(i * 7) % 3]}=${(i * 5) % 11}`).join('&');
    for (const n of [2, 3, 16, 17, 40]) {
      await compare(pairs(n));
      await compare(`X-Amz-Signature=x&${pairs(n)}&x-amz-signature=y`);
    }
  });

  it('sends pairs in client order, PostgREST punctuation unescaped, a key without `=` as sent', () => {
    const parsed = parseQuery("select=*&name=eq.a+b&x=(1,2)&name=eq.c'd&&k&t=a%2Bb%26c%3Dd%3B%25%23&u=$/:@!");
    expect(parsed.ok && formatQuery(parsed.pairs)).toBe(
      "select=*&name=eq.a%20b&x=(1,2)&name=eq.c'd&k&t=a%2Bb%26c%3Dd%3B%25%23&u=$/:@!",
    );
    // supabase-js's `.in('id', [...])`, as URLSearchParams writes it: forwarded at a third of the size.
    const ids = Array.from({ length: 4000 }, (_, i) => i + 1000).join(',');
    const clientQuery = new URLSearchParams({ select: '*', id: `in.(${ids})` }).toString();
    const big = parseQuery(clientQuery);
    const sent = big.ok ? formatQuery(big.pairs) : '';
    expect(sent).toBe(`select=*&id=in.(${ids})`);
    expect(sent.length).toBeLessThan(clientQuery.length / 1.3);
    // As PostgREST (http-types) and URLSearchParams read it, a `%` that starts no escape is itself.
    const lone = parseQuery('a=100%&b=%zz%41&c%=%4');
    expect(lone.ok && formatQuery(lone.pairs)).toBe('a=100%25&b=%25zzA&c%25=%254');
    // Escaped bytes that are no UTF-8 have no decoded value to sign.
    expect(parseQuery('a=%E6%97')).toEqual({
      ok: false,
      reason: 'malformed percent-encoding in query string',
    });
    // For PostgREST (`semicolons`), `;` separates parameters as `&` does; elsewhere it is a value's.
    const rest = parseQuery('select=id;id=eq.1&name=a%3Bb;apikey=k', (key) => key === 'apikey', true);
    expect(rest.ok && formatQuery(rest.pairs)).toBe('select=id&id=eq.1&name=a%3Bb');
    const other = parseQuery('a=1;b=2', undefined, false);
    expect(other.ok && formatQuery(other.pairs)).toBe('a=1%3Bb%3D2');
    const dropped = parseQuery('apikey=secret&a=1', (key) => key === 'apikey');
    expect(dropped.ok && formatQuery(dropped.pairs)).toBe('a=1');
  });

  it('changes the signature when any signed part changes', () => {
    const signer = createSigV4Signer();
    const base = {
      method: 'GET',
      host: 'h.lambda-url.local.localhost:9000',
      path: '/rest/v1/t',
      query: [['a', '1']] as const,
      payloadHash: sha256Hex(''),
      region: 'local',
      service: 'lambda',
      credentials: staticCreds,
      date: new Date('2026-11-22T10:00:00Z'),
    };
    const sig = signer.sign(base).authorization;
    expect(signer.sign({ ...base }).authorization).toBe(sig);
    expect(signer.sign({ ...base, query: [['a', '2']] }).authorization).not.toBe(sig);
    expect(signer.sign({ ...base, path: '/rest/v1/u' }).authorization).not.toBe(sig);
    expect(signer.sign({ ...base, payloadHash: sha256Hex('x') }).authorization).not.toBe(sig);
    expect(signer.sign({ ...base, host: 'other.lambda-url.local.localhost:9000' }).authorization).not.toBe(
      sig,
    );
  });
});

describe('hmacHex (two one-shot hashes over a reused buffer)', () => {
  it('equals node:crypto HMAC-SHA256 for every length around the block and past the scratch buffer', () => {
    const lengths = [0, 1, 31, 32, 55, 56, 63, 64, 65, 127, 128, 1000, 1024 - 64, 1024, 5000];
    for (const keyLength of [32, 0, 1, 64, 65, 200]) {
      const key = randomBytes(keyLength);
      const prepared = hmacKey(key);
      for (const length of lengths) {
        // Multi-byte characters too: the message is written as UTF-8, as createHmac reads a string.
        const message = 'AWS4-HMAC-SHA256\nü€𝄞'.repeat(Math.ceil(length / 20) + 1).slice(0, length);
        expect(hmacHex(prepared, message), `key ${keyLength} B, message ${length} chars`).toBe(
          createHmac('sha256', key).update(message).digest('hex'),
        );
      }
    }
  });
});
