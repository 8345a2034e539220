/**
 * Every AWS call the provider makes in its ordinary and its repair paths, with the input it sends:
 * what the infra tests hold the tenant-manager's IAM policy against (the stack and the provider live
 * in different packages, and only a real call shows the resources a request names).
 */
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsProviderConfig } from '../config.js';
import { createAwsProvider } from '../index.js';
import { fakeCloudWatch, fakeLambda, fakeLogs, fakeRds } from './fake-aws.js';

export interface ProviderCall {
  /** IAM service prefix of the client: `lambda`, `rds`, `logs`, `cloudwatch`, `ecs`. */
  readonly service: string;
  /** The API operation, e.g. `CreateFunction`. */
  readonly operation: string;
  readonly input: Readonly<Record<string, unknown>>;
}

const recorded = (service: string, mock: { calls(): { args: unknown[] }[] }): ProviderCall[] =>
  mock.calls().map((c) => {
    const command = c.args[0] as { constructor: { name: string }; input: Record<string, unknown> };
    return { service, operation: command.constructor.name.replace(/Command$/, ''), input: command.input };
  });

/**
 * Runs `config`'s provider through a project's function (create, re-ensure with new code, repair of a
 * public URL and a foreign grant, pause, reconcile while paused, restore, delete), the start-up repair of worker cluster log retention, a
 * worker cluster (its log group, create, re-run, delete with its final snapshot, its alarms) and the platform status, against stateful fakes, and returns every call in order.
 */
export async function recordProviderCalls(config: AwsProviderConfig, ref: string): Promise<ProviderCall[]> {
  const lambda = fakeLambda({ checksUntilActive: 0 });
  const logs = fakeLogs();
  const rds = fakeRds({ checksUntilAvailable: 0, logs });
  const cloudwatch = fakeCloudWatch();
  const ecsClient = new ECSClient({ region: config.region });
  const ecs = mockClient(ecsClient);
  ecs.on(DescribeServicesCommand).resolves({ services: [] });
  const deps = {
    lambda: lambda.client,
    rds: rds.client,
    logs: logs.client,
    cloudwatch: cloudwatch.client,
    ecs: ecsClient,
    sleep: async () => {},
  };
  // Its start-up repair of worker cluster log retention lists their log groups.
  const provider = createAwsProvider(config, deps);
  await provider.started;
  const input = { ref, environment: {} };

  const fn = await provider.functions.ensureRestFunction(input);
  // A later artifact and memory size, a URL that lost IAM auth and a grant to someone else: the
  // update and repair calls.
  const artifact = config.restFunction.artifact;
  const moved = 's3Bucket' in artifact ? { ...artifact, codeSha256: 'another-artifact' } : artifact;
  const memoryMiB = (config.restFunction.memoryMiB ?? 512) + 128;
  const repaired = createAwsProvider(
    { ...config, restFunction: { ...config.restFunction, artifact: moved, memoryMiB } },
    { ...deps, applyLogRetentionOnStart: false },
  );
  lambda.urls.get(fn.name)!.AuthType = 'NONE';
  const grant = [...lambda.policies.get(fn.name)!.values()][0]!;
  grant['Principal'] = { AWS: 'arn:aws:iam::999999999999:root' };
  await repaired.functions.ensureRestFunction(input);
  // A pause stops it; the start-up reconcile brings it current and keeps it stopped; the restore's
  // ensure starts it again.
  await provider.functions.stopRestFunction?.(ref);
  await provider.functions.ensureRestFunction({ ...input, stopped: true });
  await provider.functions.ensureRestFunction(input);
  await provider.functions.deleteRestFunction(ref);

  if (provider.clusters) {
    const cluster = await provider.clusters.createCluster({ name: 'eu 2' });
    // A re-run finds the cluster and resets its password.
    await provider.clusters.createCluster({ name: 'eu 2' });
    await provider.clusters.deleteCluster(cluster.externalId);
  }
  await provider.platform?.describeServices();
  return [
    ...recorded('lambda', lambda.mock),
    ...recorded('logs', logs.mock),
    ...recorded('rds', rds.mock),
    ...recorded('cloudwatch', cloudwatch.mock),
    ...recorded('ecs', ecs),
  ];
}
