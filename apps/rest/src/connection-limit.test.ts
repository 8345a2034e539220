import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRestEngine, type RestEngine } from './engine.js';
import { fromPgError } from './errors.js';

// A project database at its CONNECTION LIMIT (SQLSTATE 53300 when the pool connects): 503 with a
// message that says so, Retry-After, and nothing about the server or the login role.

const suffix = randomBytes(4).toString('hex');
const database = `limited_${suffix}`; // CONNECTION LIMIT 1
const lockedRole = `limited_role_${suffix}`; // CONNECTION LIMIT 0: every login refused
const lockedPassword = `pw-${randomBytes(8).toString('hex')}`;
const login = new URL(inject('restDbUrl'));

const urlFor = (db: string, user?: string, password?: string) => {
  const url = new URL(login);
  url.pathname = `/${db}`;
  if (user) url.username = user;
  if (password) url.password = password;
  return url.toString();
};

async function asAdmin(sql: string) {
  const client = new pg.Client({ connectionString: inject('adminDbUrl') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const engines: { engine: RestEngine; pool: pg.Pool }[] = [];
function engineFor(connectionString: string) {
  const pool = new pg.Pool({ connectionString, max: 2 });
  pool.on('error', () => {});
  const engine = createRestEngine({ pool, schemas: ['public'], listenForReload: false });
  engines.push({ engine, pool });
  return engine;
}
const get = (engine: RestEngine, path = '/') =>
  engine.handle({ method: 'GET', path, rawQuery: '', headers: {} });

beforeAll(async () => {
  await asAdmin(`CREATE DATABASE ${database} CONNECTION LIMIT 1`);
  await asAdmin(`GRANT CONNECT ON DATABASE ${database} TO "${decodeURIComponent(login.username)}"`);
  await asAdmin(`CREATE ROLE ${lockedRole} LOGIN CONNECTION LIMIT 0 PASSWORD '${lockedPassword}'`);
  await asAdmin(`GRANT CONNECT ON DATABASE ${database} TO ${lockedRole}`);
});
afterAll(async () => {
  for (const { engine, pool } of engines) {
    await engine.close();
    await pool.end();
  }
  await asAdmin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await asAdmin(`DROP ROLE IF EXISTS ${lockedRole}`);
});

function expectLimitReached(response: Awaited<ReturnType<RestEngine['handle']>>) {
  expect(response.status, String(response.body)).toBe(503);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.headers['retry-after']).toBe('1');
  const body = JSON.parse(String(response.body));
  expect(body).toEqual({
    code: 'PGRST000',
    message: "Too many connections: the project's database connection limit is reached",
    details: null,
    hint: 'Retry shortly; requests already running hold every connection the project may open.',
  });
  for (const secret of [login.hostname, login.port, login.username, login.password, database, lockedRole]) {
    expect(String(response.body)).not.toContain(secret);
  }
}

describe('the project database at its connection limit', () => {
  it('answers 503 PGRST000 with Retry-After while the one connection is taken, 200 once it is free', async () => {
    const engine = engineFor(urlFor(database));
    const holder = new pg.Client({ connectionString: urlFor(database) });
    await holder.connect();
    try {
      expectLimitReached(await get(engine));
      expectLimitReached(await get(engine, '/anything'));
    } finally {
      await holder.end();
    }
    const freed = await get(engine);
    expect(freed.status, String(freed.body)).toBe(200);
  });

  it("says the same when the login role's limit is reached", async () => {
    expectLimitReached(await get(engineFor(urlFor(database, lockedRole, lockedPassword))));
  });

  it('tells a full server apart from the project limit', () => {
    const error = fromPgError({ code: '53300', message: 'sorry, too many clients already' }, false);
    expect(error.status).toBe(503);
    expect(error.headers['retry-after']).toBe('1');
    expect(error.body).toMatchObject({
      code: 'PGRST000',
      message: 'Too many connections: the database server has no free connection slots',
    });
  });
});

describe('other refused logins', () => {
  const closed = `closed_${suffix}`; // ALLOW_CONNECTIONS false, as a paused project's database
  const unreachable = `unreachable_${suffix}`; // no CONNECT for the login role
  beforeAll(async () => {
    await asAdmin(`CREATE DATABASE ${closed}`);
    await asAdmin(`GRANT CONNECT ON DATABASE ${closed} TO "${decodeURIComponent(login.username)}"`);
    await asAdmin(`ALTER DATABASE ${closed} ALLOW_CONNECTIONS false`);
    await asAdmin(`CREATE DATABASE ${unreachable}`);
    await asAdmin(`REVOKE CONNECT ON DATABASE ${unreachable} FROM PUBLIC`);
  });
  afterAll(async () => {
    await asAdmin(`DROP DATABASE IF EXISTS ${closed} WITH (FORCE)`);
    await asAdmin(`DROP DATABASE IF EXISTS ${unreachable} WITH (FORCE)`);
  });

  const expectRefused = async (connectionString: string, message: string, names: string[]) => {
    const response = await get(engineFor(connectionString));
    expect(response.status, String(response.body)).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(JSON.parse(String(response.body))).toMatchObject({ code: 'PGRST000', message });
    for (const name of [login.hostname, login.port, ...names])
      expect(String(response.body)).not.toContain(name);
  };

  it('answer 503 PGRST000 saying what happened, without naming the database, role or host', async () => {
    await expectRefused(
      urlFor(closed),
      "The project's database is not accepting connections (it may be paused, starting or stopping)",
      [closed],
    );
    await expectRefused(
      urlFor(database, lockedRole, 'not-the-password'),
      "The data API could not log in to the project's database",
      [lockedRole],
    );
    // Refused at login for want of CONNECT (FATAL 42501): a login failure, not the client's privileges.
    await expectRefused(urlFor(unreachable), "The data API could not log in to the project's database", [
      unreachable,
    ]);
    const missing = `missing_${suffix}`;
    await expectRefused(urlFor(missing), "The project's database does not exist", [missing]);
  });

  it("say a login role refused as NOLOGIN (a paused project's) may be paused, naming no role", () => {
    const error = fromPgError(
      {
        code: '28000',
        severity: 'FATAL',
        message: 'role "authenticator_abcdefghijklmnopqrst" is not permitted to log in',
      },
      false,
    );
    expect(error.status).toBe(503);
    expect(error.headers['retry-after']).toBe('1');
    expect(error.body).toMatchObject({
      code: 'PGRST000',
      message: "The project's database is not accepting connections (it may be paused, starting or stopping)",
    });
    expect(JSON.stringify(error.body)).not.toContain('authenticator_');
  });

  it('leave errors of statements alone', () => {
    const error = fromPgError({ code: '55000', severity: 'ERROR', message: 'cannot do that now' }, false);
    expect(error.status).toBe(500);
    expect(error.body).toMatchObject({ code: '55000', message: 'cannot do that now' });
  });
});
