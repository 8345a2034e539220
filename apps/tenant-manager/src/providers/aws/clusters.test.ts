import { DescribeLogGroupsCommand, PutRetentionPolicyCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateDBClusterCommand, CreateDBInstanceCommand, DeleteDBClusterCommand } from '@aws-sdk/client-rds';
import { describe, expect, it, vi } from 'vitest';
import { clusterSlug, createAwsClusterProvider } from './clusters.js';
import type { AwsProviderConfig } from './config.js';
import { fakeCloudWatch, fakeLogs, fakeRds, throttled } from './testing/fake-aws.js';

const config: AwsProviderConfig = {
  region: 'eu-west-1',
  restFunction: { artifact: { s3Bucket: 'b', s3Key: 'k' }, roleArn: 'arn:aws:iam::111111111111:role/r' },
  gatewayRoleArn: 'arn:aws:iam::111111111111:role/g',
  workerCluster: {
    identifierPrefix: 'supaplane-worker-',
    subnetGroupName: 'supaplane-worker',
    parameterGroupName: 'supaplane-worker-pg16',
    securityGroupIds: ['sg-worker'],
    kmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
    engineVersion: '16.6',
    minCapacity: 0.5,
    maxCapacity: 8,
    backupRetentionDays: 7,
    deletionProtection: true,
    logRetentionDays: 14,
  },
  tags: { project: 'supaplane' },
};

const ID = 'supaplane-worker-eu-2';
const LOG_GROUP = `/aws/rds/cluster/${ID}/postgresql`;

function setup(
  workerCluster: Partial<NonNullable<AwsProviderConfig['workerCluster']>> = {},
  logsOptions: Parameters<typeof fakeLogs>[0] = {},
) {
  const logs = fakeLogs(logsOptions);
  // Like RDS, the fake creates a missing export log group itself, without expiry.
  const rds = fakeRds({ checksUntilAvailable: 1, logs });
  const cloudwatch = fakeCloudWatch();
  let n = 0;
  const generatePassword = vi.fn(() => `password-${++n}`);
  const sleep = vi.fn(async (_ms: number) => {});
  const provider = createAwsClusterProvider(
    { ...config, workerCluster: { ...config.workerCluster!, ...workerCluster } },
    {
      rds: rds.client,
      logs: logs.client,
      cloudwatch: cloudwatch.client,
      sleep,
      generatePassword,
      availablePoll: { intervalMs: 500, maxChecks: 10 },
    },
  );
  return { rds, logs, cloudwatch, sleep, provider, generatePassword };
}

/** A run's result must be a credential that works against the cluster as it is now. */
function expectConverged(
  rds: ReturnType<typeof fakeRds>,
  connection: { adminPassword: string; externalId: string },
) {
  expect([...rds.clusters.keys()]).toEqual([ID]);
  expect([...rds.instances.keys()]).toEqual([`${ID}-writer`]);
  expect(rds.clusters.get(ID)!.status).toBe('available');
  expect(rds.instances.get(`${ID}-writer`)!.status).toBe('available');
  expect(rds.clusters.get(ID)!.password).toBe(connection.adminPassword);
  expect(connection.externalId).toBe(ID);
}

const CREATE_RUN = [
  'CreateDBCluster',
  'CreateDBInstance',
  'DescribeDBClusters', // creating
  'DescribeDBClusters', // available
  'DescribeDBInstances', // creating
  'DescribeDBClusters', // available
  'DescribeDBInstances', // available
];

