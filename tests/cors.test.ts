import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpResult, http, projectUrl, rest } from './support/clients.js';
import { expectNoApiKey } from './support/expect.js';
import { createProjects, deleteProject, sql, type TestProject } from './support/projects.js';

const ORIGIN = 'https://app.example.com';
// What supabase-js sends from a browser.
const REQUESTED_HEADERS = [
  'apikey',
  'authorization',
  'content-type',
  'x-client-info',
  'prefer',
  'accept-profile',
];
const PREFIXES = [
  '/rest/v1/',
  '/auth/v1/',
  '/storage/v1/',
  '/functions/v1/',
  '/realtime/v1/',
  '/graphql/v1/',
];

let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('cors-a', 'cors-b');
  await sql(
    a.ref,
    "create table public.pets (id int primary key, name text); insert into public.pets values (1, 'rex')",
  );
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

const header = (res: HttpResult, name: string) => {
  const value = res.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
};

/** `*` or a comma list containing every wanted item (case-insensitive). */
function expectListAllows(res: HttpResult, name: string, wanted: string[]) {
  const value = header(res, name).toLowerCase();
  if (value.trim() === '*') return;
  const items = value.split(',').map((s) => s.trim());
  for (const item of wanted) expect(items, `${name}: ${value}`).toContain(item.toLowerCase());
}

function expectAllowsOrigin(res: HttpResult) {
  expect(['*', ORIGIN], JSON.stringify(res.headers)).toContain(header(res, 'access-control-allow-origin'));
}

function preflight(ref: string, path: string, method: string) {
  return http(`${projectUrl(ref)}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin: ORIGIN,
      'access-control-request-method': method,
      'access-control-request-headers': REQUESTED_HEADERS.join(','),
    },
  });
}

describe('CORS', () => {
  describe.each(PREFIXES)('preflight on %s', (prefix) => {
    it.each(['GET', 'POST', 'PATCH', 'DELETE'])(
      '%s from a browser origin is answered without a key',
      async (method) => {
        for (const project of [a, b]) {
          const res = await preflight(project.ref, `${prefix}some/path?x=1`, method);
          expect([200, 204], res.text).toContain(res.status);
          expectAllowsOrigin(res);
          expectListAllows(res, 'access-control-allow-methods', [method]);
          expectListAllows(res, 'access-control-allow-headers', REQUESTED_HEADERS);
          expect(res.text).not.toContain('No API key found');
        }
      },
    );
  });

  it('a real cross-origin read carries CORS headers and exposes Content-Range (supabase-js counts)', async () => {
    const res = await rest(a.ref, 'pets?select=name', {
      key: a.publishableKey,
      headers: { origin: ORIGIN, prefer: 'count=exact' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ name: 'rex' }]);
    expectAllowsOrigin(res);
    expect(header(res, 'content-range')).toBe('0-0/1');
    expectListAllows(res, 'access-control-expose-headers', ['content-range']);
  });

  it('errors carry CORS headers too, so the browser app can read them', async () => {
    const res = await rest(a.ref, 'pets', { headers: { origin: ORIGIN } });
    expectNoApiKey(res);
    expectAllowsOrigin(res);
  });
});
