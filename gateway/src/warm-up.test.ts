import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { createSigV4Signer } from './sigv4.js';
import { testConfig } from './testing/harness.js';
import { type RegistryServer, startRegistryServer } from './testing/registry-server.js';
import { createUpstreamAllowlist } from './upstream-allowlist.js';
import { warmUpColdPath } from './warm-up.js';

describe('cold-path warm-up', () => {
  let registry: RegistryServer;
  let running: RunningGateway;
  beforeAll(async () => {
    registry = await startRegistryServer({ token: 'internal-token' });
    running = await startGateway(testConfig(registry));
  });
  afterAll(async () => {
    await running?.close();
    await registry?.close();
  });

  it('runs on made-up data whether or not the allow-list accepts its upstream', async () => {
    for (const pattern of ['*.lambda-url.us-east-1.on.aws', 'nothing.example.com']) {
      const ms = await warmUpColdPath({
        signer: createSigV4Signer(),
        isAllowedUpstream: createUpstreamAllowlist([pattern]),
        region: 'us-east-1',
        requireHttps: true,
      });
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(ms)).toBe(true);
    }
  });

  it('asks the tenant-manager for no project or key at start-up: only its connection check', async () => {
    const deadline = Date.now() + 2_000;
    while (registry.calls.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect([...registry.calls.keys()]).toEqual(['/internal/v1/projects/-/config']);
    expect(running.gateway.projects.size + running.gateway.keys.size).toBe(0);
  });
});
