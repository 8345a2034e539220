import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, TEST_APP_CONFIG } from '../../test/harness.js';

// What an operator's script, written against Supabase's Management API, sends and expects.

let h: Harness;

beforeAll(async () => {
  // The result-size cap is what these tests are about, not the harness's 1 s statement timeout: making
  // and streaming 65 MiB took longer than that on a loaded CI machine (57014 instead of the cap's 400).
  h = await startHarness({
    resume: false,
    reconcileFunctions: false,
    config: { ...TEST_APP_CONFIG, sqlStatementTimeoutMs: 30_000 },
  });
  await h.registerCluster('operator-scripts', 10);
  expect((await h.createProject('script-one')).statusCode).toBe(201);
});
afterAll(() => h?.close());

const call = (...args: Parameters<Harness['call']>) => h.call(...args);

describe('projects', () => {
  it('a create in a region no worker cluster serves is a 400 naming the regions, not a 503 a script would retry forever', async () => {
    const response = await call('POST', '/v1/projects', {
      name: 'far',
      ref: 'script-far',
      region: 'us-east-1',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      message: 'no active worker cluster in region us-east-1 (regions: local)',
      code: 'invalid_region',
    });
    expect((await call('GET', '/v1/projects/script-far')).statusCode).toBe(404);
  });

  it('a URL ending in a slash is the same route, as Supabase (Express) serves it', async () => {
    expect((await call('GET', '/v1/projects/')).statusCode).toBe(200);
    const one = await call('GET', '/v1/projects/script-one/');
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json().ref).toBe('script-one');
    expect((await call('GET', '/v1/projects/script-one/api-keys/?reveal=true')).statusCode).toBe(200);
    expect((await call('GET', '/v2/nothing/')).json().code).toBe('route_not_found');
  });

  it('GET /v1/projects answers every project, as Supabase does, and pages only when asked', async () => {
    // 120 more project rows, copies of script-one under other refs (no databases: only the list reads them).
    await h.db.query(
      `INSERT INTO tm.projects OVERRIDING SYSTEM VALUE
       SELECT (jsonb_populate_record(p, jsonb_build_object('id', gen_random_uuid(), 'ref', 'bulk-' || g,
                 'number', nextval(pg_get_serial_sequence('tm.projects', 'number')),
                 'created_at', p.created_at + g * interval '1 ms'))).*
       FROM tm.projects p, generate_series(1, 120) g WHERE p.ref = 'script-one'`,
    );
    try {
      const all = await call('GET', '/v1/projects');
      expect(all.statusCode).toBe(200);
      const refs = all.json().map((p: { ref: string }) => p.ref);
      expect(refs).toHaveLength(121);
      expect(refs[0]).toBe('script-one');
      expect(refs.at(-1)).toBe('bulk-120');
      const page = (await call('GET', '/v1/projects?limit=10&offset=110')).json();
      expect(page.map((p: { ref: string }) => p.ref)).toEqual(refs.slice(110, 120));
    } finally {
      await h.db.query(`DELETE FROM tm.projects WHERE ref LIKE 'bulk-%'`);
    }
  });
});

describe('data-API settings', () => {
  it("a PATCH answers the settings without the JWT secret, as Supabase's does (a script logging it leaks nothing); GET still has it", async () => {
    const { jwt_secret } = (await call('GET', '/v1/projects/script-one/postgrest')).json();
    expect(jwt_secret).toEqual(expect.any(String));
    const changed = await call('PATCH', '/v1/projects/script-one/postgrest', { max_rows: 500 });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toEqual({
      db_schema: 'public',
      max_rows: 500,
      db_extra_search_path: 'public, extensions',
      db_pool: null,
      db_aggregates_enabled: false,
    });
    expect(changed.body).not.toContain(jwt_secret);
    expect((await call('GET', '/v1/projects/script-one/postgrest')).json()).toEqual({
      ...changed.json(),
      jwt_secret,
    });
  });
});

describe('a POST or DELETE that takes no body', () => {
  it('is served when a client sends content-type: application/json with an empty body, as curl -H and many HTTP libraries do', async () => {
    const json = { 'content-type': 'application/json' };
    const key = (
      await call('POST', '/v1/projects/script-one/api-keys', { type: 'secret', name: 'empty_body' })
    ).json();
    for (const [method, url, status] of [
      ['POST', '/v1/projects/script-one/pause', 200],
      ['POST', '/v1/projects/script-one/restore', 200],
      ['POST', '/v1/projects/script-one/jwt-secret/rotate', 200],
      ['POST', '/v1/projects/script-one/signing-keys/rotate', 200],
      ['DELETE', `/v1/projects/script-one/api-keys/${key.id}`, 200],
    ] as const) {
      const response = await call(method, url, '', json);
      expect(response.statusCode, `${method} ${url}: ${response.body}`).toBe(status);
    }
    expect((await call('GET', '/v1/projects/script-one')).json().status).toBe('ACTIVE_HEALTHY');
  });

  it('a route that takes a body still refuses an empty one as malformed JSON, and malformed JSON anywhere', async () => {
    const json = { 'content-type': 'application/json' };
    const empty = await call('POST', '/v1/projects/script-one/api-keys', '', json);
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe('invalid_json');
    const broken = await call('POST', '/v1/projects/script-one/pause', '{', json);
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('invalid_json');
  });
});

