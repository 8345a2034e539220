import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mintHs256 } from '@supaplane/jwt';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { type FunctionUrlEvent, createLambdaHandler, logFailure } from './lambda.js';
import { adminQuery, JWT_SECRET, ownerQuery, tokenFor, USER_C } from './test/helpers.js';

const event = (method: string, rawPath: string, rawQueryString = '', extra: Partial<FunctionUrlEvent> = {}) =>
  ({
    rawPath,
    rawQueryString,
    headers: {},
    requestContext: { http: { method } },
    ...extra,
  }) as FunctionUrlEvent;

/** The internal API's rest-config answer for the fixture database (docs/contracts.md). */
const restConfig = (ref: string, url: URL, jwtSecret: string) =>
  JSON.stringify({
    ref,
    db: {
      host: url.hostname,
      port: Number(url.port),
      database: 'proj_test',
      user: 'authenticator_test',
      password: 'auth-pw',
      ssl: false,
    },
    dbSchemas: ['public'],
    maxRows: 1000,
    statementTimeoutMs: 8000,
    jwtSecret,
    jwks: { keys: [] },
  });

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

describe('lambda handler (Function URL payload 2.0)', () => {
  it('serves reads and base64 writes from REST_* variables with at most two connections', async () => {
    const handler = createLambdaHandler({
      REST_DB_URL: inject('restDbUrl'),
      REST_JWT_SECRET: JWT_SECRET,
      REST_MAX_ROWS: '3',
      SUPAPLANE_PROJECT_REF: 'lambdaenv',
    });
    closers.push(handler.close);
    const read = await handler(event('GET', '/rest/v1/books', 'select=id&order=id'));
    expect(read.statusCode).toBe(200);
    expect(JSON.parse(read.body)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(read.isBase64Encoded).toBe(false);
    const token = await tokenFor('authenticated', USER_C);
    const write = await handler(
      event('POST', '/rest/v1/todos', 'select=task', {
        headers: { 'x-client-authorization': `Bearer ${token}`, prefer: 'return=representation' },
        body: Buffer.from(JSON.stringify({ task: 'from-lambda' })).toString('base64'),
        isBase64Encoded: true,
      }),
    );
    expect(write.statusCode).toBe(201);
    expect(JSON.parse(write.body)).toEqual([{ task: 'from-lambda' }]);
    await Promise.all(Array.from({ length: 12 }, () => handler(event('GET', '/books', 'select=id&limit=1'))));
    const [{ n }] = (await adminQuery<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'supaplane-rest-lambdaenv'`,
    )) as [{ n: number }];
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(2);
  });

  it('takes the schema check interval from REST_SCHEMA_CHECK_INTERVAL_MS', async () => {
    const handler = createLambdaHandler({
      REST_DB_URL: inject('restDbUrl'),
      REST_SCHEMA_CHECK_INTERVAL_MS: '0',
      SUPAPLANE_PROJECT_REF: 'lambdacheck',
    });
    closers.push(handler.close);
    await ownerQuery('CREATE FUNCTION lambda_shape() RETURNS int LANGUAGE sql STABLE AS $$ SELECT 1 $$');
    expect(JSON.parse((await handler(event('GET', '/rest/v1/rpc/lambda_shape'))).body)).toBe(1);
    await ownerQuery(`DROP FUNCTION lambda_shape();
      CREATE FUNCTION lambda_shape() RETURNS TABLE (n int) LANGUAGE sql STABLE AS $$ SELECT 1 $$`);
    expect(JSON.parse((await handler(event('GET', '/rest/v1/rpc/lambda_shape'))).body)).toEqual([{ n: 1 }]);
  });

  it('reports an unexpected failure to onError (the log by default) once', async () => {
    // Nothing listens on this port: the database is unreachable.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const reported: unknown[] = [];
    const handler = createLambdaHandler(
      { REST_DB_URL: `postgres://u:p@127.0.0.1:${port}/db`, SUPAPLANE_PROJECT_REF: 'lambdadown' },
      { onError: (error) => reported.push(error) },
    );
    closers.push(handler.close);
    const r = await handler(event('GET', '/rest/v1/books'));
    expect(r.statusCode).toBe(503);
    expect(reported).toHaveLength(1);
  });

  it('logs a 5xx the query caused (its statement timeout) as a warning, others as errors, by default', async () => {
    const handler = createLambdaHandler({
      REST_DB_URL: inject('restDbUrl'),
      SUPAPLANE_PROJECT_REF: 'lambdalog',
    });
    closers.push(handler.close);
    await ownerQuery(`CREATE FUNCTION lambda_slow() RETURNS int LANGUAGE sql
        SET statement_timeout = '50ms' AS $$ SELECT pg_sleep(1)::text::int $$`);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const r = await handler(event('POST', '/rest/v1/rpc/lambda_slow'));
      expect([r.statusCode, JSON.parse(r.body).code]).toEqual([500, '57014']);
      expect(error).not.toHaveBeenCalled();
      expect(warn.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
        {
          level: 'warn',
          msg: 'rest: query failed',
          code: '57014',
          error: 'canceling statement due to statement timeout',
        },
      ]);
      logFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
      expect(error.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
        {
          level: 'error',
          msg: 'rest: unexpected failure',
          code: 'ECONNREFUSED',
          error: 'connect ECONNREFUSED 127.0.0.1:1',
        },
      ]);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });

  it('answers each Set-Cookie a function sets in response.headers as a cookie of its own', async () => {
    const handler = createLambdaHandler({
      REST_DB_URL: inject('restDbUrl'),
      SUPAPLANE_PROJECT_REF: 'lambdacookie',
    });
    closers.push(handler.close);
    await ownerQuery(`CREATE FUNCTION lambda_login() RETURNS int LANGUAGE plpgsql AS $$ BEGIN
        PERFORM set_config('response.headers', '[{"Set-Cookie": "a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT"},
          {"Cache-Control": "no-store"}, {"set-cookie": "b=2; HttpOnly"}]', true);
        RETURN 1;
      END $$`);
    const r = await handler(event('POST', '/rest/v1/rpc/lambda_login'));
    expect([r.statusCode, r.body]).toEqual([200, '1']);
    expect(r.cookies).toEqual(['a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT', 'b=2; HttpOnly']);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.headers['cache-control']).toBe('no-store');
    expect((await handler(event('GET', '/rest/v1/books', 'select=id&limit=1'))).cookies).toBeUndefined();
  });

  it('answers a JSON 500 instead of a result Lambda would refuse for its size (6 MB)', async () => {
    const handler = createLambdaHandler({
      REST_DB_URL: inject('restDbUrl'),
      SUPAPLANE_PROJECT_REF: 'lambdabig',
    });
    closers.push(handler.close);
    await ownerQuery(`CREATE FUNCTION lambda_big(c text, n int) RETURNS text LANGUAGE sql IMMUTABLE AS
        $$ SELECT repeat(c, n) $$`);
    // Escaping counts: 1.6 M quotes are a 3.2 MB body and a 6.4 MB result once serialized.
    const big = await handler(
      event('GET', '/rest/v1/rpc/lambda_big', `c=%22&n=${Math.round(1.6 * 1024 * 1024)}`),
    );
    expect([big.statusCode, big.headers['content-type']]).toEqual([500, 'application/json; charset=utf-8']);
    expect(JSON.parse(big.body)).toMatchObject({ code: 'PGRSTX00' });
    const fits = await handler(
      event('GET', '/rest/v1/rpc/lambda_big', `c=x&n=${Math.round(5.9 * 1024 * 1024)}`),
    );
    expect(fits.statusCode).toBe(200);
    expect(fits.body.length).toBeGreaterThan(5.9 * 1024 * 1024);
  });

  it('fetches rest-config once per cold start with the internal token, and fails closed without leaking it', async () => {
    const url = new URL(inject('restDbUrl'));
    let fetches = 0;
    const config = createServer((req, res) => {
      fetches++;
      if (
        req.headers.authorization !== 'Bearer internal-token' ||
        req.url !== '/internal/v1/projects/lambdacfg/rest-config'
      ) {
        res.writeHead(401).end('{"message":"unauthorized"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(restConfig('lambdacfg', url, JWT_SECRET));
    });
    await new Promise<void>((r) => config.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => config.close(() => r())));
    const base = `http://127.0.0.1:${(config.address() as AddressInfo).port}`;
    const handler = createLambdaHandler({
      SUPAPLANE_PROJECT_REF: 'lambdacfg',
      SUPAPLANE_CONFIG_URL: base,
      SUPAPLANE_INTERNAL_TOKEN: 'internal-token',
    });
    closers.push(handler.close);
    expect(fetches).toBe(0);
    for (let i = 0; i < 3; i++) {
      const r = await handler(event('GET', '/rest/v1/authors', 'select=name&id=eq.1'));
      expect(JSON.parse(r.body)).toEqual([{ name: 'Ursula' }]);
    }
    expect(fetches).toBe(1);
    const denied = createLambdaHandler({
      SUPAPLANE_PROJECT_REF: 'lambdacfg',
      SUPAPLANE_CONFIG_URL: base,
      SUPAPLANE_INTERNAL_TOKEN: 'wrong-secret-token',
    });
    closers.push(denied.close);
    const r = await denied(event('GET', '/rest/v1/authors'));
    expect(r.statusCode).toBe(503);
    expect(r.body).not.toContain('wrong-secret-token');
    expect(JSON.parse(r.body)).toMatchObject({ message: 'Configuration service answered 401' });
    const missing = createLambdaHandler({});
    expect((await missing(event('GET', '/x'))).statusCode).toBe(503);
  });

  it('reads rest-config without fetch (its first call loads undici, ~40 ms of a cold start) and fails closed when the service is down or hangs', async () => {
    const url = new URL(inject('restDbUrl'));
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const held: (() => void)[] = [];
    let hang = false;
    const config = createServer((_req, res) => {
      if (hang) {
        held.push(() => res.destroy());
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(restConfig('lambdaget', url, JWT_SECRET));
    });
    await new Promise<void>((r) => config.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => config.close(() => r())));
    const port = (config.address() as AddressInfo).port;
    const start = (base: string) => {
      const handler = createLambdaHandler({ SUPAPLANE_PROJECT_REF: 'lambdaget', SUPAPLANE_CONFIG_URL: base });
      closers.push(handler.close);
      return handler;
    };
    try {
      const served = await start(`http://127.0.0.1:${port}`)(
        event('GET', '/rest/v1/authors', 'select=name&id=eq.1'),
      );
      expect(JSON.parse(served.body)).toEqual([{ name: 'Ursula' }]);
      expect(fetchSpy).not.toHaveBeenCalled();
      const unreachable = 'Could not reach the configuration service';
      const down = await start('http://127.0.0.1:1')(event('GET', '/rest/v1/authors'));
      expect([down.statusCode, JSON.parse(down.body).message]).toEqual([503, unreachable]);
      const bad = await start('not a url')(event('GET', '/rest/v1/authors'));
      expect([bad.statusCode, JSON.parse(bad.body).message]).toEqual([503, unreachable]);
      hang = true;
      const hung = await start(`http://127.0.0.1:${port}`)(event('GET', '/rest/v1/authors'));
      expect([hung.statusCode, JSON.parse(hung.body).message]).toEqual([503, unreachable]);
    } finally {
      fetchSpy.mockRestore();
      for (const release of held) release();
    }
  });

  it("verifies a token an HS256 signing key of rest-config's sharedKeys signs (by kid), and fails closed on a malformed field", async () => {
    const url = new URL(inject('restDbUrl'));
    const kid = '0b5e0c8e-3f52-4c2e-9a55-1d1f6f1e0a11';
    const shared = Buffer.from('a-shared-signing-secret-of-lambdashared');
    let sharedKeys: unknown = [{ kid, k: shared.toString('base64url') }];
    const config = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const body = JSON.parse(restConfig('lambdashared', url, JWT_SECRET));
      res.end(JSON.stringify({ ...body, sharedKeys }));
    });
    await new Promise<void>((r) => config.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => config.close(() => r())));
    const env = {
      SUPAPLANE_PROJECT_REF: 'lambdashared',
      SUPAPLANE_CONFIG_URL: `http://127.0.0.1:${(config.address() as AddressInfo).port}`,
      SUPAPLANE_INTERNAL_TOKEN: 'internal-token',
    };
    // An HS256 token with a kid in its header, as Supabase Auth signs with a signing key.
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const signed = (key: Buffer, headerKid: string) => {
      const body = `${part({ alg: 'HS256', typ: 'JWT', kid: headerKid })}.${part({ role: 'authenticated', iat: now, exp: now + 60 })}`;
      return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
    };
    const read = (handler: ReturnType<typeof createLambdaHandler>, token: string) =>
      handler(
        event('GET', '/rest/v1/authors', 'select=name&id=eq.1', {
          headers: { 'x-client-authorization': `Bearer ${token}` },
        }),
      );
    const handler = createLambdaHandler(env);
    closers.push(handler.close);
    const ok = await read(handler, signed(shared, kid));
    expect(ok.statusCode, ok.body).toBe(200);
    expect(JSON.parse(ok.body)).toEqual([{ name: 'Ursula' }]);
    // the kid names that key and no other: the project's JWT secret under it is refused
    const crossed = await read(handler, signed(Buffer.from(JWT_SECRET), kid));
    expect(crossed.statusCode).toBe(401);
    expect(JSON.parse(crossed.body)).toMatchObject({ code: 'PGRST301' });

    sharedKeys = [{ kid, k: 'not base64url!' }];
    const malformed = createLambdaHandler(env);
    closers.push(malformed.close);
    const refused = await read(malformed, signed(shared, kid));
    expect(refused.statusCode).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({
      message: 'The configuration service answered malformed sharedKeys',
    });
    expect(refused.body).not.toContain(shared.toString('base64url'));
  });

  it('re-reads rest-config when a token fails with PGRST301 (single-flight, at most once per second), then retries once', async () => {
    const url = new URL(inject('restDbUrl'));
    let secret = 'rotation-secret-one-0123456789-0123456789';
    let fetches = 0;
    let failing = false;
    const config = createServer((req, res) => {
      fetches++;
      if (failing || req.headers.authorization !== 'Bearer sfn_lambdarot_token') {
        res.writeHead(failing ? 500 : 401).end('{"message":"no"}');
        return;
      }
      // slow enough that concurrent refused requests overlap with one read
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(restConfig('lambdarot', url, secret));
      }, 30);
    });
    await new Promise<void>((r) => config.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => config.close(() => r())));
    let clock = 1_000_000;
    const handler = createLambdaHandler(
      {
        SUPAPLANE_PROJECT_REF: 'lambdarot',
        SUPAPLANE_CONFIG_URL: `http://127.0.0.1:${(config.address() as AddressInfo).port}`,
        SUPAPLANE_INTERNAL_TOKEN: 'sfn_lambdarot_token',
      },
      { now: () => clock },
    );
    closers.push(handler.close);
    const as = async (key: string) =>
      handler(
        event('GET', '/rest/v1/authors', 'select=name&id=eq.1', {
          headers: {
            'x-client-authorization': `Bearer ${await mintHs256(key, { ref: 'lambdarot', role: 'authenticated' })}`,
          },
        }),
      );
    const code = (r: { body: string }) => (JSON.parse(r.body) as { code?: string }).code;

    const first = secret;
    expect((await as(first)).statusCode).toBe(200);
    expect(fetches).toBe(1);

    // rotated while the config is only 0.5 s old: the request is not refused; it waits until the
    // config is 1 s old, then one re-read, the same request verified again and served
    secret = 'rotation-secret-two-0123456789-0123456789';
    clock += 500;
    const startedAt = performance.now();
    const served = await as(secret);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(450);
    expect(served.statusCode).toBe(200);
    expect(JSON.parse(served.body)).toEqual([{ name: 'Ursula' }]);
    expect(fetches).toBe(2);
    // the rotated-out secret now fails after one more read (a second later), and no retry
    clock += 1_000;
    const old = await as(first);
    expect(code(old)).toBe('PGRST301');
    expect(fetches).toBe(3);

    // concurrent refused requests share one read
    secret = 'rotation-secret-three-0123456789-012345678';
    clock += 6_000;
    const burst = await Promise.all(Array.from({ length: 6 }, () => as(secret)));
    expect(burst.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(fetches).toBe(4);

    // forged tokens with an unchanged config: 401 after a read, and the reads stay one per second
    // (concurrent ones share the wait and the read)
    clock += 6_000;
    expect(code(await as('forged-secret-0123456789-0123456789-0123'))).toBe('PGRST301');
    expect(fetches).toBe(5);
    clock += 500;
    const forged = await Promise.all(
      Array.from({ length: 4 }, () => as('forged-secret-0123456789-0123456789-0123')),
    );
    expect(forged.map(code)).toEqual(['PGRST301', 'PGRST301', 'PGRST301', 'PGRST301']);
    expect(fetches).toBe(6);

    // config service failing: still a clean 401 (not a 503), and valid tokens keep working
    failing = true;
    clock += 6_000;
    const down = await as('forged-secret-0123456789-0123456789-0123');
    expect(down.statusCode).toBe(401);
    expect(code(down)).toBe('PGRST301');
    expect(fetches).toBe(7);
    expect((await as(secret)).statusCode).toBe(200);
  });

  it('re-reads rest-config for a request under a newer config version and serves it with the new settings', async () => {
    const url = new URL(inject('restDbUrl'));
    let config: Record<string, unknown> = {
      ...JSON.parse(restConfig('lambdaver', url, JWT_SECRET)),
      version: 4,
      dbAggregatesEnabled: false,
    };
    let fetches = 0;
    /** While set, reads are held here unanswered (a config service that hangs). */
    let held: (() => void)[] | null = null;
    const server = createServer((_req, res) => {
      fetches++;
      const reply = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(config));
      };
      // slow enough that concurrent requests overlap with one read
      if (held) held.push(reply);
      else setTimeout(reply, 30);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    let clock = 5_000_000;
    const handler = createLambdaHandler(
      {
        SUPAPLANE_PROJECT_REF: 'lambdaver',
        SUPAPLANE_CONFIG_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        SUPAPLANE_INTERNAL_TOKEN: 'sfn_lambdaver_token',
      },
      { now: () => clock },
    );
    closers.push(handler.close);
    const get = (query: string, version?: string, profile?: string) =>
      handler(
        event('GET', profile ? '/rest/v1/items' : '/rest/v1/books', query, {
          headers: {
            ...(version === undefined ? {} : { 'x-supaplane-config-version': version }),
            ...(profile ? { 'accept-profile': profile } : {}),
          },
        }),
      );
    const answer = async (query: string, version?: string, profile?: string) => {
      const r = await get(query, version, profile);
      return [r.statusCode, JSON.parse(r.body)];
    };
    const books = async (version?: string) => JSON.parse((await get('select=id&order=id', version)).body);
    /** The function's database sessions: a replaced pool would have ended them. */
    const sessions = async () =>
      (
        await adminQuery<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'supaplane-rest-lambdaver'`,
        )
      ).map((r) => r.pid);

    expect((await books('4')).length).toBeGreaterThan(1);
    expect(fetches).toBe(1);
    const first = await sessions();
    expect(first.length).toBeGreaterThan(0);
    expect(await answer('select=count()', '4')).toEqual([400, expect.objectContaining({ code: 'PGRST123' })]);
    expect(await answer('select=label', '4', 'other')).toEqual([
      406,
      expect.objectContaining({ code: 'PGRST106' }),
    ]);

    // an equal, older, missing or malformed version reads nothing
    clock += 5_000;
    for (const version of [
      undefined,
      '4',
      '3',
      '0',
      '',
      'x',
      '5.0',
      '5e0',
      '-5',
      '5, 6',
      ' 5',
      '1234567890123456',
    ]) {
      expect((await books(version)).length, String(version)).toBeGreaterThan(1);
    }
    expect(fetches).toBe(1);

    // the operator changes max rows, exposed schemas and aggregates: the next request under version 5
    // is served with them, by one read however many arrive together
    config = { ...config, version: 5, maxRows: 1, dbSchemas: ['public', 'other'], dbAggregatesEnabled: true };
    const together = await Promise.all(Array.from({ length: 5 }, () => books('5')));
    expect(together).toEqual(Array.from({ length: 5 }, () => [{ id: 1 }]));
    expect(fetches).toBe(2);
    expect(await answer('select=count()', '5')).toEqual([200, [{ count: expect.any(Number) }]]);
    expect(await answer('select=label', '5', 'other')).toEqual([200, [{ label: 'other-one' }]]);
    expect(fetches).toBe(2);
    // the database connection did not change: the pool was kept
    expect(await sessions()).toEqual(expect.arrayContaining(first));

    // a change the function does not serve with (a rename): one read, the same engine and pool kept
    clock += 5_000;
    config = { ...config, version: 6 };
    expect(await books('6')).toEqual([{ id: 1 }]);
    expect(fetches).toBe(3);
    expect(await books('6')).toEqual([{ id: 1 }]); // the version was taken: no read again
    expect(fetches).toBe(3);
    expect(await sessions()).toEqual(expect.arrayContaining(first));

    // a version the config service does not have yet: the first requests under it wait for one read
    // (at most one a second)...
    clock += 200; // the config is 0.2 s old: the read waits until it is 1 s old
    const startedAt = performance.now();
    await Promise.all([books('7'), books('7'), books('7')]);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(750);
    expect(fetches).toBe(4);
    // ...and once a read came back without it, requests are served at once with what the function has,
    // even while the next read hangs, and reads go on behind them, still at most one a second
    held = [];
    clock += 1_000;
    expect(await books('7')).toEqual([{ id: 1 }]);
    await vi.waitFor(() => expect(fetches).toBe(5));
    expect(await books('7')).toEqual([{ id: 1 }]);
    expect(fetches).toBe(5);
    // the hanging read answers at last, with version 7: served from then on, with no further read
    config = { ...config, version: 7, maxRows: 2 };
    for (const reply of held) reply();
    held = null;
    await vi.waitFor(async () => expect(await books('7')).toEqual([{ id: 1 }, { id: 2 }]));
    expect(fetches).toBe(5);
  });
});
