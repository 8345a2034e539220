import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import type { AwsProviderConfig } from './config.js';
import { createAwsPlatformStatus } from './platform.js';
import { throttled } from './testing/fake-aws.js';

const base: AwsProviderConfig = {
  region: 'eu-west-1',
  restFunction: { artifact: { s3Bucket: 'b', s3Key: 'k' }, roleArn: 'arn:aws:iam::111111111111:role/r' },
  gatewayRoleArn: 'arn:aws:iam::111111111111:role/g',
  ecs: { cluster: 'supaplane-cluster', services: ['gateway', 'tenant-manager'] },
};

describe('AWS platform status', () => {
  it('reports running/desired per configured service, MISSING for unknown ones, after throttling', async () => {
    const ecs = new ECSClient({ region: 'eu-west-1' });
    const mock = mockClient(ecs);
    mock
      .on(DescribeServicesCommand)
      .rejectsOnce(throttled())
      .resolves({
        services: [{ serviceName: 'gateway', status: 'ACTIVE', runningCount: 2, desiredCount: 3 }],
        failures: [
          {
            arn: 'arn:aws:ecs:eu-west-1:111111111111:service/supaplane-cluster/tenant-manager',
            reason: 'MISSING',
          },
        ],
      });
    const status = createAwsPlatformStatus(base, { ecs, sleep: async () => {} });
    expect(await status.describeServices()).toEqual([
      { name: 'gateway', status: 'ACTIVE', running: 2, desired: 3 },
      { name: 'tenant-manager', status: 'MISSING', running: 0, desired: 0 },
    ]);
    expect(mock.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: 'supaplane-cluster', services: ['gateway', 'tenant-manager'] },
      { cluster: 'supaplane-cluster', services: ['gateway', 'tenant-manager'] },
    ]);
  });

  it('asks for at most 10 services per call', async () => {
    const ecs = new ECSClient({ region: 'eu-west-1' });
    const mock = mockClient(ecs);
    mock.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({
      services: input.services.map((serviceName) => ({
        serviceName,
        status: 'ACTIVE',
        runningCount: 1,
        desiredCount: 1,
      })),
    }));
    const services = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
    const status = createAwsPlatformStatus(
      { ...base, ecs: { cluster: 'c', services } },
      { ecs, sleep: async () => {} },
    );
    const result = await status.describeServices();
    expect(result.map((s) => s.name)).toEqual(services);
    expect(mock.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input.services?.length)).toEqual([
      10, 2,
    ]);
  });
});
