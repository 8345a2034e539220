import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, rest, supabaseFor } from './support/clients.js';
import { expectInvalidApiKey, expectPostgrestError } from './support/expect.js';
import { type Answer, answersOf, latency, traffic } from './support/load.js';
import {
  addApiKey,
  createProjects,
  deleteProject,
  projectCredentials,
  revokeApiKey,
  sql,
  type TestProject,
  waitForStatus,
} from './support/projects.js';
import { userToken } from './support/tokens.js';

// Isolation while the operator changes a project: several clients keep sending to A and B at once while
// A's keys are revoked, A is paused and restored, and A is deleted and created again under its name and
// ref. What must hold is judged per answer, by when its request was sent relative to the change.

/** How long a change may take to reach every gateway (the tenant-manager publishes before it answers). */
const PROPAGATION_MS = 1_000;
/**
 * The slowest answer B may give while A changes. A request here takes a few milliseconds; a lock, a
 * pool or a cache shared with A would show as seconds (a statement or upstream timeout), not as this.
 */
const B_SLOWEST_MS = 1_500;

let a: TestProject;
let b: TestProject;

const SCHEMA = (label: string) =>
  `create table public.things (id int primary key, label text);
   insert into public.things values (1, '${label}');`;

beforeAll(async () => {
  [a, b] = await createProjects('load-a', 'load-b');
  await Promise.all([sql(a.ref, SCHEMA('from a')), sql(b.ref, SCHEMA('from b'))]);
  // Cold starts are not what B's latency is judged on: both functions are warm before any change.
  for (const p of [a, b]) {
    const res = await rest(p.ref, 'things?select=id', { key: p.secretKey });
    expect(res.status, res.text).toBe(200);
  }
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

const json = (r: { status: number; data: unknown; error: unknown }) => ({
  status: r.status,
  text: JSON.stringify(r.error ?? r.data),
});

let nextId = 1_000;

/**
 * B's clients: raw reads with the secret key, supabase-js reads with the publishable key and
 * supabase-js inserts with the secret key — B's own traffic while A changes.
 */
function bClients() {
  const anon = supabaseFor(b.ref, b.publishableKey);
  const service = supabaseFor(b.ref, b.secretKey);
  return {
    'B raw read': () => rest(b.ref, 'things?select=id,label&id=eq.1', { key: b.secretKey }),
    'B sdk read': async () => json(await anon.from('things').select('id, label').eq('id', 1)),
    'B sdk insert': async () => json(await service.from('things').insert({ id: nextId++, label: 'b load' })),
  };
}

/** B answered every request, correctly and without a latency cliff. */
function expectBUntouched(answers: readonly Answer[]) {
  const b = answers.filter((x) => x.client.startsWith('B '));
  expect(b.length).toBeGreaterThan(0);
  for (const x of b) {
    if (x.client === 'B sdk insert') expect(x.status, x.text).toBe(201);
    else {
      expect(x.status, `${x.client}: ${x.text}`).toBe(200);
      expect(JSON.parse(x.text), x.client).toEqual([{ id: 1, label: 'from b' }]);
    }
  }
  const slowest = Math.max(...b.map(latency));
  console.info(`B: ${b.length} answers while A changed, slowest ${slowest} ms`);
  expect(slowest).toBeLessThan(B_SLOWEST_MS);
}

describe('API key rotation under load', () => {
  it('once the revocation answers (+1 s), the old keys never succeed, the new key always does, B never blips', async () => {
    const [oldSecret, oldPublishable] = await Promise.all([
      addApiKey(a.ref, 'secret', 'rotate_me_secret'),
      addApiKey(a.ref, 'publishable', 'rotate_me_publishable'),
    ]);
    const newSecret = await addApiKey(a.ref, 'secret', 'rotated_in');
    const oldSdk = supabaseFor(a.ref, oldPublishable.api_key);
    const load = traffic({
      'A old secret': () => rest(a.ref, 'things?select=id,label&id=eq.1', { key: oldSecret.api_key }),
      'A old secret bearer': () =>
        rest(a.ref, 'things', {
          method: 'POST',
          headers: { authorization: `Bearer ${oldSecret.api_key}`, prefer: 'return=minimal' },
          body: { id: nextId++, label: 'old key write' },
        }),
      'A old publishable sdk': async () => json(await oldSdk.from('things').select('id, label').eq('id', 1)),
      'A new secret': () => rest(a.ref, 'things?select=id,label&id=eq.1', { key: newSecret.api_key }),
      ...bClients(),
    });
    let revokeSent = 0;
    let revokedAt = 0;
    try {
      await load.sentSince(Date.now(), 3);
      revokeSent = Date.now();
      await Promise.all([revokeApiKey(a.ref, oldSecret.id), revokeApiKey(a.ref, oldPublishable.id)]);
      revokedAt = Date.now();
      await load.sentSince(revokedAt + PROPAGATION_MS, 3);
    } finally {
      await load.stop();
    }
    const answers = load.answers;
    for (const client of ['A old secret', 'A old secret bearer', 'A old publishable sdk']) {
      const mine = answersOf(answers, client);
      for (const x of mine) expect([200, 201, 401], `${client}: ${x.text}`).toContain(x.status);
      const before = mine.filter((x) => x.answeredAt < revokeSent);
      expect(before.length, `${client} served before the revocation`).toBeGreaterThan(0);
      for (const x of before) expect([200, 201], `${client}: ${x.text}`).toContain(x.status);
      // Refused from the first refusal on (no cache refilled with the old record), and always once
      // the change has had its time to propagate.
      const firstRefused = mine.find((x) => x.status === 401)?.sentAt ?? Number.POSITIVE_INFINITY;
      expect(firstRefused, client).toBeLessThan(revokedAt + PROPAGATION_MS);
      const lateSuccesses = mine.filter((x) => x.sentAt >= revokedAt && x.status < 300).length;
      console.info(`${client}: ${lateSuccesses} answered 2xx to requests sent after the revocation answered`);
      for (const x of mine.filter((y) => y.sentAt >= Math.min(firstRefused, revokedAt + PROPAGATION_MS))) {
        expect(x.status, `${client}: ${x.text}`).toBe(401);
        expect(JSON.parse(x.text)).toMatchObject({ message: 'Invalid API key' });
      }
    }
    for (const x of answersOf(answers, 'A new secret')) {
      expect(x.status, x.text).toBe(200);
      expect(JSON.parse(x.text)).toEqual([{ id: 1, label: 'from a' }]);
    }
    // The old key's writes that were acknowledged are there, the refused ones are not.
    const acknowledged = answersOf(answers, 'A old secret bearer').filter((x) => x.status === 201).length;
    expect(
      await sql(a.ref, `select count(*)::int as n from public.things where label = 'old key write'`),
    ).toEqual([{ n: acknowledged }]);
    expectBUntouched(answers);
    expectInvalidApiKey(await rest(a.ref, 'things', { key: oldSecret.api_key }));
  });
});

describe('pause and restore of A under load', () => {
  it('A answers 503 "paused" throughout the pause and keeps exactly the writes it acknowledged; B never blips', async () => {
    const acknowledged = new Set<number>();
    const refused = new Set<number>();
    const sdk = supabaseFor(a.ref, a.secretKey);
    const recorded = <R extends { status: number }>(id: number, res: R) => {
      (res.status === 201 ? acknowledged : refused).add(id);
      return res;
    };
    // supabase-js retries a GET on 503 for about 7 s: its reads would wait out the pause, so through
    // supabase-js A only writes (never retried), and reads go raw.
    const load = traffic({
      'A raw read': () => rest(a.ref, 'things?select=id,label&id=eq.1', { key: a.publishableKey }),
      'A raw write': async () => {
        const id = nextId++;
        return recorded(
          id,
          await rest(a.ref, 'things', {
            method: 'POST',
            key: a.secretKey,
            headers: { prefer: 'return=minimal' },
            body: { id, label: 'a load' },
          }),
        );
      },
      'A sdk write': async () => {
        const id = nextId++;
        return recorded(id, json(await sdk.from('things').insert({ id, label: 'a load' })));
      },
      ...bClients(),
    });
    let pauseSent = 0;
    let pausedAt = 0;
    let restoreSent = 0;
    let restoredAt = 0;
    try {
      await load.sentSince(Date.now(), 3);
      pauseSent = Date.now();
      const paused = await admin('POST', `/v1/projects/${a.ref}/pause`);
      pausedAt = Date.now();
      expect(paused.status, paused.text).toBe(200);
      expect(paused.json()).toMatchObject({ status: 'INACTIVE' });
      await load.sentSince(pausedAt + PROPAGATION_MS, 3);
      restoreSent = Date.now();
      const restored = await admin('POST', `/v1/projects/${a.ref}/restore`);
      restoredAt = Date.now();
      expect(restored.status, restored.text).toBe(200);
      expect(restored.json()).toMatchObject({ status: 'ACTIVE_HEALTHY' });
      await load.sentSince(restoredAt + PROPAGATION_MS, 3);
    } finally {
      await load.stop();
    }
    const answers = load.answers;
    for (const client of ['A raw read', 'A raw write', 'A sdk write']) {
      const mine = answersOf(answers, client);
      const ok = client === 'A raw read' ? 200 : 201;
      for (const x of mine.filter((y) => y.answeredAt < pauseSent)) expect(x.status, x.text).toBe(ok);
      // Paused from the moment the pause answered (plus propagation) until the restore was asked for.
      const whilePaused = mine.filter(
        (x) => x.sentAt >= pausedAt + PROPAGATION_MS && x.answeredAt < restoreSent,
      );
      expect(whilePaused.length, client).toBeGreaterThan(0);
      for (const x of whilePaused) {
        expect(x.status, `${client}: ${x.text}`).toBe(503);
        expect(JSON.parse(x.text)).toMatchObject({ message: expect.stringMatching(/paus/i) });
      }
      const early = mine.filter((x) => x.sentAt >= pausedAt && x.sentAt < pausedAt + PROPAGATION_MS);
      console.info(
        `${client}: after the pause answered, ${early.filter((x) => x.status !== 503).length} of ${early.length} in the first second were not 503`,
      );
      // Served again once restored.
      const afterRestore = mine.filter((x) => x.sentAt >= restoredAt + PROPAGATION_MS);
      expect(afterRestore.length, client).toBeGreaterThan(0);
      for (const x of afterRestore) expect(x.status, `${client}: ${x.text}`).toBe(ok);
      // Whatever happened in the transitions, every answer was a JSON body, never a stack trace.
      for (const x of mine.filter((y) => y.status >= 400)) {
        expect(() => JSON.parse(x.text), `${client}: ${x.text}`).not.toThrow();
        expect(x.text).not.toMatch(/\n\s+at /);
      }
    }
    for (const x of answersOf(answers, 'A raw read', restoredAt + PROPAGATION_MS)) {
      expect(JSON.parse(x.text)).toEqual([{ id: 1, label: 'from a' }]);
    }
    // Data intact: the seed row and every acknowledged write, nothing that was refused.
    const rows = await sql<{ id: number }>(a.ref, `select id from public.things where label = 'a load'`);
    const stored = new Set(rows.map((r) => r.id));
    expect(
      [...acknowledged].filter((id) => !stored.has(id)),
      'acknowledged writes lost',
    ).toEqual([]);
    expect(
      [...refused].filter((id) => stored.has(id)),
      'refused writes stored',
    ).toEqual([]);
    expect(await sql(a.ref, 'select label from public.things where id = 1')).toEqual([{ label: 'from a' }]);
    expectBUntouched(answers);
  });
});

describe('delete of A under load, then a new project under the same name and ref', () => {
  it('nothing of the old A — data, keys, tokens, cached config — reaches the new one; B never blips', async () => {
    const old = a;
    const oldToken = await userToken(old.jwtSecret, { role: 'service_role' });
    const oldSdk = supabaseFor(old.ref, old.publishableKey);
    // Warm every cache on the path (gateway project and key records, minted tokens, the rest function).
    for (const res of await Promise.all([
      rest(old.ref, 'things?select=id&id=eq.1', { key: old.secretKey }),
      rest(old.ref, 'things?select=id&id=eq.1', { key: old.publishableKey, token: oldToken }),
    ])) {
      expect(res.status, res.text).toBe(200);
    }
    const oldClients = {
      'old A secret': () => rest(old.ref, 'things?select=id,label', { key: old.secretKey }),
      'old A token': () =>
        rest(old.ref, 'things?select=id,label', { key: old.publishableKey, token: oldToken }),
      'old A sdk write': async () =>
        json(await oldSdk.from('things').insert({ id: nextId++, label: 'old a' })),
    };
    const load = traffic({ ...oldClients, ...bClients() });
    let deletedAt = 0;
    let created: TestProject | undefined;
    let createdAt = 0;
    try {
      await load.sentSince(Date.now(), 3);
      const deleted = await admin('DELETE', `/v1/projects/${old.ref}`);
      deletedAt = Date.now();
      expect(deleted.status, deleted.text).toBe(200);
      await load.sentSince(deletedAt + PROPAGATION_MS, 3);

      const res = await admin('POST', '/v1/projects', { name: old.name, ref: old.ref });
      expect(res.status, res.text).toBe(201);
      await waitForStatus(old.ref, 'ACTIVE_HEALTHY');
      createdAt = Date.now();
      created = { ref: old.ref, name: old.name, ...(await projectCredentials(old.ref)) };
      a = created;
      await load.sentSince(createdAt + PROPAGATION_MS, 3);
    } finally {
      await load.stop();
    }
    const fresh = created!;
    expect(fresh.secretKey).not.toBe(old.secretKey);
    expect(fresh.publishableKey).not.toBe(old.publishableKey);
    expect(fresh.jwtSecret).not.toBe(old.jwtSecret);

    const answers = load.answers;
    for (const client of Object.keys(oldClients)) {
      const mine = answersOf(answers, client);
      // Never served once the delete had its time to propagate — not while it was gone, and not once
      // a project with its ref existed again.
      for (const x of mine.filter((y) => y.status >= 400)) {
        expect(() => JSON.parse(x.text), `${client}: ${x.text}`).not.toThrow();
        expect(x.text).not.toMatch(/\n\s+at /);
      }
      const gone = mine.filter((x) => x.sentAt >= deletedAt + PROPAGATION_MS);
      expect(gone.length, client).toBeGreaterThan(0);
      for (const x of gone) expect([401, 404], `${client}: ${x.text}`).toContain(x.status);
      const reborn = mine.filter((x) => x.sentAt >= createdAt);
      expect(reborn.length, client).toBeGreaterThan(0);
      for (const x of reborn) {
        expect(x.status, `${client}: ${x.text}`).toBe(401);
        expect(JSON.parse(x.text)).toMatchObject({ message: 'Invalid API key' });
      }
    }
    expectBUntouched(answers);

    // The old secret's tokens open nothing on the new project, whatever key carries them.
    for (const key of [fresh.publishableKey, fresh.secretKey]) {
      expectPostgrestError(await rest(fresh.ref, 'things', { key, token: oldToken }), 401, 'PGRST301');
    }
    // No data of the old A: its table is not there (schema cache included), nor anything else.
    expectPostgrestError(await rest(fresh.ref, 'things', { key: fresh.secretKey }), 404, 'PGRST205');
    expect(await sql(fresh.ref, `select tablename from pg_tables where schemaname = 'public'`)).toEqual([]);
    // The new project is served at once with its own keys and its own secret's tokens.
    await sql(fresh.ref, SCHEMA('new a'));
    const newToken = await userToken(fresh.jwtSecret, { role: 'service_role' });
    for (const res of await Promise.all([
      rest(fresh.ref, 'things?select=id,label', { key: fresh.secretKey }),
      rest(fresh.ref, 'things?select=id,label', { key: fresh.publishableKey }),
      rest(fresh.ref, 'things?select=id,label', { key: fresh.publishableKey, token: newToken }),
    ])) {
      expect(res.status, res.text).toBe(200);
      expect(res.json()).toEqual([{ id: 1, label: 'new a' }]);
    }
    const { data, error } = await supabaseFor(fresh.ref, fresh.publishableKey).from('things').select('label');
    expect(error).toBeNull();
    expect(data).toEqual([{ label: 'new a' }]);
    expectInvalidApiKey(await rest(fresh.ref, 'things', { key: old.publishableKey }));
    expectInvalidApiKey(await rest(fresh.ref, 'things', { key: old.secretKey }));
  });
});
