import { mintHs256 } from '@supaplane/jwt';
import pg from 'pg';
import { inject } from 'vitest';
import { createRestEngine, type RestEngine, type RestEngineOptions, type RestResponse } from '../engine.js';

export const JWT_SECRET = 'test-jwt-secret-test-jwt-secret-0123456789';
export const USER_A = '00000000-0000-0000-0000-00000000000a';
export const USER_B = '00000000-0000-0000-0000-00000000000b';
/** Writes as this user, so read tests on A and B see stable rows. */
export const USER_C = '00000000-0000-0000-0000-00000000000c';

export interface TestEngine {
  engine: RestEngine;
  pool: pg.Pool;
  /** `call('GET', '/books?select=id', { headers })`: the query string is passed raw, as sent. */
  call(
    method: string,
    url: string,
    init?: { headers?: Record<string, string>; body?: unknown },
  ): Promise<Result>;
  close(): Promise<void>;
}

export interface Result extends RestResponse {
  json: unknown;
}

/** An engine over the fixture database, logging in as the data API's role (or `connectionString`). */
export function testEngine(
  overrides: Partial<RestEngineOptions> = {},
  connectionString = inject('restDbUrl'),
): TestEngine {
  const pool = new pg.Pool({ connectionString, max: 4 });
  const engine = createRestEngine({
    pool,
    schemas: ['public', 'other'],
    jwtSecret: JWT_SECRET,
    listenForReload: false,
    ...overrides,
  });
  return {
    engine,
    pool,
    async call(method, url, init = {}) {
      const q = url.indexOf('?');
      const body =
        init.body === undefined
          ? undefined
          : typeof init.body === 'string' || Buffer.isBuffer(init.body)
            ? init.body
            : JSON.stringify(init.body);
      const response = await engine.handle({
        method,
        path: q < 0 ? url : url.slice(0, q),
        rawQuery: q < 0 ? '' : url.slice(q + 1),
        headers: init.headers ?? {},
        ...(body !== undefined ? { body: Buffer.from(body) } : {}),
      });
      const text = response.body.toString();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { ...response, json };
    },
    async close() {
      await engine.close();
      await pool.end();
    },
  };
}

export const tokenFor = (role: string, sub?: string, extra: Record<string, unknown> = {}) =>
  mintHs256(JWT_SECRET, { ref: 'test', role, claims: { ...(sub ? { sub } : {}), ...extra } });

export const bearer = async (role: string, sub?: string) => ({
  authorization: `Bearer ${await tokenFor(role, sub)}`,
});

/** Runs SQL as the superuser of the project database (for checking results directly). */
export async function adminQuery<T = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: inject('adminDbUrl') });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export async function ownerQuery(sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: inject('ownerDbUrl') });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}
