import { describe, expect, it } from 'vitest';
import { ProjectRuntime, serviceForPath } from './project-runtime.js';
import { hs256 } from './testing/tokens.js';
import { createUpstreamAllowlist } from './upstream-allowlist.js';

const secret = 'project-secret-project-secret-project-secret';
const allow = createUpstreamAllowlist(['*.lambda-url.*.on.aws', '*.svc.localhost:9000']);

function runtime(
  upstreams: Record<string, { kind: 'lambda-url' | 'http'; url: string; region?: string } | null> = {},
) {
  return new ProjectRuntime(
    {
      ref: 'abcdefghijklmnopqrst',
      status: 'ACTIVE_HEALTHY',
      jwtSecret: secret,
      jwks: null,
      upstreams,
      rateLimit: null,
      version: 1,
    },
    allow,
    'eu-west-1',
  );
}

describe('project runtime', () => {
  it('remembers verified user tokens only until they expire (with 30 s skew)', async () => {
    const project = runtime();
    const now = 1_800_000_000;
    const token = hs256(secret, { role: 'authenticated', exp: now + 10 });
    expect(await project.verifyUserToken(token, now)).toEqual({ ok: true });
    expect(project.verifyUserToken(token, now + 35)).toEqual({ ok: true }); // synchronous: cached
    expect(await project.verifyUserToken(token, now + 45)).toMatchObject({
      ok: false,
      error: { code: 'PGRST303' },
    });
    const forged = hs256('another-secret-another-secret-another-secret', {
      role: 'service_role',
      exp: now + 10,
    });
    for (let i = 0; i < 2; i++) {
      expect(await project.verifyUserToken(forged, now)).toMatchObject({
        ok: false,
        error: { code: 'PGRST301' },
      });
    }
  });

  it('keeps only allow-listed upstreams and maps prefixes to services', () => {
    const project = runtime({
      rest: { kind: 'lambda-url', url: 'https://abc.lambda-url.eu-west-1.on.aws/', region: 'eu-west-1' },
      auth: { kind: 'http', url: 'http://auth.svc.localhost:9000/base/' },
      storage: { kind: 'http', url: 'http://auth.svc.localhost:9001/' },
      graphql: { kind: 'lambda-url', url: 'https://abc.lambda-url.eu-west-1.on.aws.evil.com/' },
      functions: { kind: 'http', url: 'not a url' },
      realtime: null,
    });
    expect(project.upstreams.get('rest')).toMatchObject({
      kind: 'lambda-url',
      host: 'abc.lambda-url.eu-west-1.on.aws',
    });
    expect(project.upstreams.get('auth')).toMatchObject({
      kind: 'http',
      basePath: '/base',
      host: 'auth.svc.localhost:9000',
    });
    expect(project.upstreams.get('storage')?.kind).toBe('disallowed');
    expect(project.upstreams.get('graphql')?.kind).toBe('disallowed');
    expect(project.upstreams.get('functions')?.kind).toBe('disallowed');
    expect(project.upstreams.has('realtime')).toBe(false);
    const aws = new ProjectRuntime(
      {
        ref: 'abcdefghijklmnopqrst',
        status: 'ACTIVE_HEALTHY',
        jwtSecret: secret,
        jwks: null,
        upstreams: { rest: { kind: 'lambda-url', url: 'http://abc.lambda-url.eu-west-1.on.aws/' } },
        rateLimit: null,
        version: 1,
      },
      allow,
      'eu-west-1',
      true,
    );
    expect(aws.upstreams.get('rest')?.kind).toBe('disallowed');
    expect(serviceForPath('/rest/v1')).toBe('rest');
    expect(serviceForPath('/rest/v1/todos')).toBe('rest');
    expect(serviceForPath('/rest/v10')).toBeNull();
    expect(serviceForPath('/graphql/v1')).toBe('graphql');
  });
});

describe("a project's HS256 signing keys", () => {
  const kid = '0b6f2c1e-95a4-4f0e-8a57-1d2c3b4a5e01';
  const shared = 'imported-shared-secret-0123456789';
  const record = (sharedKeys: { kid: string; k: string }[]) =>
    new ProjectRuntime(
      {
        ref: 'abcdefghijklmnopqrst',
        status: 'ACTIVE_HEALTHY',
        jwtSecret: secret,
        jwks: null,
        sharedKeys,
        upstreams: {},
        rateLimit: null,
        version: 1,
      },
      allow,
      'eu-west-1',
    );

  it("verify user tokens by kid; the JWT secret still verifies and mints; a revoked key's tokens fail", async () => {
    const now = 1_800_000_000;
    const project = record([{ kid, k: Buffer.from(shared).toString('base64url') }]);
    const token = hs256(shared, { role: 'authenticated', sub: 'u1', exp: now + 60 }, { kid });
    expect(await project.verifyUserToken(token, now)).toEqual({ ok: true });
    expect(await project.verifyUserToken(hs256(secret, { role: 'anon', exp: now + 60 }), now)).toEqual({
      ok: true,
    });
    expect(project.jwtSecret).toBe(secret);
    // The record after the key is revoked: the tenant-manager leaves it out.
    expect(await record([]).verifyUserToken(token, now)).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
  });
});