describe('AWS worker cluster provider', () => {
  it('names clusters from a slug of the name', () => {
    expect(clusterSlug('EU 2')).toBe('eu-2');
    expect(clusterSlug('--Main__Cluster--')).toBe('main-cluster');
    expect(() => clusterSlug('!!!')).toThrow(/letters or digits/);
  });

  it("keeps the cluster and writer identifiers within RDS's 63 characters under the longest stack prefix", async () => {
    const prefix = 'abcdefghijklmnopqrst-worker-'; // infra's longest namePrefix (20) + '-worker-'
    const { rds, provider } = setup({ identifierPrefix: prefix });
    const connection = await provider.createCluster({ name: 'Europe West Primary Cluster Number Two' });
    const cluster = rds.mock.commandCalls(CreateDBClusterCommand)[0]!.args[0].input.DBClusterIdentifier!;
    const writer = rds.mock.commandCalls(CreateDBInstanceCommand)[0]!.args[0].input.DBInstanceIdentifier!;
    // 63 - 28 - 7 = 28 characters of slug, less the hyphen the cut leaves at its end.
    expect(cluster).toBe(`${prefix}europe-west-primary-cluster`);
    expect(writer).toBe(`${cluster}-writer`);
    expect(writer.length).toBeLessThanOrEqual(63);
    expect(connection.externalId).toBe(cluster);
  });

  it('creates an encrypted Serverless v2 cluster and writer, waits until available, returns the connection', async () => {
    const { rds, provider, sleep } = setup();
    const connection = await provider.createCluster({ name: 'EU 2' });
    expect(rds.calls()).toEqual(CREATE_RUN);
    expect(connection).toEqual({
      host: `${ID}.cluster-abc.eu-west-1.rds.amazonaws.com`,
      port: 5432,
      adminUser: 'supaplane_admin',
      adminPassword: 'password-1',
      region: 'eu-west-1',
      externalId: ID,
    });
    expect(rds.mock.commandCalls(CreateDBClusterCommand)[0]!.args[0].input).toMatchObject({
      DBClusterIdentifier: ID,
      Engine: 'aurora-postgresql',
      EngineVersion: '16.6',
      MasterUsername: 'supaplane_admin',
      MasterUserPassword: 'password-1',
      DBSubnetGroupName: 'supaplane-worker',
      VpcSecurityGroupIds: ['sg-worker'],
      DBClusterParameterGroupName: 'supaplane-worker-pg16',
      StorageEncrypted: true,
      KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
      DeletionProtection: true,
      Tags: [
        { Key: 'project', Value: 'supaplane' },
        { Key: 'supaplane:worker-cluster', Value: 'EU 2' },
      ],
    });
    expect(rds.mock.commandCalls(CreateDBInstanceCommand)[0]!.args[0].input).toMatchObject({
      DBInstanceIdentifier: `${ID}-writer`,
      DBClusterIdentifier: ID,
      DBInstanceClass: 'db.serverless',
      Engine: 'aurora-postgresql',
    });
    expect(sleep.mock.calls).toEqual([[500], [500]]);
    expectConverged(rds, connection);
  });

  it('gives the PostgreSQL log group its retention before the cluster exists, so RDS never makes one that keeps logs forever', async () => {
    const { rds, logs, provider } = setup();
    await provider.createCluster({ name: 'EU 2' });
    expect(logs.calls()).toEqual(['CreateLogGroup', 'PutRetentionPolicy']);
    expect(logs.mock.commandCalls(PutRetentionPolicyCommand)[0]!.args[0].input).toEqual({
      logGroupName: LOG_GROUP,
      retentionInDays: 14,
    });
    expect(Object.fromEntries(logs.groups)).toEqual({ [LOG_GROUP]: { retentionInDays: 14 } });

    // No cluster is created while its group has no retention.
    const next = setup();
    next.logs.failAt('PutRetentionPolicy');
    await expect(next.provider.createCluster({ name: 'EU 2' })).rejects.toThrow(
      'injected failure at PutRetentionPolicy',
    );
    expect(next.rds.calls()).toEqual([]);
    expect(rds.clusters.size).toBe(1);
  });

  it('keeps the logs 30 days when the config names no retention', async () => {
    const { logs, provider } = setup({ logRetentionDays: undefined });
    await provider.createCluster({ name: 'eu-2' });
    expect(logs.groups.get(LOG_GROUP)).toEqual({ retentionInDays: 30 });
  });

  it.each(['CreateLogGroup', 'PutRetentionPolicy'])(
    'converges after a failure at %s, and takes over a group RDS made without expiry',
    async (step) => {
      const { rds, logs, provider } = setup();
      logs.failAt(step);
      await expect(provider.createCluster({ name: 'eu-2' })).rejects.toThrow(`injected failure at ${step}`);
      expectConverged(rds, await provider.createCluster({ name: 'eu-2' }));
      expect(logs.groups.get(LOG_GROUP)).toEqual({ retentionInDays: 14 });

      // A cluster created before the provider made groups: RDS's group is already there, kept forever.
      const old = setup();
      old.logs.groups.set(LOG_GROUP, {});
      old.logs.failAt(step, 1, throttled());
      expectConverged(old.rds, await old.provider.createCluster({ name: 'eu-2' }));
      expect(old.logs.groups.get(LOG_GROUP)).toEqual({ retentionInDays: 14 });
    },
  );

  it('takes the capacity range from the request when given', async () => {
    const { rds, provider } = setup();
    await provider.createCluster({ name: 'eu-2', minCapacity: 2, maxCapacity: 16 });
    expect(
      rds.mock.commandCalls(CreateDBClusterCommand)[0]!.args[0].input.ServerlessV2ScalingConfiguration,
    ).toEqual({
      MinCapacity: 2,
      MaxCapacity: 16,
    });
  });

  const steps = CREATE_RUN.map((step, i) => ({
    step,
    nth: CREATE_RUN.slice(0, i + 1).filter((s) => s === step).length,
  }));
  it.each(steps)(
    'converges after a failure at $step (call $nth), resetting the master password it returns',
    async ({ step, nth }) => {
      const { rds, provider } = setup();
      rds.failAt(step, nth);
      await expect(provider.createCluster({ name: 'eu-2' })).rejects.toThrow(`injected failure at ${step}`);
      const connection = await provider.createCluster({ name: 'eu-2' });
      expectConverged(rds, connection);
      if (step !== 'CreateDBCluster') {
        // The cluster existed: the second run set its own password rather than returning a lost one.
        expect(connection.adminPassword).toBe('password-2');
        expect(rds.calls()).toContain('ModifyDBCluster');
      }
    },
  );

  it('converges after a failure while resetting the password of an existing cluster', async () => {
    const { rds, provider } = setup();
    rds.failAt('CreateDBInstance');
    await expect(provider.createCluster({ name: 'eu-2' })).rejects.toThrow();
    rds.failAt('ModifyDBCluster');
    await expect(provider.createCluster({ name: 'eu-2' })).rejects.toThrow(
      'injected failure at ModifyDBCluster',
    );
    expectConverged(rds, await provider.createCluster({ name: 'eu-2' }));
  });

  it('refuses at once, with a retryable 409, a name whose earlier cluster RDS is still deleting', async () => {
    const { rds, sleep, provider } = setup();
    rds.clusters.set(ID, { input: {}, password: 'old', status: 'deleting', checksUntilAvailable: 0 });
    await expect(provider.createCluster({ name: 'eu 2' })).rejects.toMatchObject({
      statusCode: 409,
      code: 'cluster_still_deleting',
      message: expect.stringContaining(`${ID}, which RDS is deleting; retry once it is gone`),
    });
    expect(sleep).not.toHaveBeenCalled();
    expect(rds.calls()).toEqual(['CreateDBCluster', 'DescribeDBClusters']);
    // Once RDS has removed it, the same request creates the cluster.
    rds.clusters.delete(ID);
    expectConverged(rds, await provider.createCluster({ name: 'eu 2' }));
  });

  it('retries throttling and bounds the wait for availability', async () => {
    const { rds, provider } = setup();
    rds.failAt('CreateDBCluster', 1, throttled());
    expectConverged(rds, await provider.createCluster({ name: 'eu-2' }));
    expect(rds.calls().slice(0, 2)).toEqual(['CreateDBCluster', 'CreateDBCluster']);

    const stuck = fakeRds({ checksUntilAvailable: 1000 });
    const slow = createAwsClusterProvider(config, {
      rds: stuck.client,
      logs: fakeLogs().client,
      sleep: async () => {},
      availablePoll: { intervalMs: 1, maxChecks: 3 },
    });
    await expect(slow.createCluster({ name: 'eu-2' })).rejects.toThrow(
      `timed out waiting for ${ID} to become available`,
    );
  });

  it("leaves the stack's own worker cluster alone: no create under its name, no delete", async () => {
    const { rds, logs, provider } = setup({ reservedIdentifiers: ['supaplane-worker-main'] });
    // The stack made this one's log group (with databaseLogRetentionDays); the provider keeps off it.
    logs.groups.set('/aws/rds/cluster/supaplane-worker-main/postgresql', { retentionInDays: 90 });
    await expect(provider.createCluster({ name: 'Main' })).rejects.toMatchObject({
      message: expect.stringMatching(/"Main" is taken by the stack's own cluster supaplane-worker-main/),
      statusCode: 409, // the operator's choice of name, answered as such, not a 500
      code: 'cluster_name_reserved',
    });
    expect([provider.owns('supaplane-worker-main'), provider.owns('supaplane-worker-main-2')]).toEqual([
      false,
      true,
    ]);
    await expect(provider.deleteCluster('supaplane-worker-main')).rejects.toThrow(/not a worker cluster/);
    expect(rds.calls()).toEqual([]);
    expect(logs.calls()).toEqual([]);
  });

  it('refuses other regions and clusters it does not own', async () => {
    const { rds, logs, provider } = setup();
    await expect(provider.createCluster({ name: 'x', region: 'us-east-1' })).rejects.toMatchObject({
      message: expect.stringMatching(/only be created in eu-west-1/),
      statusCode: 400,
      code: 'unsupported_region',
    });
    expect([provider.owns('supaplane-management'), provider.owns(ID)]).toEqual([false, true]);
    await expect(provider.deleteCluster('supaplane-management')).rejects.toThrow(/not a worker cluster/);
    expect(rds.calls()).toEqual([]);
    expect(logs.calls()).toEqual([]);
  });

  it('gives a cluster it creates alarms on CPU, capacity and connections, sent to the alarm topic, and deletes them with it', async () => {
    const TOPIC = 'arn:aws:sns:eu-west-1:111111111111:supaplane-alarms';
    const { cloudwatch, provider } = setup({ alarmTopicArn: TOPIC, minCapacity: 1, maxCapacity: 16 });
    await provider.createCluster({ name: 'EU 2' });
    expect([...cloudwatch.alarms.keys()].sort()).toEqual([`${ID}-acu`, `${ID}-connections`, `${ID}-cpu`]);
    const common = {
      Namespace: 'AWS/RDS',
      Dimensions: [{ Name: 'DBClusterIdentifier', Value: ID }],
      Period: 300,
      EvaluationPeriods: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
      OKActions: [TOPIC],
      Tags: [
        { Key: 'project', Value: 'supaplane' },
        { Key: 'supaplane:worker-cluster', Value: 'EU 2' },
      ],
    };
    expect(cloudwatch.alarms.get(`${ID}-cpu`)).toMatchObject({
      ...common,
      MetricName: 'CPUUtilization',
      Statistic: 'Average',
      Threshold: 85,
    });
    expect(cloudwatch.alarms.get(`${ID}-acu`)).toMatchObject({
      ...common,
      MetricName: 'ACUUtilization',
      Statistic: 'Average',
      Threshold: 90,
    });
    // 80% of the max_connections Aurora gives 1-16 ACU (estimated 189 per maximum ACU: 3,024).
    expect(cloudwatch.alarms.get(`${ID}-connections`)).toMatchObject({
      ...common,
      MetricName: 'DatabaseConnections',
      Statistic: 'Maximum',
      Threshold: 2419,
    });
    for (const alarm of cloudwatch.alarms.values()) expect(alarm.AlarmDescription).toContain(ID);
    // A re-run (the cluster exists) sets the same alarms again, from the cluster's own capacity.
    await provider.createCluster({ name: 'EU 2', maxCapacity: 4 });
    expect(cloudwatch.alarms.size).toBe(3);
    expect(cloudwatch.alarms.get(`${ID}-connections`)!.Threshold).toBe(2419);

    await provider.deleteCluster(ID);
    expect(cloudwatch.alarms.size).toBe(0);
    // A deletion run again (the cluster and its alarms already gone) converges.
    cloudwatch.mock.resetHistory();
    await provider.deleteCluster(ID);
    expect(cloudwatch.calls()).toEqual(['DeleteAlarms', 'DeleteAlarms', 'DeleteAlarms']);
  });

  it('keeps an alarm-less cluster alarm-less when the config names no alarm topic', async () => {
    const { cloudwatch, provider } = setup();
    await provider.createCluster({ name: 'EU 2' });
    await provider.deleteCluster(ID);
    expect(cloudwatch.calls()).toEqual([]);
  });

  it('lifts deletion protection, deletes the writer, waits for it, then deletes the cluster with a final snapshot', async () => {
    const { rds, provider } = setup();
    await provider.createCluster({ name: 'eu-2' });
    const snapshot = `${ID}-final-${rds.clusters.get(ID)!.resourceId!.slice('cluster-'.length).toLowerCase()}`;
    expect(rds.clusters.get(ID)!.input['DeletionProtection']).toBe(true);
    rds.mock.resetHistory();
    await provider.deleteCluster(ID);
    expect(rds.calls()).toEqual([
      'DescribeDBClusters',
      'ModifyDBCluster', // DeletionProtection: false
      'DeleteDBInstance',
      'DescribeDBInstances', // deleting
      'DescribeDBInstances', // deleting (gone after)
      'DescribeDBInstances', // not found
      'DeleteDBCluster',
    ]);
    expect(rds.mock.commandCalls(DeleteDBClusterCommand)[0]!.args[0].input).toEqual({
      DBClusterIdentifier: ID,
      SkipFinalSnapshot: false,
      FinalDBSnapshotIdentifier: snapshot,
    });
    expect(snapshot).toMatch(/^supaplane-worker-eu-2-final-[a-z0-9]{26}$/);
    expect(rds.clusters.size + rds.instances.size).toBe(0);
    expect([...rds.snapshots]).toEqual([snapshot]);
    await expect(provider.deleteCluster(ID)).resolves.toBeUndefined();
  });

  it.each([
    'DescribeDBClusters',
    'ModifyDBCluster',
    'DeleteDBInstance',
    'DescribeDBInstances',
    'DeleteDBCluster',
  ])('deletion converges after a failure at %s', async (step) => {
    const { rds, provider } = setup();
    await provider.createCluster({ name: 'eu-2' });
    rds.failAt(step);
    await expect(provider.deleteCluster(ID)).rejects.toThrow(`injected failure at ${step}`);
    await provider.deleteCluster(ID);
    expect(rds.clusters.size + rds.instances.size).toBe(0);
  });

  /** A cluster whose writer RDS still reports as creating for `checks` more describes. */
  const creatingWriter = async (rds: ReturnType<typeof setup>['rds'], checks: number) => {
    await rds.client.send(
      new CreateDBClusterCommand({ DBClusterIdentifier: ID, Engine: 'aurora-postgresql' }),
    );
    await rds.client.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: `${ID}-writer`,
        DBClusterIdentifier: ID,
        Engine: 'aurora-postgresql',
        DBInstanceClass: 'db.serverless',
      }),
    );
    rds.instances.get(`${ID}-writer`)!.checks = checks;
  };

  it('deletes a cluster whose writer is still being created: asks again until RDS accepts, then goes on', async () => {
    const { rds, provider } = setup();
    await creatingWriter(rds, 3);
    rds.mock.resetHistory();
    await provider.deleteCluster(ID);
    const deletes = rds.calls().filter((c) => c === 'DeleteDBInstance');
    // Refused at first and at each of the three checks that still saw it creating, then accepted.
    expect(deletes.length).toBe(5);
    expect(rds.clusters.size + rds.instances.size).toBe(0);
    expect([...rds.snapshots]).toEqual([expect.stringMatching(`^${ID}-final-`)]);
  });

  it('gives up on a writer that stays refused within the bounded wait, saying why', async () => {
    const { rds, sleep, provider } = setup();
    await creatingWriter(rds, 1_000);
    await expect(provider.deleteCluster(ID)).rejects.toThrow(
      `${ID}-writer could not be deleted: RDS refused it while it was creating for 10 checks, 500 ms apart; the deletion is retried`,
    );
    expect(sleep).toHaveBeenCalledTimes(9);
    expect(rds.clusters.has(ID)).toBe(true);
    expect(rds.calls()).not.toContain('DeleteDBCluster');
  });

  it("keeps a deleted cluster's PostgreSQL log until its retention ends, giving one to a group that had none", async () => {
    const { logs, provider } = setup();
    await provider.createCluster({ name: 'eu-2' });
    logs.groups.get(LOG_GROUP)!.retentionInDays = undefined; // as RDS made it for a cluster from before
    logs.mock.resetHistory();
    await provider.deleteCluster(ID);
    expect(logs.calls()).toEqual(['PutRetentionPolicy']);
    expect(Object.fromEntries(logs.groups)).toEqual({ [LOG_GROUP]: { retentionInDays: 14 } });

    // A cluster that never exported a line has no group; its deletion goes on.
    const bare = setup();
    await bare.provider.createCluster({ name: 'eu-2' });
    bare.logs.groups.clear();
    await bare.provider.deleteCluster(ID);
    expect(bare.rds.clusters.size).toBe(0);
    expect(bare.logs.groups.size).toBe(0);
  });

  it('skips the final snapshot when an interrupted run already took it', async () => {
    const { rds, provider } = setup();
    await provider.createCluster({ name: 'eu-2' });
    const id = rds.clusters.get(ID)!.resourceId!.slice('cluster-'.length).toLowerCase();
    rds.snapshots.add(`${ID}-final-${id}`);
    await provider.deleteCluster(ID);
    const deletes = rds.mock
      .commandCalls(DeleteDBClusterCommand)
      .map((c) => c.args[0].input.SkipFinalSnapshot);
    expect(deletes).toEqual([false, true]);
    expect(rds.clusters.size).toBe(0);
  });

  it('keeps a final snapshot of a later cluster under the name of a deleted one', async () => {
    const { rds, provider } = setup();
    await provider.createCluster({ name: 'eu-2' });
    await provider.deleteCluster(ID);
    await provider.createCluster({ name: 'eu-2' });
    await provider.deleteCluster(ID);
    // Both clusters' data is kept; none was deleted without its snapshot.
    const deletes = rds.mock
      .commandCalls(DeleteDBClusterCommand)
      .map((c) => c.args[0].input.SkipFinalSnapshot);
    expect(deletes).toEqual([false, false]);
    expect(new Set(rds.snapshots).size).toBe(2);
  });
  it("gives every existing worker cluster's PostgreSQL log the configured retention, and only those", async () => {
    const { logs, provider } = setup({ reservedIdentifiers: ['supaplane-worker-main'] }, { pageSize: 2 });
    const group = (id: string, log = 'postgresql') => `/aws/rds/cluster/${id}/${log}`;
    // Made by RDS before retentions were set, set under an earlier retention, already right.
    logs.groups.set(group('supaplane-worker-old'), {});
    logs.groups.set(group('supaplane-worker-older'), { retentionInDays: 90 });
    logs.groups.set(group('supaplane-worker-right'), { retentionInDays: 14 });
    // The stack's own cluster, another export of ours, and another stack's cluster.
    logs.groups.set(group('supaplane-worker-main'), { retentionInDays: 90 });
    logs.groups.set(group('supaplane-worker-old', 'upgrade'), {});
    logs.groups.set(group('other-worker-x'), {});
    logs.failAt('DescribeLogGroups', 2, throttled());

    expect(await provider.applyLogRetention()).toEqual([
      group('supaplane-worker-old'),
      group('supaplane-worker-older'),
    ]);
    expect(Object.fromEntries(logs.groups)).toEqual({
      [group('supaplane-worker-old')]: { retentionInDays: 14 },
      [group('supaplane-worker-older')]: { retentionInDays: 14 },
      [group('supaplane-worker-right')]: { retentionInDays: 14 },
      [group('supaplane-worker-main')]: { retentionInDays: 90 },
      [group('supaplane-worker-old', 'upgrade')]: {},
      [group('other-worker-x')]: {},
    });
    // Listed by the provider's prefix, every page (one page throttled and retried).
    const listed = logs.mock.commandCalls(DescribeLogGroupsCommand).map((c) => c.args[0].input);
    expect(new Set(listed.map((i) => i.logGroupNamePrefix))).toEqual(
      new Set(['/aws/rds/cluster/supaplane-worker-']),
    );
    expect(listed.map((i) => i.nextToken)).toEqual([undefined, '2', '2', '4']);
    // A second run finds nothing to change.
    logs.mock.resetHistory();
    expect(await provider.applyLogRetention()).toEqual([]);
    expect(logs.calls().filter((c) => c !== 'DescribeLogGroups')).toEqual([]);
  });
});

