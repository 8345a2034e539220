import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test/harness.js';

// Direct connections to a project's database as its owner role, with the password the operator
// chose at create (`db_pass`) or set later: what migrations, psql and ORMs need.

let h: Harness;
const logs: string[] = [];

beforeAll(async () => {
  h = await startHarness({
    resume: false,
    reconcileFunctions: false,
    logger: pino({ level: 'debug' }, { write: (line: string) => logs.push(line) }),
  });
  await h.registerCluster('database-access', 10);
});
afterAll(() => h?.close());

/** Logs in with `password` as the connection route describes; answers `current_user` or the error code. */
async function login(ref: string, password: string, database?: string): Promise<string> {
  const info = (await h.call('GET', `/v1/projects/${ref}/database/connection`)).json();
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.user,
    database: database ?? info.database,
    password,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query('select current_user as me');
    return rows[0].me;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

describe('direct database connections', () => {
  it('db_pass at create is the owner role password; the connection route says where, never the password', async () => {
    const created = await h.call('POST', '/v1/projects', {
      name: 'direct',
      ref: 'db-direct',
      db_pass: 'correct horse 1',
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.body).not.toContain('correct horse');
    const info = await h.call('GET', '/v1/projects/db-direct/database/connection');
    expect(info.statusCode, info.body).toBe(200);
    const body = info.json();
    expect(body).toMatchObject({ database: 'proj_db-direct', user: 'owner_db-direct', ssl: false });
    expect(body.uri).toBe(`postgresql://owner_db-direct@${body.host}:${body.port}/proj_db-direct`);
    expect(await login('db-direct', 'correct horse 1')).toBe('owner_db-direct');
    expect(await login('db-direct', 'correct horse 2')).toBe('28P01');
    // A migration made over the direct connection is the project's schema, as the SQL endpoint sees it.
    const client = new pg.Client({ ...body, password: 'correct horse 1', ssl: false });
    await client.connect();
    await client.query('create table migrated (id int primary key)');
    await client.end();
    const seen = await h.call('POST', '/v1/projects/db-direct/database/query', {
      query: "select to_regclass('public.migrated')::text as t",
    });
    expect(seen.json()).toEqual([{ t: 'migrated' }]);
    expect(logs.join('\n')).not.toContain('correct horse');
  });

  it("the owner role reaches its own database only: not another project's, not the cluster's", async () => {
    expect(
      (await h.call('POST', '/v1/projects', { name: 'other', ref: 'db-other', db_pass: 'other password' }))
        .statusCode,
    ).toBe(201);
    expect(await login('db-direct', 'correct horse 1', 'proj_db-other')).toBe('42501');
    expect(await login('db-direct', 'correct horse 1', 'postgres')).toBe('42501');
  });

  it('a new password works at once and the old one no longer does; the SQL endpoint follows', async () => {
    const changed = await h.call('PATCH', '/v1/projects/db-direct/database/password', {
      password: 'battery staple!',
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toEqual({ message: 'database password updated' });
    expect(await login('db-direct', 'battery staple!')).toBe('owner_db-direct');
    expect(await login('db-direct', 'correct horse 1')).toBe('28P01');
    const endpoint = await h.call('POST', '/v1/projects/db-direct/database/query', {
      query: 'select 1 as one',
    });
    expect(endpoint.json()).toEqual([{ one: 1 }]);
    expect(logs.length).toBeGreaterThan(10);
    expect(logs.join('\n')).not.toContain('battery staple');
  });

  it('a project made without db_pass has a password nobody knows until one is set', async () => {
    expect((await h.createProject('db-random')).statusCode).toBe(201);
    expect(await login('db-random', 'password')).toBe('28P01');
    expect(
      (await h.call('PATCH', '/v1/projects/db-random/database/password', { password: 'now known 123' }))
        .statusCode,
    ).toBe(200);
    expect(await login('db-random', 'now known 123')).toBe('owner_db-random');
  });

  it('refuses passwords a client could not type alike, unknown and paused projects, and changes nothing', async () => {
    for (const password of ['short', 'x'.repeat(129), 'pässwört-long', 'tab\there-long']) {
      const create = await h.call('POST', '/v1/projects', { name: 'bad', ref: 'db-bad', db_pass: password });
      expect(create.statusCode, password).toBe(400);
      expect(create.json().code).toBe('invalid_password');
      const patch = await h.call('PATCH', '/v1/projects/db-direct/database/password', { password });
      expect(patch.statusCode, password).toBe(400);
      expect(patch.json()).toEqual({
        message:
          'database password must be 8 to 128 printable ASCII characters (letters, digits, punctuation, space)',
        code: 'invalid_password',
      });
    }
    expect((await h.call('GET', '/v1/projects/db-bad')).statusCode).toBe(404);
    expect(await login('db-direct', 'battery staple!')).toBe('owner_db-direct');
    expect((await h.call('PATCH', '/v1/projects/db-direct/database/password', {})).statusCode).toBe(400);
    expect((await h.call('GET', '/v1/projects/db-none/database/connection')).statusCode).toBe(404);
    expect(
      (await h.call('PATCH', '/v1/projects/db-none/database/password', { password: 'whatever1' })).statusCode,
    ).toBe(404);

    expect((await h.call('POST', '/v1/projects/db-other/pause')).statusCode).toBeLessThan(300);
    const paused = await h.call('PATCH', '/v1/projects/db-other/database/password', {
      password: 'whatever1',
    });
    expect(paused.statusCode).toBe(409);
    expect(paused.json().code).toBe('project_not_active');
  });
});
