import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { PlatformTarget } from './target.js';

function remoteTarget(env: NodeJS.ProcessEnv): PlatformTarget | undefined {
  const { PLATFORM_GATEWAY_URL, PLATFORM_BASE_DOMAIN, PLATFORM_TENANT_MANAGER_URL, PLATFORM_ADMIN_KEY } = env;
  if (!PLATFORM_GATEWAY_URL) return undefined;
  if (!PLATFORM_BASE_DOMAIN || !PLATFORM_TENANT_MANAGER_URL || !PLATFORM_ADMIN_KEY) {
    throw new Error(
      'PLATFORM_GATEWAY_URL is set: also set PLATFORM_BASE_DOMAIN, PLATFORM_TENANT_MANAGER_URL and PLATFORM_ADMIN_KEY',
    );
  }
  return {
    gatewayUrl: PLATFORM_GATEWAY_URL,
    baseDomain: PLATFORM_BASE_DOMAIN,
    tenantManagerUrl: PLATFORM_TENANT_MANAGER_URL,
    adminKey: PLATFORM_ADMIN_KEY,
  };
}

export default async function setup(project: TestProject) {
  const remote = remoteTarget(process.env);
  if (remote) {
    project.provide('platform', remote);
    return;
  }
  // Same start-up code as `pnpm start`, on free ports and a throw-away data directory.
  const { freeStackPorts, startLocalStack } = await import('../../scripts/local-stack.js');
  const dataDir = await mkdtemp(join(tmpdir(), 'supaplane-e2e-'));
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({ dataDir, ...(await freeStackPorts()), quiet: true, fastPostgres: true });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  project.provide('platform', {
    gatewayUrl: stack.gatewayUrl,
    baseDomain: stack.baseDomain,
    tenantManagerUrl: stack.tenantManagerUrl,
    adminKey: stack.adminKey,
    local: {
      postgresUrl: stack.postgresUrl,
      internalUrl: stack.internalUrl,
      internalToken: stack.internalToken,
      demoProject: stack.demoProject,
      redisUrl: stack.redisUrl,
    },
  });
  return async () => {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