describe('AWS worker cluster provider: a cluster that will not become available', () => {
  /** Puts the cluster (or its writer) in `status` at the first wait. */
  const stuckAt = (status: string, what: 'cluster' | 'writer') => {
    const run = setup();
    run.sleep.mockImplementationOnce(async () => {
      if (what === 'cluster') run.rds.clusters.get(ID)!.status = status;
      else run.rds.instances.get(`${ID}-writer`)!.status = status;
    });
    return run;
  };

  for (const [status, what] of [
    ['inaccessible-encryption-credentials', 'cluster'],
    ['inaccessible-encryption-credentials-recoverable', 'cluster'],
    ['migration-failed', 'cluster'],
    ['failed', 'writer'],
    ['incompatible-parameters', 'writer'],
    ['incompatible-network', 'writer'],
  ] as const) {
    it(`fails at once, saying so, on a ${what} that is ${status}`, async () => {
      const { sleep, provider } = stuckAt(status, what);
      const name = what === 'cluster' ? `cluster ${ID}` : `writer ${ID}-writer of ${ID}`;
      await expect(provider.createCluster({ name: 'eu-2' })).rejects.toThrow(
        `${name} is ${status}, which RDS does not leave by itself`,
      );
      // So does a second run, which finds the cluster there.
      await expect(provider.createCluster({ name: 'eu-2' })).rejects.toMatchObject({
        statusCode: 409,
        code: 'cluster_stuck',
      });
      expect(sleep).toHaveBeenCalledTimes(1);
    });
  }

  it('keeps waiting through transitional statuses', async () => {
    const { rds, sleep, provider } = setup();
    const statuses = ['modifying', 'backing-up', 'available'];
    sleep.mockImplementation(async () => {
      const cluster = rds.clusters.get(ID)!;
      cluster.status = statuses.shift() ?? cluster.status;
    });
    expectConverged(rds, await provider.createCluster({ name: 'eu-2' }));
    expect(statuses).toEqual([]);
  });
});
