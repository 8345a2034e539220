import { isIP } from 'node:net';
import { generateApiKey, hashApiKey, verifyApiKey } from '@supaplane/keys';
import { mintHs256Sync } from './minted-tokens.js';
import { matchHost } from './project-host.js';
import { ProjectRuntime } from './project-runtime.js';
import { parseApiKeyRecord, parseProjectRecord } from './records.js';
import { EMPTY_PAYLOAD_SHA256, type SigV4Signer, parseQuery } from './sigv4.js';

interface WarmUpParts {
  readonly signer: SigV4Signer;
  readonly isAllowedUpstream: (url: URL) => boolean;
  readonly region: string;
  readonly requireHttps: boolean;
}

const REF = 'warmupwarmupwarmupwa';

/**
 * Does, once at start-up and on made-up data, the one-time work that a fresh process would
 * otherwise do inside its first project's first request: Node compiles its IPv6 pattern on the first
 * connect to a host name (~10 ms on a small machine), and V8 compiles lazily the functions that
 * check a key, load and compile a project record (upstreams, JWT verifier), verify a token and sign.
 * No network, no cache touched; resolves with the milliseconds it took.
 */
export async function warmUpColdPath(parts: WarmUpParts): Promise<number> {
  const started = performance.now();
  const upstreamHost = `rest-${REF}.lambda-url.${parts.region}.on.aws`;
  isIP(upstreamHost);
  matchHost(`${REF}.warm-up.invalid`, 'warm-up.invalid');

  const key = generateApiKey(REF, 'publishable');
  if (!verifyApiKey(key, REF).ok) throw new Error('warm-up: key check failed');
  const keyRecord = parseApiKeyRecord({
    ref: REF,
    keyId: hashApiKey(key),
    type: 'publishable',
    role: 'anon',
    status: 'active',
  });
  const secret = `warm-up-secret-${REF}-0123456789abcdef`;
  const record = parseProjectRecord({
    ref: REF,
    status: 'ACTIVE_HEALTHY',
    jwtSecret: secret,
    jwks: { keys: [] },
    upstreams: { rest: { kind: 'lambda-url', url: `https://${upstreamHost}/` } },
    version: 1,
  });
  if (!record || !keyRecord) throw new Error('warm-up: record parsing failed');
  const runtime = new ProjectRuntime(record, parts.isAllowedUpstream, parts.region, parts.requireHttps);

  const now = Math.floor(Date.now() / 1000);
  const token = mintHs256Sync(secret, REF, keyRecord.role, now, 300);
  const verified = await runtime.verifyUserToken(token, now);
  if (!verified.ok) throw new Error('warm-up: token verification failed');

  const query = parseQuery('select=id,name&id=eq.1&order=name.desc');
  if (!query.ok) throw new Error('warm-up: query parsing failed');
  parts.signer.sign({
    method: 'GET',
    host: upstreamHost,
    path: '/rest/v1/warm_up',
    query: query.pairs,
    payloadHash: EMPTY_PAYLOAD_SHA256,
    region: parts.region,
    service: 'lambda',
    // A throw-away credentials object: its derived signing key is dropped with it.
    credentials: { accessKeyId: 'AKIDWARMUP', secretAccessKey: 'warm-up' },
    date: new Date(),
  });
  return performance.now() - started;
}
