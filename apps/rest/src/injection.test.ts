import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, bearer, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

let t: TestEngine;
const PWN = 'create table pwned()';

beforeAll(async () => {
  await ownerQuery(
    'CREATE TABLE canary (id int PRIMARY KEY, secret text); INSERT INTO canary VALUES (1, $$keep$$)',
  );
  t = testEngine({ txEnd: 'commit-allow-override' });
});
afterAll(() => t.close());

const enc = (s: string) => encodeURIComponent(s);

describe('injection attempts return errors or are plain values, never SQL', () => {
  it('in column names, casts, JSON paths, order, limit, embeds and hints', async () => {
    const queries = [
      `select=${enc(`id;${PWN}`)}`,
      `select=${enc(`"id"";${PWN};--"`)}`,
      `select=${enc(`id::text;${PWN}`)}`,
      `select=${enc(`secret->>x';${PWN};--`)}`,
      `select=${enc('id,pg_sleep(1)')}`,
      `select=${enc(`*,canary;${PWN}(*)`)}`,
      `select=${enc(`*,"books""; ${PWN}; --"(*)`)}`,
      `select=${enc(`*,books!x;${PWN}(*)`)}`,
      `order=${enc(`id;${PWN}`)}`,
      `order=${enc(`id.desc;${PWN}`)}`,
      `order=${enc(`"id"";${PWN};--"`)}`,
      `${enc(`id;${PWN}`)}=eq.1`,
      `${enc(`"id"" = 1; ${PWN}; --"`)}=eq.1`,
      `${enc(`secret->>x');${PWN};--`)}=eq.1`,
      `id=${enc(`eq.1;${PWN}`)}`,
      `secret=${enc(`fts(english);${PWN}).x`)}`,
      `or=${enc(`(id.eq.1,"id"";${PWN}".eq.1)`)}`,
    ];
    for (const q of queries) {
      const r = await t.call('GET', `/canary?${q}`);
      expect(r.status, q).toBeGreaterThanOrEqual(400);
      expect(r.status, q).toBeLessThan(500);
      expect(r.body.toString(), q).not.toMatch(/\bat\s+\S+\.(ts|js):\d+/);
    }
    // As in PostgREST 12, a limit or offset that is no integer is no limit or offset at all.
    // And what follows a complete `in` list, a select list at a `)` or a logic tree is not read
    // (QueryParams.parse has no eof): the list filters, the columns are selected.
    for (const q of [
      `limit=${enc(`1;${PWN}`)}`,
      `offset=${enc(`1);${PWN}`)}`,
      `id=${enc(`in.(1);${PWN};--)`)}`,
      `select=${enc(`id,secret);${PWN};--`)}`,
      `or=${enc(`(id.eq.1));${PWN};--`)}`,
    ]) {
      const r = await t.call('GET', `/canary?${q}`);
      expect(r.status, q).toBe(200);
      expect(r.json, q).toEqual([{ id: 1, secret: 'keep' }]);
    }
  });

  it('in filter values, which stay values', async () => {
    const values = [`'; ${PWN}; --`, `1' OR '1'='1`, `keep' OR true --`, `$$;${PWN};$$`];
    for (const v of values) {
      const r = await t.call('GET', `/canary?secret=eq.${enc(v)}`);
      expect(r.status, v).toBe(200);
      expect(r.json, v).toEqual([]);
      const list = await t.call('GET', `/canary?secret=in.(${enc(`"${v.replaceAll('"', '\\"')}"`)})`);
      expect(list.json, v).toEqual([]);
      const tree = await t.call(
        'GET',
        `/canary?or=(secret.eq.${enc(`"${v}"`)},secret.like.${enc(`"${v}*"`)})`,
      );
      expect(tree.json, v).toEqual([]);
    }
  });

  it('in paths, profiles, payload keys, columns, on_conflict and RPC names and arguments', async () => {
    const service = await bearer('service_role');
    const attempts: [string, string, Record<string, string>, unknown?][] = [
      ['GET', `/${enc(`canary;${PWN}`)}`, {}],
      ['GET', `/${enc(`canary"; ${PWN}; --`)}`, {}],
      ['GET', '/canary', { 'accept-profile': `public;${PWN}` }],
      ['POST', '/canary', { 'content-profile': `public"; ${PWN}; --` }, { id: 2 }],
      ['POST', '/canary', service, { [`id") VALUES (3); ${PWN}; --`]: 2 }],
      ['POST', `/canary?columns=${enc(`id;${PWN}`)}`, service, { id: 2 }],
      [
        'POST',
        `/canary?on_conflict=${enc(`id);${PWN};--`)}`,
        { ...service, prefer: 'resolution=merge-duplicates' },
        { id: 1 },
      ],
      ['PATCH', '/canary?id=eq.1', service, { [`secret" = 'x'; ${PWN}; --`]: 'y' }],
      ['POST', `/rpc/${enc(`add;${PWN}`)}`, {}, { a: 1, b: 2 }],
      ['POST', `/rpc/${enc(`add"(1,2); ${PWN}; --`)}`, {}, {}],
      ['POST', '/rpc/add', {}, { a: `1); ${PWN}; --`, b: 1 }],
      ['POST', '/rpc/add', {}, { [`a" := 1); ${PWN}; --`]: 1, b: 1 }],
      ['GET', `/rpc/add?a=${enc(`1);${PWN};--`)}&b=1`, {}],
      ['POST', '/rpc/echo', {}, `{"x": "'); ${PWN}; --"}`],
    ];
    for (const [method, path, headers, body] of attempts) {
      const r = await t.call(method, path, { headers, ...(body !== undefined ? { body } : {}) });
      if (path === '/rpc/echo') {
        expect(r.status).toBe(200);
        expect(r.json).toEqual({ x: `'); ${PWN}; --` });
        continue;
      }
      expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${method} ${path}`).toBeLessThan(500);
    }
  });

  it('names no role of another project on the server through a cast to regrole', async () => {
    const other = `authenticator_other_${Date.now()}`;
    await adminQuery(`CREATE ROLE ${other} NOLOGIN`);
    try {
      const [role] = await adminQuery<{ oid: number }>('SELECT oid::int FROM pg_roles WHERE rolname = $1', [
        other,
      ]);
      const oid = role!.oid;
      await ownerQuery(
        `CREATE TABLE role_probe (id int PRIMARY KEY, v text); INSERT INTO role_probe VALUES (${oid}, '{${oid}}')`,
      );
      for (const select of ['id::regrole', 'r:id::REGROLE', 'v::regrole', 'v::regrole[]', 'v::_regrole']) {
        const r = await t.call('GET', `/role_probe?select=${enc(select)}`);
        expect(r.status, select).toBe(400);
        expect(r.json, select).toMatchObject({ code: 'PGRST100' });
        expect(r.body.toString(), select).not.toContain(other);
      }
      const plain = await t.call('GET', '/role_probe?select=id::text');
      expect(plain.json).toEqual([{ id: String(oid) }]);
    } finally {
      await adminQuery(`DROP ROLE ${other}`);
    }
  });

  it('in aggregate functions: their columns, casts, JSON paths and aliases', async () => {
    const aggregates = testEngine({ aggregatesEnabled: true });
    try {
      const selects = [
        `id.sum();${PWN}`,
        `id.sum(${PWN})`,
        `"id"";${PWN};--".sum()`,
        `id::text;${PWN}.max()`,
        `id.sum()::int;${PWN}`,
        `secret->>x';${PWN};--.max()`,
        `count();${PWN}`,
        `count(${PWN})`,
        `id.${PWN}()`,
      ];
      for (const select of selects) {
        const r = await aggregates.call('GET', `/canary?select=${enc(select)}`);
        expect(r.status, select).toBeGreaterThanOrEqual(400);
        expect(r.status, select).toBeLessThan(500);
      }
      // What follows a `)` ending the list is not read, as in PostgREST.
      for (const select of [`id.sum()::text);${PWN};--`, `count()::text);${PWN};--`]) {
        const r = await aggregates.call('GET', `/canary?select=${enc(select)}`);
        expect([select, r.status, Object.values((r.json as object[])[0]!)]).toEqual([select, 200, ['1']]);
      }
      // An alias is only a key, however it is spelled.
      const alias = `x"; ${PWN}; --`;
      const quoted = `"${alias.replaceAll('"', '\\"')}"`;
      const named = await aggregates.call('GET', `/canary?select=${enc(`${quoted}:count(),secret.max()`)}`);
      expect([named.status, named.json]).toEqual([200, [{ [alias]: 1, max: 'keep' }]]);
    } finally {
      await aggregates.close();
    }
  });

  it('left the database untouched', async () => {
    expect(await adminQuery(`SELECT to_regclass('public.pwned') AS t`)).toEqual([{ t: null }]);
    expect(await adminQuery('SELECT id, secret FROM canary')).toEqual([{ id: 1, secret: 'keep' }]);
  });
});
