import { LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it, vi } from 'vitest';
import { AwsProviderConfigError, createAwsProvider, parseAwsProviderConfig } from './index.js';
import { fakeLogs, fakeRds } from './testing/fake-aws.js';

const valid = {
  region: 'eu-west-1',
  restFunction: {
    artifact: { s3Bucket: 'supaplane-artifacts', s3Key: 'rest/rest-lambda.zip' },
    roleArn: 'arn:aws:iam::111111111111:role/supaplane-rest-function',
    runtime: 'nodejs22.x' as const,
  },
  gatewayRoleArn: 'arn:aws:iam::111111111111:role/gateway',
  ecs: { cluster: 'supaplane-cluster', services: ['gateway', 'tenant-manager'] },
};

const problems = (input: unknown) => {
  try {
    parseAwsProviderConfig(input);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(AwsProviderConfigError);
    return (error as AwsProviderConfigError).problems;
  }
};

describe('AWS provider config and factory', () => {
  it('parses the JSON the stack renders and names every bad field', () => {
    expect(parseAwsProviderConfig(JSON.stringify(valid)).region).toBe('eu-west-1');
    expect(problems('{nope')).toEqual(['config: not valid JSON']);
    expect(
      problems({
        ...valid,
        region: 'Europe',
        gatewayRoleArn: 'role/gateway',
        restFunction: {
          ...valid.restFunction,
          namePrefix: 'a-prefix-that-leaves-no-room-for-the-ref-',
          artifact: {},
          runtime: 'python3.12',
        },
        workerCluster: { identifierPrefix: 'Bad Prefix' },
      }),
    ).toEqual([
      'region: expected an AWS region',
      'restFunction.artifact: expected {s3Bucket, s3Key} or {zipFile}',
      'restFunction.namePrefix: expected up to 40 letters, digits, hyphens or underscores',
      'restFunction.runtime: expected nodejs20.x, nodejs22.x or nodejs24.x',
      'gatewayRoleArn: expected an IAM role ARN',
      'workerCluster.identifierPrefix: expected a lower-case prefix',
      'workerCluster.subnetGroupName: is required',
      'workerCluster.parameterGroupName: is required',
      'workerCluster.securityGroupIds: is required',
      'workerCluster.kmsKeyId: is required',
    ]);
  });

  it('accepts only a log retention CloudWatch Logs accepts for worker clusters', () => {
    const worker = {
      identifierPrefix: 'supaplane-worker-',
      subnetGroupName: 'supaplane-worker',
      parameterGroupName: 'supaplane-worker-pg16',
      securityGroupIds: ['sg-worker'],
      kmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
    };
    for (const logRetentionDays of [undefined, 1, 30, 1096, 3653])
      expect(problems({ ...valid, workerCluster: { ...worker, logRetentionDays } })).toEqual([]);
    for (const logRetentionDays of [0, 10, 3650, '30', null])
      expect(problems({ ...valid, workerCluster: { ...worker, logRetentionDays } })).toEqual([
        expect.stringMatching(
          /^workerCluster\.logRetentionDays: expected one of 1, 3, 5, 7, 14, 30, .*, 3653 /,
        ),
      ]);
  });

  it('builds a provider with only the parts the config enables', () => {
    const provider = createAwsProvider(JSON.stringify(valid), {
      lambda: new LambdaClient({ region: 'eu-west-1' }),
    });
    expect(provider.name).toBe('aws');
    expect(provider.clusters).toBeUndefined();
    expect(typeof provider.platform?.describeServices).toBe('function');
    expect(createAwsProvider({ awsProviderConfig: valid }).name).toBe('aws');
  });

  it('rejects a tenant-manager config without the AWS provider config, saying what to pass', () => {
    expect(() => createAwsProvider({ provider: 'aws', baseDomain: 'x' } as never)).toThrow(
      /SUPAPLANE_AWS_PROVIDER_CONFIG/,
    );
  });
  it('gives existing worker clusters their log retention when it starts, and a failure only warns', async () => {
    const workerCluster = {
      identifierPrefix: 'supaplane-worker-',
      subnetGroupName: 'supaplane-worker',
      parameterGroupName: 'supaplane-worker-pg16',
      securityGroupIds: ['sg-worker'],
      kmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
      logRetentionDays: 30,
    };
    const start = (logs: ReturnType<typeof fakeLogs>, warn = vi.fn()) => ({
      warn,
      provider: createAwsProvider(
        { ...valid, workerCluster },
        { logs: logs.client, rds: fakeRds().client, sleep: async () => {}, retry: { attempts: 1 }, warn },
      ),
    });
    const logs = fakeLogs();
    logs.groups.set('/aws/rds/cluster/supaplane-worker-eu-2/postgresql', {});
    const ok = start(logs);
    await ok.provider.started;
    expect(logs.groups.get('/aws/rds/cluster/supaplane-worker-eu-2/postgresql')).toEqual({
      retentionInDays: 30,
    });
    expect(ok.warn).not.toHaveBeenCalled();

    const denied = fakeLogs();
    denied.failAt(
      'DescribeLogGroups',
      1,
      Object.assign(new Error('not authorized to perform: logs:DescribeLogGroups'), {
        name: 'AccessDeniedException',
      }),
    );
    const failed = start(denied);
    await failed.provider.started;
    expect(failed.warn).toHaveBeenCalledWith(
      expect.stringContaining('AccessDeniedException: not authorized to perform: logs:DescribeLogGroups'),
    );
    expect(failed.provider.clusters).toBeDefined();
  });
});
