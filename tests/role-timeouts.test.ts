import type { SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supabaseFor } from './support/clients.js';
import { createProjects, deleteProject, sql, type TestProject } from './support/projects.js';
import { userToken } from './support/tokens.js';

// Hosted Supabase's statement timeouts per role: anon 3 s, authenticated 8 s, and service_role none
// of its own, so the login role's 8 s. A statement past its role's timeout is cancelled (SQLSTATE
// 57014), which PostgREST 12 answers 500 with the database's message.

const SLOW = `create function public.slow(seconds float) returns json language sql as $$
  select pg_sleep(seconds);
  select json_build_object('role', current_user, 'statement_timeout', current_setting('statement_timeout'))
$$;`;

const CANCELLED = {
  code: '57014',
  message: 'canceling statement due to statement timeout',
  details: null,
  hint: null,
};

let a: TestProject;
let b: TestProject;
let anon: SupabaseClient;
let user: SupabaseClient;
let service: SupabaseClient;

const slow = (client: SupabaseClient, seconds: number) => client.rpc('slow', { seconds });

beforeAll(async () => {
  [a, b] = await createProjects('timeouts-a', 'timeouts-b');
  await Promise.all([sql(a.ref, SLOW), sql(b.ref, SLOW)]);
  anon = supabaseFor(a.ref, a.publishableKey);
  user = supabaseFor(a.ref, a.publishableKey, await userToken(a.jwtSecret));
  service = supabaseFor(a.ref, a.secretKey);
  // Both functions started and their schema caches loaded before any timed call.
  for (const warm of await Promise.all([slow(service, 0), slow(supabaseFor(b.ref, b.secretKey), 0)]))
    expect(warm.error).toBeNull();
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('statement timeouts per role, through the gateway', () => {
  it('cancels anon at 3 s and authenticated and service_role at 8 s (500, 57014), serves each under its own, and B meanwhile', async () => {
    const settled: string[] = [];
    const track = <T>(label: string, call: PromiseLike<T>) =>
      Promise.resolve(call).then((result) => {
        settled.push(label);
        return result;
      });
    // A's rest function has two connections: the two 8.5 s calls first, the rest queued behind them.
    const calls = Promise.all([
      track('user 8.5', slow(user, 8.5)),
      track('service 8.5', slow(service, 8.5)),
      track('anon 3.5', slow(anon, 3.5)),
      track('user 3.5', slow(user, 3.5)),
      track('service 3.5', slow(service, 3.5)),
      track('anon 2.5', slow(anon, 2.5)),
    ]);
    // B, on the same cluster, answers while all of A's connections sleep.
    await new Promise((r) => setTimeout(r, 500));
    const neighbour = await track('b', slow(supabaseFor(b.ref, b.publishableKey), 0));
    expect(neighbour.error).toBeNull();
    expect(neighbour.data).toEqual({ role: 'anon', statement_timeout: '3s' });
    expect(settled).toEqual(['b']);

    const [userPast, servicePast, anonPast, userUnder, serviceUnder, anonUnder] = await calls;
    for (const past of [anonPast, userPast, servicePast]) {
      expect(past.status).toBe(500);
      expect(past.error).toMatchObject(CANCELLED);
    }
    expect([anonUnder.status, anonUnder.data]).toEqual([200, { role: 'anon', statement_timeout: '3s' }]);
    expect([userUnder.status, userUnder.data]).toEqual([
      200,
      { role: 'authenticated', statement_timeout: '8s' },
    ]);
    expect([serviceUnder.status, serviceUnder.data]).toEqual([
      200,
      { role: 'service_role', statement_timeout: '8s' },
    ]);
  }, 60_000);
});
