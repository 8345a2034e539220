import { DescribeServicesCommand, type ECSClient } from '@aws-sdk/client-ecs';
import type { PlatformStatusProvider, ServiceStatus } from '../types.js';
import type { AwsProviderConfig } from './config.js';
import { type RetryPolicy, type Sleep, withThrottlingRetry } from './retry.js';

interface AwsPlatformStatusDeps {
  readonly ecs: ECSClient;
  readonly sleep: Sleep;
  readonly retry?: RetryPolicy;
}

/** Running/desired task counts of the platform's ECS services (`GET /v1/platform/status`). */
export function createAwsPlatformStatus(
  config: AwsProviderConfig,
  deps: AwsPlatformStatusDeps,
): PlatformStatusProvider {
  const ecs = config.ecs;
  if (!ecs) throw new Error('AWS provider: ecs is not configured');
  return {
    async describeServices(): Promise<ServiceStatus[]> {
      const found = new Map<string, ServiceStatus>();
      // DescribeServices takes at most 10 services per call.
      for (let i = 0; i < ecs.services.length; i += 10) {
        const batch = ecs.services.slice(i, i + 10);
        const out = await withThrottlingRetry(
          () => deps.ecs.send(new DescribeServicesCommand({ cluster: ecs.cluster, services: batch })),
          deps.sleep,
          deps.retry,
        );
        for (const s of out.services ?? []) {
          found.set(s.serviceName!, {
            name: s.serviceName!,
            status: s.status ?? 'UNKNOWN',
            running: s.runningCount ?? 0,
            desired: s.desiredCount ?? 0,
          });
        }
      }
      return ecs.services.map(
        (name) => found.get(name) ?? { name, status: 'MISSING', running: 0, desired: 0 },
      );
    },
  };
}
