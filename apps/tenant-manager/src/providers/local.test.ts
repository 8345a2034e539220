import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalFunctionProvider } from './local.js';

// A real HTTP server speaking the emulator's control API (docs/contracts.md), recording requests.
const seen: { method: string; url: string; auth: string | undefined; body: unknown }[] = [];
const functions = new Set<string>();
/** Registered functions that take no invocation (the emulator's `stopped` state). */
const stopped = new Set<string>();
const server = createServer(async (req: IncomingMessage, res) => {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  seen.push({
    method: req.method!,
    url: req.url!,
    auth: req.headers.authorization,
    body: raw ? JSON.parse(raw) : undefined,
  });
  if (req.headers.authorization !== 'Bearer token-0123456789abcdef') return res.writeHead(401).end();
  if (req.method === 'GET' && req.url === '/functions') {
    res.writeHead(200, { 'content-type': 'application/json' });
    const list = [...functions].map((name) => ({
      name,
      url: `http://${name}.lambda-url.local.localhost:9000/`,
      runtime: 'rest',
      state: stopped.has(name) ? 'stopped' : 'cold',
    }));
    return res.end(JSON.stringify({ functions: list }));
  }
  const name = decodeURIComponent(req.url!.split('/')[2]!);
  if (req.method === 'POST' && req.url!.split('/')[3] === 'stop') {
    if (!functions.has(name)) return res.writeHead(404).end('{"message":"function not found"}');
    stopped.add(name);
    return res.writeHead(204).end();
  }
  if (req.method === 'PUT') {
    functions.add(name);
    if ((JSON.parse(raw) as { stopped?: boolean }).stopped === true) stopped.add(name);
    else stopped.delete(name);
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ name, url: `http://${name}.lambda-url.local.localhost:9000/` }));
  }
  functions.delete(name);
  stopped.delete(name);
  res.writeHead(204).end();
});
let url: string;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('local function provider', () => {
  it('PUTs and DELETEs rest-<ref> with the service token and the contract body', async () => {
    const provider = createLocalFunctionProvider({
      emulatorUrl: `${url}/`,
      internalServiceToken: 'token-0123456789abcdef',
    });
    const environment = {
      SUPAPLANE_PROJECT_REF: 'abc',
      SUPAPLANE_CONFIG_URL: 'http://127.0.0.1:3002',
      SUPAPLANE_INTERNAL_TOKEN: 't',
    };
    const fn = await provider.ensureRestFunction({ ref: 'abc', environment });
    expect(fn).toEqual({
      name: 'rest-abc',
      url: 'http://rest-abc.lambda-url.local.localhost:9000/',
      region: 'local',
    });
    expect(seen[0]).toEqual({
      method: 'PUT',
      url: '/functions/rest-abc',
      auth: 'Bearer token-0123456789abcdef',
      body: { runtime: 'rest', environment },
    });
    expect(functions.has('rest-abc')).toBe(true);
    await provider.deleteRestFunction('abc');
    await provider.deleteRestFunction('abc'); // idempotent
    expect(functions.has('rest-abc')).toBe(false);
    expect(seen.slice(1).map((r) => `${r.method} ${r.url}`)).toEqual([
      'DELETE /functions/rest-abc',
      'DELETE /functions/rest-abc',
    ]);
  });

  it("describes rest-<ref> from the emulator's list, null once deleted, without changing it", async () => {
    const provider = createLocalFunctionProvider({
      emulatorUrl: url,
      internalServiceToken: 'token-0123456789abcdef',
    });
    await provider.ensureRestFunction({ ref: 'seen', environment: {} });
    const before = seen.length;
    expect(await provider.describeRestFunction!('seen')).toEqual({
      name: 'rest-seen',
      url: 'http://rest-seen.lambda-url.local.localhost:9000/',
      state: 'active',
    });
    expect(await provider.describeRestFunction!('other')).toBeNull();
    expect(seen.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /functions',
      'GET /functions',
    ]);
    await provider.deleteRestFunction('seen');
    expect(await provider.describeRestFunction!('seen')).toBeNull();
  });

  it('stops rest-<ref> (a pause) in the emulator, which ends its instances and keeps it registered; ensure brings it back', async () => {
    const provider = createLocalFunctionProvider({
      emulatorUrl: url,
      internalServiceToken: 'token-0123456789abcdef',
    });
    const environment = { SUPAPLANE_PROJECT_REF: 'nap' };
    await provider.ensureRestFunction({ ref: 'nap', environment });
    const before = seen.length;
    await provider.stopRestFunction!('nap');
    await provider.stopRestFunction!('nap'); // idempotent
    expect(stopped.has('rest-nap')).toBe(true);
    // Described as a stopped Lambda (reserved concurrency 0) is: registered, taking no invocation.
    expect(await provider.describeRestFunction!('nap')).toEqual({
      name: 'rest-nap',
      url: 'http://rest-nap.lambda-url.local.localhost:9000/',
      state: 'stopped',
    });
    await provider.stopRestFunction!('never-made'); // nothing to stop: done
    const restored = await provider.ensureRestFunction({ ref: 'nap', environment });
    expect(restored.url).toBe('http://rest-nap.lambda-url.local.localhost:9000/');
    expect(stopped.has('rest-nap')).toBe(false);
    expect((await provider.describeRestFunction!('nap'))?.state).toBe('active');
    expect(seen.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /functions/rest-nap/stop',
      'POST /functions/rest-nap/stop',
      'GET /functions',
      'POST /functions/rest-never-made/stop',
      'PUT /functions/rest-nap',
      'GET /functions',
    ]);
    // The restore's PUT is the plain registration: runnable.
    expect(seen.at(-2)!.body).toEqual({ runtime: 'rest', environment });
  });

  it('ensures rest-<ref> stopped (the reconcile of a paused project) with one PUT that never makes it runnable', async () => {
    const provider = createLocalFunctionProvider({
      emulatorUrl: url,
      internalServiceToken: 'token-0123456789abcdef',
    });
    const environment = { SUPAPLANE_PROJECT_REF: 'doze' };
    const before = seen.length;
    const fn = await provider.ensureRestFunction({ ref: 'doze', environment, stopped: true });
    expect(fn).toEqual({
      name: 'rest-doze',
      url: 'http://rest-doze.lambda-url.local.localhost:9000/',
      region: 'local',
    });
    expect(stopped.has('rest-doze')).toBe(true);
    expect(seen.slice(before)).toEqual([
      {
        method: 'PUT',
        url: '/functions/rest-doze',
        auth: 'Bearer token-0123456789abcdef',
        body: { runtime: 'rest', environment, stopped: true },
      },
    ]);
  });

  it('fails clearly when the emulator refuses', async () => {
    const provider = createLocalFunctionProvider({
      emulatorUrl: url,
      internalServiceToken: 'wrong-token-000000',
    });
    await expect(provider.ensureRestFunction({ ref: 'abc', environment: {} })).rejects.toThrow(
      'lambda emulator PUT rest-abc answered 401',
    );
    await expect(provider.describeRestFunction!('abc')).rejects.toThrow(
      'lambda emulator GET functions answered 401',
    );
  });
});