describe('the SQL endpoint answers values as Supabase does', () => {
  const query = (body: object) => call('POST', '/v1/projects/script-one/database/query', body);

  it('dates, times and intervals as Postgres writes them (no time zone shift, microseconds kept), bigints as numbers while exact', async () => {
    const response = await query({
      query: `set time zone 'Asia/Kolkata';
        select '2026-01-02'::date d, '2026-01-02 03:04:05.123456'::timestamp ts,
          '2026-01-02 03:04:05.123456+00'::timestamptz tz, '1 day 02:00'::interval i,
          array['2026-01-02'::date, null] ds, array['2026-01-02 03:04:05.5+00'::timestamptz] tzs,
          (select count(*) from generate_series(1, 3)) n, 9007199254740993::bigint big, 1.50::numeric num`,
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toEqual([
      {
        d: '2026-01-02',
        ts: '2026-01-02 03:04:05.123456',
        tz: '2026-01-02 08:34:05.123456+05:30',
        i: '1 day 02:00:00',
        ds: ['2026-01-02', null],
        tzs: ['2026-01-02 08:34:05.5+05:30'],
        n: 3,
        big: '9007199254740993',
        num: '1.50',
      },
    ]);
  });

  it('takes parameters ($1, $2, … bound by the database, never spliced into the text)', async () => {
    const response = await query({
      query: 'select $1::int + 1 as n, $2::text as t',
      parameters: [41, "it's"],
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toEqual([{ n: 42, t: "it's" }]);
    // A statement with parameters is one statement, as Postgres prepares it.
    const two = await query({ query: 'select $1::int; select 2', parameters: [1] });
    expect(two.statusCode).toBe(400);
    expect(two.json().code).toBe('42601');
    expect((await query({ query: 'select 1', parameters: 'x' })).statusCode).toBe(400);
  });

  it('read_only: reads answer, writes are refused and nothing is kept, not even past a COMMIT', async () => {
    expect((await query({ query: 'create table public.ro (id int)' })).statusCode).toBe(201);
    const read = await query({ query: 'select count(*) as n from public.ro', read_only: true });
    expect(read.statusCode, read.body).toBe(201);
    expect(read.json()).toEqual([{ n: 0 }]);
    for (const attempt of [
      'insert into public.ro values (1)',
      'commit; insert into public.ro values (2)',
      'set transaction_read_only = off; insert into public.ro values (3)',
    ]) {
      const write = await query({ query: attempt, read_only: true });
      expect(write.statusCode, attempt).toBe(400);
    }
    const offAgain = await query({ query: 'set transaction_read_only = off', read_only: true });
    expect(offAgain.statusCode).toBe(201);
    expect((await query({ query: 'select count(*) as n from public.ro' })).json()).toEqual([{ n: 0 }]);
    // read_only false is the default endpoint
    expect(
      (await query({ query: 'insert into public.ro values (4) returning id', read_only: false })).json(),
    ).toEqual([{ id: 4 }]);
  });
});

describe('the SQL endpoint and results too large to hold', () => {
  const query = (body: object) => call('POST', '/v1/projects/script-one/database/query', body);

  it('refuses a result past 64 MiB as it arrives (400 result_too_large), one huge value or many rows, and goes on serving', async () => {
    // Left alone, one value past V8's longest string (~512 MiB) threw out of pg's socket handler: an
    // uncaught exception that ends the whole process, while the request hung until its timeout.
    for (const big of [
      `select repeat('x', ${65 * 1024 * 1024}) as big`,
      `select repeat('x', 1024 * 1024) as part from generate_series(1, 70)`,
    ]) {
      const response = await query({ query: big });
      expect(response.statusCode, big).toBe(400);
      expect(response.json()).toEqual({
        message: 'the result is larger than 64 MiB; select less (fewer rows or columns, or substrings)',
        code: 'result_too_large',
      });
    }
    expect((await query({ query: 'select 1 as one' })).json()).toEqual([{ one: 1 }]);
  });
});

describe('API keys', () => {
  it("a revoke honours reveal as Supabase's does (and takes its was_compromised and reason)", async () => {
    const created = (
      await call('POST', '/v1/projects/script-one/api-keys?reveal=true', { type: 'secret', name: 'leaked' })
    ).json();
    const revoked = await call(
      'DELETE',
      `/v1/projects/script-one/api-keys/${created.id}?reveal=true&was_compromised=true&reason=leaked%20in%20CI`,
    );
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: created.id, api_key: created.api_key });

    const other = (
      await call('POST', '/v1/projects/script-one/api-keys?reveal=true', { type: 'secret', name: 'masked' })
    ).json();
    const masked = await call('DELETE', `/v1/projects/script-one/api-keys/${other.id}`);
    expect(masked.statusCode).toBe(200);
    expect(masked.json().api_key).not.toBe(other.api_key);
    expect(masked.body).not.toContain(other.api_key);
  });
});

describe('secrets', () => {
  it('a DELETE without a body is refused (400), not answered "0 secret(s) deleted"', async () => {
    expect(
      (await call('POST', '/v1/projects/script-one/secrets', [{ name: 'KEEP', value: 'v' }])).statusCode,
    ).toBe(201);
    const response = await call('DELETE', '/v1/projects/script-one/secrets');
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toEqual({
      message: 'body must be an array of secret names',
      code: 'validation_failed',
    });
    expect((await call('GET', '/v1/projects/script-one/secrets')).json()).toMatchObject([{ name: 'KEEP' }]);
    const named = await call('DELETE', '/v1/projects/script-one/secrets', ['KEEP']);
    expect(named.json()).toEqual({ message: '1 secret(s) deleted', deleted: 1 });
  });
});

describe('signing keys', () => {
  it("a create refuses an algorithm or status it would not honour instead of making an ES256 standby key anyway; Supabase's ES256/standby body, {} and no body are served", async () => {
    const count = async () =>
      (await call('GET', '/v1/projects/script-one/signing-keys')).json().keys.length as number;
    const before = await count();
    for (const body of [{ algorithm: 'RS256' }, { algorithm: 'ES256', status: 'in_use' }, { alg: 'ES256' }]) {
      const refused = await call('POST', '/v1/projects/script-one/signing-keys', body);
      expect(refused.statusCode, JSON.stringify(body)).toBe(400);
      expect(refused.json().code).toBe('validation_failed');
    }
    expect(await count()).toBe(before);
    for (const [body, headers] of [
      [{ algorithm: 'ES256', status: 'standby' }, {}],
      [{}, {}],
      [undefined, {}],
      ['', { 'content-type': 'application/json' }],
    ] as const) {
      const created = await call('POST', '/v1/projects/script-one/signing-keys', body, headers);
      expect(created.statusCode, JSON.stringify(body)).toBe(201);
      expect(created.json()).toMatchObject({ algorithm: 'ES256', status: 'standby' });
    }
    expect(await count()).toBe(before + 4);
  });
});

describe('a body field of the wrong JSON type', () => {
  it('is refused (400 naming it) rather than converted: true is no max_rows of 1, "true" no boolean, 1 no name', async () => {
    const before = (await call('GET', '/v1/projects/script-one')).json();
    const settings = (await call('GET', '/v1/projects/script-one/postgrest')).json();
    for (const [method, url, payload, message] of [
      ['PATCH', '/v1/projects/script-one/postgrest', { max_rows: true }, 'body/max_rows must be integer'],
      [
        'PATCH',
        '/v1/projects/script-one/postgrest',
        { db_aggregates_enabled: 'true' },
        'body/db_aggregates_enabled must be boolean',
      ],
      [
        'PATCH',
        '/v1/projects/script-one/postgrest',
        { db_aggregates_enabled: null },
        'body/db_aggregates_enabled must be boolean',
      ],
      [
        'PATCH',
        '/v1/projects/script-one',
        { limits: { db_size_mb: true } },
        'body/limits/db_size_mb must be integer',
      ],
      [
        'PATCH',
        '/v1/projects/script-one',
        { limits: { db_connections: '5' } },
        'body/limits/db_connections must be integer',
      ],
      ['PATCH', '/v1/projects/script-one', { name: 1 }, 'body/name must be string'],
      [
        'POST',
        '/v1/projects/script-one/api-keys',
        { type: 'secret', name: false },
        'body/name must be string',
      ],
      ['POST', '/v1/projects/script-one/secrets', [{ name: 'N', value: 1 }], 'body/0/value must be string'],
      ['DELETE', '/v1/projects/script-one/secrets', { names: ['N'] }, 'body must be array'],
      [
        'POST',
        '/v1/projects/script-one/database/query',
        { query: 'select 1', read_only: 'yes' },
        'body/read_only must be boolean',
      ],
    ] as const) {
      const response = await call(method, url, payload);
      expect(response.statusCode, `${method} ${url} ${JSON.stringify(payload)}`).toBe(400);
      expect(response.json()).toEqual({ message, code: 'validation_failed' });
    }
    expect((await call('GET', '/v1/projects/script-one')).json()).toEqual(before);
    expect((await call('GET', '/v1/projects/script-one/postgrest')).json()).toEqual(settings);
    // null where a field is nullable, and any JSON where any is taken, still pass
    const key = await call('POST', '/v1/projects/script-one/api-keys', {
      type: 'secret',
      name: 'typed',
      description: null,
    });
    expect(key.statusCode).toBe(201);
    const rows = await call('POST', '/v1/projects/script-one/database/query', {
      query: 'select $1::jsonb as j, $2::int as n',
      parameters: [{ a: [1, null] }, 7],
    });
    expect(rows.json()).toEqual([{ j: { a: [1, null] }, n: 7 }]);
    const limits = await call('PATCH', '/v1/projects/script-one', {
      limits: { requests_per_second: 5, burst: null },
    });
    expect(limits.json().limits).toMatchObject({ requests_per_second: 5, burst: 5 });
  });
});
