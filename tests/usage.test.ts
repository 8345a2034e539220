import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, rest, supabaseFor } from './support/clients.js';
import { createProjects, deleteProject, eventually, sql, type TestProject } from './support/projects.js';

// What an operator sees of a project's use: the gateways count every request they answer for it, and
// the usage API reports them with the database's size. One project's traffic never shows on another.

interface Usage {
  api: {
    requests: number;
    by_service: Record<string, number>;
    by_status: Record<string, number>;
    ingress_bytes: number;
    egress_bytes: number;
  } | null;
  database: { size_bytes: number; connections: number; connection_limit: number } | null;
  unavailable: string[];
}

let a: TestProject;
let b: TestProject;

const usageOf = async (ref: string) => {
  const res = await admin('GET', `/v1/projects/${ref}/usage?hours=2`);
  expect(res.status, res.text).toBe(200);
  return res.json() as Usage;
};

beforeAll(async () => {
  [a, b] = await createProjects('usage-a', 'usage-b');
  await sql(
    a.ref,
    `create table public.notes (id serial primary key, body text);
     grant select, insert on public.notes to anon;
     grant usage on sequence public.notes_id_seq to anon;`,
  );
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('project usage', () => {
  it("counts a project's requests through the gateway, by service and status, and not another project's", async () => {
    const client = supabaseFor(a.ref, a.publishableKey);
    const inserted = await client.from('notes').insert({ body: 'hello' }).select();
    expect(inserted.error).toBeNull();
    for (let i = 0; i < 3; i++) {
      const read = await client.from('notes').select('id, body');
      expect(read.error).toBeNull();
      expect(read.data).toEqual([{ id: 1, body: 'hello' }]);
    }
    // A bad user token for an existing project: refused, and counted as its 4xx.
    expect((await rest(a.ref, 'notes', { key: a.publishableKey, token: 'not.a.jwt' })).status).toBe(401);

    await eventually(async () => (await usageOf(a.ref)).api?.requests === 5, 20_000, 200);
    const usage = await usageOf(a.ref);
    expect(usage.unavailable).toEqual([]);
    expect(usage.api).toMatchObject({
      requests: 5,
      by_service: { rest: 5 },
      by_status: { '2xx': 4, '4xx': 1 },
    });
    expect(usage.api!.ingress_bytes).toBeGreaterThan(0);
    expect(usage.api!.egress_bytes).toBeGreaterThan(0);
    expect(usage.database!.size_bytes).toBeGreaterThan(0);

    expect((await usageOf(b.ref)).api!.requests).toBe(0);
    const ranking = await admin('GET', '/v1/usage?hours=2&limit=1000');
    expect(ranking.status, ranking.text).toBe(200);
    const listed = (ranking.json() as { projects: Array<{ ref: string; requests: number }> }).projects;
    expect(listed.find((p) => p.ref === a.ref)?.requests).toBe(5);
    expect(listed.some((p) => p.ref === b.ref)).toBe(false);
  });
});
