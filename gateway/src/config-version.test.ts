import { type RunningRedis, startRedis } from '@supaplane/local-services';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClientHead } from './client-head.js';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import { TEST_AWS, call, prefixPath, testConfig, upstreamsFor } from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';

// The gateway tells the rest function which version of the project's config it acted on, so a warm
// function re-reads its own when the operator changed the data-API settings.

let redis: RunningRedis;
let echo: EchoUpstream;
let registry: RegistryServer;
let gateway: RunningGateway;
let project: TestProject;

const REF = 'versionversionversio';
const forwarded = async (prefix: string, headers: Record<string, string> = {}) => {
  const res = await call(gateway.url, REF, prefixPath(prefix), {
    headers: { apikey: project.publishableKey, ...headers },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.headers as Record<string, string | undefined>;
};

beforeAll(async () => {
  [redis, echo] = await Promise.all([startRedis(), startEchoUpstream(TEST_AWS)]);
  registry = await startRegistryServer({ token: 'internal-token', redisUrl: redis.url });
  project = registry.addProject(REF, { upstreams: upstreamsFor(REF, echo.port) });
  gateway = await startGateway(testConfig(registry, {}, redis.url));
  for (const started = Date.now(); Date.now() - started < 10_000; ) {
    const ready = (await (await request(`${gateway.url}/ready`)).body.json()) as { redis: string };
    if (ready.redis === 'ok') break;
    await new Promise((r) => setTimeout(r, 10));
  }
});

afterAll(async () => {
  await gateway?.close();
  await registry?.close();
  await echo?.close();
  await redis?.stop();
});

describe('x-supaplane-config-version', () => {
  it("is never taken from the client's head", () => {
    const head = readClientHead(['Host', 'a', 'X-Supaplane-Config-Version', '999', 'Prefer', 'count=exact']);
    expect(head.forward).toEqual(['prefer', 'count=exact']);
  });

  it("goes to the rest upstream as the version of the project's config, never the client's, and to no other", async () => {
    const sent = await forwarded('rest', { 'x-supaplane-config-version': '999' });
    expect(sent['x-supaplane-config-version']).toBe('1');
    // one header, not the client's beside the gateway's
    expect(
      (await forwarded('rest', { 'X-Supaplane-Config-Version': '0' }))['x-supaplane-config-version'],
    ).toBe('1');
    for (const prefix of ['auth', 'storage', 'functions', 'graphql']) {
      const other = await forwarded(prefix, { 'x-supaplane-config-version': '999' });
      expect(other['x-supaplane-config-version'], prefix).toBeUndefined();
    }
  });

  it('follows the config once a change invalidates it', async () => {
    await registry.setRateLimit(REF, { requestsPerSecond: 1000, burst: 1000 });
    for (const started = Date.now(); ; ) {
      const version = (await forwarded('rest'))['x-supaplane-config-version'];
      if (version === '2') break;
      expect(version).toBe('1');
      if (Date.now() - started > 5_000) throw new Error('the new config was never used');
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});
