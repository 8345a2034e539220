import { generateApiKey } from '@supaplane/keys';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import { TEST_AWS, call, testConfig, upstreamsFor } from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';

let echo: EchoUpstream;
let registry: RegistryServer;
let running: RunningGateway;
let project: TestProject;

beforeAll(async () => {
  echo = await startEchoUpstream(TEST_AWS);
  registry = await startRegistryServer({ token: 'internal-token' });
  project = registry.addProject('lookuplookuplookup', {
    upstreams: upstreamsFor('lookuplookuplookup', echo.port),
  });
  running = await startGateway(testConfig(registry));
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  await echo?.close();
});

/** `gateway_registry_lookup_duration_seconds_count` by `cache/outcome`, from /metrics. */
async function lookupCounts(): Promise<Record<string, number>> {
  const text = await (await request(`${running.url}/metrics`)).body.text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(
    /^gateway_registry_lookup_duration_seconds_count\{cache="(\w+)",outcome="(\w+)"\} (\d+)$/gm,
  )) {
    counts[`${match[1]}/${match[2]}`] = Number(match[3]);
  }
  return counts;
}

describe('tenant-manager lookup metrics', () => {
  it('time each lookup of what no cache held, by cache and outcome, and none of the cached ones', async () => {
    const headers = (key: string) => ({ apikey: key });
    expect(
      (await call(running.url, project.ref, '/rest/v1/todos', { headers: headers(project.publishableKey) }))
        .status,
    ).toBe(200);
    // Served from the caches: no lookup.
    expect(
      (await call(running.url, project.ref, '/rest/v1/todos', { headers: headers(project.publishableKey) }))
        .status,
    ).toBe(200);
    // A key whose checksum passes for the ref but that the tenant-manager does not know.
    const unknown = generateApiKey(project.ref, 'publishable');
    expect(
      (await call(running.url, project.ref, '/rest/v1/todos', { headers: headers(unknown) })).status,
    ).toBe(401);
    expect(await lookupCounts()).toEqual({ 'key/found': 1, 'project/found': 1, 'key/not_found': 1 });

    await registry.stop();
    try {
      const another = generateApiKey(project.ref, 'publishable');
      expect(
        (await call(running.url, project.ref, '/rest/v1/todos', { headers: headers(another) })).status,
      ).toBe(503);
    } finally {
      await registry.start();
    }
    expect(await lookupCounts()).toEqual({
      'key/found': 1,
      'project/found': 1,
      'key/not_found': 1,
      'key/error': 1,
    });
  });
});
