import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type Harness, pgUrl, startHarness } from '../../test/harness.js';

// The OpenAPI document an operator generates a client from, walked against the routes the app really
// registered, and the README's route table compared with both.

interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; schema: Record<string, unknown> }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}
type Spec = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

let h: Harness;
let spec: Spec;
const operations: { method: string; path: string; op: Operation }[] = [];
const toOpenApi = (url: string) => url.replace(/:(\w+)/g, '{$1}');

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  spec = (await h.tm.publicApp.inject({ url: '/docs/json' })).json() as Spec;
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops))
      operations.push({ method: method.toUpperCase(), path, op });
  }
});
afterAll(() => h?.close());

function clusterRegistration() {
  const server = new URL(pgUrl());
  return {
    host: server.hostname,
    port: Number(server.port),
    admin_user: decodeURIComponent(server.username),
    admin_password: decodeURIComponent(server.password),
  };
}

const routeKey = (method: string, path: string) => `${method} ${path}`;

describe('the OpenAPI document', () => {
  it('documents exactly the operator routes the app registered, and no route twice', () => {
    const registered = h.tm.publicRoutes
      .filter((r) => r.documented)
      .map((r) => routeKey(r.method, toOpenApi(r.url)))
      .sort();
    const documented = operations.map((o) => routeKey(o.method, o.path)).sort();
    expect(new Set(documented).size).toBe(documented.length);
    expect(documented).toEqual(registered);
    // what is hidden is the infrastructure only, never an operator route
    const hidden = h.tm.publicRoutes.filter((r) => !r.documented).map((r) => r.url);
    for (const url of hidden) expect(url, url).toMatch(/^\/(health|ready|docs)\b/);
  });

  it('gives every operation a summary, a tag, its path parameters, one success schema and the error schema', () => {
    for (const { method, path, op } of operations) {
      const where = routeKey(method, path);
      expect(op.summary, where).toBeTruthy();
      expect(op.tags?.length, where).toBeGreaterThan(0);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), where).toEqual(inPath);
      for (const p of declared) expect(p.required, `${where} ${p.name}`).toBe(true);

      const codes = Object.keys(op.responses);
      const success = codes.filter((c) => /^2\d\d$/.test(c));
      expect(success.length, where).toBeGreaterThan(0);
      for (const code of success) {
        if (code === '204') continue;
        expect(op.responses[code]!.content?.['application/json']?.schema, `${where} ${code}`).toBeDefined();
      }
      // creates answer 201, the SQL endpoint included (Supabase's shape), everything else 200/202/204
      if (method === 'GET' || method === 'PATCH') expect(success, where).toEqual(['200']);
      for (const range of ['4XX', '5XX']) {
        const schema = op.responses[range]?.content?.['application/json']?.schema;
        expect(schema, `${where} ${range}`).toMatchObject({
          type: 'object',
          required: ['message', 'code'],
          properties: { message: { type: 'string' }, code: { type: 'string' } },
        });
      }
    }
  });

  it('validates the same parameter the same way on every route', () => {
    const byName = new Map<string, Map<string, string[]>>();
    for (const { method, path, op } of operations) {
      for (const p of op.parameters ?? []) {
        const key = `${p.in}:${p.name}`;
        const shape = JSON.stringify({ ...p.schema, default: undefined, description: undefined });
        const shapes = byName.get(key) ?? new Map<string, string[]>();
        shapes.set(shape, [...(shapes.get(shape) ?? []), routeKey(method, path)]);
        byName.set(key, shapes);
      }
    }
    for (const [name, shapes] of byName) {
      // `id` is a worker cluster's, an API key's or a signing key's uuid: one shape too
      expect([...shapes.entries()], name).toHaveLength(1);
    }
    for (const { op } of operations) {
      for (const p of op.parameters ?? []) {
        if (p.name === 'limit') expect(p.schema).toMatchObject({ type: 'integer', minimum: 1 });
        if (p.name === 'offset') expect(p.schema).toMatchObject({ type: 'integer', minimum: 0 });
      }
    }
  });

  it('every route answers an unknown project or id with a declared 4xx and {message, code}', async () => {
    for (const { method, path, op } of operations) {
      if (!path.includes('{')) continue;
      const url = path.replace('{ref}', 'oa-missing').replace('{id}', '00000000-0000-0000-0000-000000000000');
      const body = op.requestBody ? { payload: {} } : {};
      const response = await h.tm.publicApp.inject({ method: method as 'GET', url, headers: admin, ...body });
      const where = routeKey(method, path);
      expect([400, 404], `${where}: ${response.body}`).toContain(response.statusCode);
      expect(response.json(), where).toEqual({ message: expect.any(String), code: expect.any(String) });
    }
  });
});

describe('creates', () => {
  it('answer 201 with a Location that reads the new project or cluster back', async () => {
    const cluster = await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/clusters',
      headers: admin,
      payload: { ...clusterRegistration(), name: 'oa-cluster', capacity: 2 },
    });
    expect(cluster.statusCode, cluster.body).toBe(201);
    expect(cluster.headers.location).toBe(`/v1/clusters/${cluster.json().id}`);
    const upper = await h.tm.publicApp.inject({
      url: `/v1/clusters/${cluster.json().id.toUpperCase()}`,
      headers: admin,
    });
    expect(upper.json().id).toBe(cluster.json().id); // the same uuid, written in upper case
    const project = await h.createProject('oa-located');
    expect(project.statusCode).toBe(201);
    expect(project.headers.location).toBe('/v1/projects/oa-located');
    for (const created of [cluster, project]) {
      const read = await h.tm.publicApp.inject({ url: created.headers.location as string, headers: admin });
      expect(read.json().id).toBe(created.json().id);
    }
  });
});

describe('the public server', () => {
  it('keeps idle connections longer than the ALB in front of it (60 s), so the ALB closes them first', () => {
    // Closed by the server first, a connection the ALB reuses at that moment answers the operator 502.
    expect(h.tm.publicApp.server.keepAliveTimeout).toBeGreaterThan(60_000);
    expect(h.tm.publicApp.server.timeout).toBeGreaterThan(h.tm.publicApp.server.keepAliveTimeout);
  });
});

describe('the README', () => {
  it('lists exactly the operator routes in its route table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('## Public API')[1]!.split('\n## ')[0]!;
    const listed = new Set<string>();
    for (const line of section.split('\n').filter((l) => l.startsWith('| `'))) {
      const cell = line.split(' | ')[0]!;
      for (const [, methods, path] of cell.matchAll(
        /`((?:GET|POST|PATCH|PUT|DELETE)(?:\/(?:GET|POST|PATCH|PUT|DELETE))*) (\/[^`?[\s]*)/g,
      )) {
        for (const method of methods!.split('/')) listed.add(routeKey(method, path!));
      }
    }
    const registered = h.tm.publicRoutes.filter((r) => r.documented).map((r) => routeKey(r.method, r.url));
    const missing = registered.filter((r) => !listed.has(r));
    const extra = [...listed].filter((r) => !registered.includes(r));
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  });
});
