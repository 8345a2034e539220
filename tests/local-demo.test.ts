import { createClient } from '@supabase/supabase-js';
import { describe, expect, it } from 'vitest';
import ws from 'ws';
import { platform } from './support/clients.js';

const local = platform().local;

// What `pnpm start` prints, run as printed: the gateway URL (key-based routing on the bare local
// domain), the demo project's publishable key, and the one query of the example.
describe.skipIf(!local)('the demo project printed at start-up', () => {
  const demo = local!.demoProject;
  const client = (key: string) =>
    createClient(platform().gatewayUrl, key, {
      auth: { persistSession: false, autoRefreshToken: false },
      realtime: { transport: ws as never },
    });

  it('answers the printed supabase-js example with its seeded todos', async () => {
    const { data, error } = await client(demo.publishableKey).from('todos').select('*');
    expect(error).toBeNull();
    expect(data?.map(({ task, done }) => ({ task, done }))).toEqual([
      { task: 'Start Supaplane', done: true },
      { task: 'Query the demo project with supabase-js', done: false },
    ]);
  });

  it('keeps the todos read-only for the publishable key; the secret key writes', async () => {
    const refused = await client(demo.publishableKey).from('todos').insert({ task: 'sneaky' }).select();
    expect(refused.data).toBeNull();
    expect(refused.error?.code).toBe('42501');

    const service = client(demo.secretKey);
    const written = await service.from('todos').insert({ task: 'from the server' }).select('task, done');
    expect(written.error).toBeNull();
    expect(written.data).toEqual([{ task: 'from the server', done: false }]);
    const removed = await service.from('todos').delete().eq('task', 'from the server').select('task');
    expect(removed.data).toEqual([{ task: 'from the server' }]);
    const { data } = await client(demo.publishableKey).from('todos').select('task').eq('task', 'sneaky');
    expect(data).toEqual([]);
  });
});
