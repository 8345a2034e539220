import { randomBytes } from 'node:crypto';
import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeLogGroupsCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  type DBCluster,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { badRequest, conflict } from '../../lib/errors.js';
import type { NewWorkerCluster, WorkerClusterConnection, WorkerClusterProvider } from '../types.js';
import type { AwsProviderConfig } from './config.js';
import {
  errorName,
  ignoreNotFound,
  type PollPolicy,
  PollTimeout,
  pollUntil,
  type RetryPolicy,
  type Sleep,
  withThrottlingRetry,
} from './retry.js';

interface AwsClusterProviderDeps {
  readonly rds: RDSClient;
  /** For the log group each cluster exports its PostgreSQL log to. */
  readonly logs: CloudWatchLogsClient;
  /** For each cluster's alarms; needed when the config names an alarm topic. */
  readonly cloudwatch?: CloudWatchClient;
  readonly sleep: Sleep;
  readonly retry?: RetryPolicy;
  /** Waiting for a cluster/instance to become available or disappear. Default 20 s × 120 (40 min). */
  readonly availablePoll?: PollPolicy;
  /** Master password generator. Default 32 random bytes, hex. */
  readonly generatePassword?: () => string;
}

/** The AWS provider's worker clusters, with the start-up repair of their log retention. */
export interface AwsClusterProvider extends WorkerClusterProvider {
  /**
   * Gives every PostgreSQL log group of this provider's worker clusters the configured retention
   * (groups RDS made before the provider set one keep logs forever; a changed retention reaches
   * every group). Groups that already have it are left alone; returns the names changed.
   */
  applyLogRetention(): Promise<string[]>;
}

/** RDS's longest DB cluster or instance identifier. */
const RDS_IDENTIFIER_MAX = 63;
const WRITER_SUFFIX = '-writer';

/**
 * A conservative estimate of an Aurora PostgreSQL Serverless v2 cluster's default `max_connections`,
 * which Aurora fixes from the *maximum* ACU (189 at 1 ACU, 823 at 4, 3,360 at 16, 5,000 from 32; at
 * most 2,000 while the minimum is 0.5): the same estimate infra/lib/config.ts bounds project limits by.
 */
const estimatedMaxConnections = (minCapacity: number, maxCapacity: number) =>
  Math.min(Math.floor(189 * maxCapacity), minCapacity <= 0.5 ? 2000 : 5000);

/**
 * The alarms every worker cluster the provider creates gets, named `<cluster id>-<suffix>` (IAM
 * scopes them by the cluster prefix), like the stack's on its own worker cluster: a cluster created at
 * runtime is outside the stack, and nothing would watch it otherwise.
 */
const CLUSTER_ALARMS = [
  {
    suffix: 'cpu',
    metric: 'CPUUtilization',
    statistic: 'Average',
    threshold: () => 85,
    what: 'CPU above 85%',
  },
  {
    suffix: 'acu',
    metric: 'ACUUtilization',
    statistic: 'Average',
    threshold: () => 90,
    what: 'near its maximum capacity (ACUs): raise it or move projects',
  },
  {
    suffix: 'connections',
    metric: 'DatabaseConnections',
    statistic: 'Maximum',
    threshold: (min: number, max: number) => Math.floor(0.8 * estimatedMaxConnections(min, max)),
    what: "connections above 80% of what its maximum capacity allows: lower projects' db_connections or raise its capacity",
  },
] as const;

/** Names of the alarms of worker cluster `id`. */
const clusterAlarmNames = (id: string) => CLUSTER_ALARMS.map((a) => `${id}-${a.suffix}`);

/**
 * `Name` → a valid RDS identifier suffix: lower-case letters, digits and single hyphens, at most
 * `maxLength` characters (30 by default).
 */
export function clusterSlug(name: string, maxLength = 30): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!slug) throw new Error('worker cluster name must contain letters or digits');
  return slug.slice(0, maxLength).replace(/-+$/, '');
}

/** Where RDS exports a cluster's PostgreSQL log (`EnableCloudwatchLogsExports: ['postgresql']`). */
const postgresqlLogGroupName = (clusterIdentifier: string) =>
  `/aws/rds/cluster/${clusterIdentifier}/postgresql`;

/**
 * Worker database clusters on Aurora PostgreSQL Serverless v2: the log group with its retention,
 * CreateDBCluster + a serverless writer, wait until available, return the connection for
 * registration. The master password is (re)set on every run, so a re-run after any failure returns a
 * credential that works.
 */
export function createAwsClusterProvider(
  config: AwsProviderConfig,
  deps: AwsClusterProviderDeps,
): AwsClusterProvider {
  const worker = config.workerCluster;
  if (!worker) throw new Error('AWS provider: workerCluster is not configured');
  const poll = deps.availablePoll ?? { intervalMs: 20_000, maxChecks: 120 };
  const send = <T>(call: () => Promise<T>) => withThrottlingRetry(call, deps.sleep, deps.retry);
  const password = deps.generatePassword ?? (() => randomBytes(32).toString('hex'));
  const masterUsername = worker.masterUsername ?? 'supaplane_admin';
  const writerId = (cluster: string) => `${cluster}${WRITER_SUFFIX}`;
  // The writer's identifier (the longest name made from the slug) must fit RDS's 63 characters too:
  // with a 20-character stack prefix, `<prefix>-worker-` leaves 28 for the slug.
  const slugRoom = Math.min(30, RDS_IDENTIFIER_MAX - worker.identifierPrefix.length - WRITER_SUFFIX.length);
  if (slugRoom < 1)
    throw new Error(`AWS provider: workerCluster.identifierPrefix is too long for RDS identifiers`);

  const describeCluster = async (id: string): Promise<DBCluster | undefined> => {
    try {
      const out = await send(() => deps.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id })));
      return out.DBClusters?.[0];
    } catch (error) {
      if (errorName(error) === 'DBClusterNotFoundFault') return undefined;
      throw error;
    }
  };
  const instanceStatus = async (id: string): Promise<string | undefined> => {
    try {
      const out = await send(() =>
        deps.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })),
      );
      return out.DBInstances?.[0]?.DBInstanceStatus;
    } catch (error) {
      if (errorName(error) === 'DBInstanceNotFoundFault') return undefined;
      throw error;
    }
  };

  const logRetentionDays = worker.logRetentionDays ?? 30;
  const putLogRetention = (id: string) =>
    send(() =>
      deps.logs.send(
        new PutRetentionPolicyCommand({
          logGroupName: postgresqlLogGroupName(id),
          retentionInDays: logRetentionDays,
        }),
      ),
    );
  // RDS would create the group on the first export, without expiry (the log may hold statements
  // with tenant data): it exists with its retention before the cluster does. A group left by an
  // earlier run, or made by RDS for a cluster created before this, is fine: it gets the retention too.
  const ensureLogGroup = async (id: string) => {
    try {
      await send(() =>
        deps.logs.send(new CreateLogGroupCommand({ logGroupName: postgresqlLogGroupName(id) })),
      );
    } catch (error) {
      if (errorName(error) !== 'ResourceAlreadyExistsException') throw error;
    }
    await putLogRetention(id);
  };

  /** Creates or replaces the cluster's alarms (PutMetricAlarm overwrites: a re-run converges). */
  const putAlarms = async (id: string, cluster: DBCluster, tags: { Key: string; Value: string }[]) => {
    const topic = worker.alarmTopicArn;
    if (!topic) return;
    const cloudwatch = requireCloudWatch();
    const min = cluster.ServerlessV2ScalingConfiguration?.MinCapacity ?? worker.minCapacity ?? 0.5;
    const max = cluster.ServerlessV2ScalingConfiguration?.MaxCapacity ?? worker.maxCapacity ?? 4;
    for (const alarm of CLUSTER_ALARMS) {
      await send(() =>
        cloudwatch.send(
          new PutMetricAlarmCommand({
            AlarmName: `${id}-${alarm.suffix}`,
            AlarmDescription: `Worker cluster ${id}: ${alarm.what}`,
            Namespace: 'AWS/RDS',
            MetricName: alarm.metric,
            Dimensions: [{ Name: 'DBClusterIdentifier', Value: id }],
            Statistic: alarm.statistic,
            Period: 300,
            EvaluationPeriods: 3,
            Threshold: alarm.threshold(min, max),
            ComparisonOperator: 'GreaterThanOrEqualToThreshold',
            TreatMissingData: 'notBreaching',
            AlarmActions: [topic],
            OKActions: [topic],
            Tags: tags,
          }),
        ),
      );
    }
  };

  /** Deletes the cluster's alarms one by one (DeleteAlarms refuses a list naming a missing one). */
  const deleteAlarms = async (id: string) => {
    if (!worker.alarmTopicArn) return;
    const cloudwatch = requireCloudWatch();
    for (const name of clusterAlarmNames(id)) {
      try {
        await send(() => cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: [name] })));
      } catch (error) {
        if (errorName(error) !== 'ResourceNotFound') throw error;
      }
    }
  };

  const requireCloudWatch = () => {
    if (!deps.cloudwatch)
      throw new Error('workerCluster.alarmTopicArn is set but no CloudWatch client was given');
    return deps.cloudwatch;
  };

  const reserved = new Set(worker.reservedIdentifiers ?? []);
  const owns = (externalId: string) =>
    externalId.startsWith(worker.identifierPrefix) && !reserved.has(externalId);

  return {
    owns,

    async applyLogRetention() {
      const changed: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await send(() =>
          deps.logs.send(
            new DescribeLogGroupsCommand({
              logGroupNamePrefix: `/aws/rds/cluster/${worker.identifierPrefix}`,
              nextToken,
            }),
          ),
        );
        for (const group of page.logGroups ?? []) {
          const id = /^\/aws\/rds\/cluster\/([^/]+)\/postgresql$/.exec(group.logGroupName ?? '')?.[1];
          // The stack's own cluster's group is the stack's; other exports (upgrade logs) are not ours.
          if (!id || !owns(id) || group.retentionInDays === logRetentionDays) continue;
          // A group deleted since it was listed has nothing left to keep.
          await ignoreNotFound(async () => {
            await putLogRetention(id);
            changed.push(group.logGroupName!);
          });
        }
        nextToken = page.nextToken;
      } while (nextToken);
      return changed;
    },

    async createCluster(input: NewWorkerCluster): Promise<WorkerClusterConnection> {
      const id = `${worker.identifierPrefix}${clusterSlug(input.name, slugRoom)}`;
      const region = input.region ?? config.region;
      // Operator input, not a failure: answered 400 / 409 with the reason, never a 500.
      if (region !== config.region)
        throw badRequest(`worker clusters can only be created in ${config.region}`, 'unsupported_region');
      // Its "already exists" path would reset the stack's own cluster's master password.
      if (reserved.has(id))
        throw conflict(
          `worker cluster name ${JSON.stringify(input.name)} is taken by the stack's own cluster ${id}`,
          'cluster_name_reserved',
        );
      await ensureLogGroup(id);
      const adminPassword = password();
      const tags = Object.entries({ ...config.tags, 'supaplane:worker-cluster': input.name }).map(
        ([Key, Value]) => ({
          Key,
          Value,
        }),
      );
      try {
        await send(() =>
          deps.rds.send(
            new CreateDBClusterCommand({
              DBClusterIdentifier: id,
              Engine: 'aurora-postgresql',
              EngineVersion: worker.engineVersion ?? '16.6',
              MasterUsername: masterUsername,
              MasterUserPassword: adminPassword,
              DBSubnetGroupName: worker.subnetGroupName,
              VpcSecurityGroupIds: [...worker.securityGroupIds],
              DBClusterParameterGroupName: worker.parameterGroupName,
              StorageEncrypted: true,
              KmsKeyId: worker.kmsKeyId,
              EnableIAMDatabaseAuthentication: true,
              ServerlessV2ScalingConfiguration: {
                MinCapacity: input.minCapacity ?? worker.minCapacity ?? 0.5,
                MaxCapacity: input.maxCapacity ?? worker.maxCapacity ?? 4,
              },
              BackupRetentionPeriod: worker.backupRetentionDays ?? 7,
              DeletionProtection: worker.deletionProtection ?? true,
              CopyTagsToSnapshot: true,
              EnableCloudwatchLogsExports: ['postgresql'],
              Tags: tags,
            }),
          ),
        );
      } catch (error) {
        if (errorName(error) !== 'DBClusterAlreadyExistsFault') throw error;
        // Created by an earlier run whose password we no longer know: set the new one. Unless it is
        // the cluster of a deregistration that RDS is still deleting (the row goes as soon as RDS
        // accepts the delete): that never becomes available, and the name is free once it is gone.
        await pollUntil(
          `${id} to accept changes`,
          async () => {
            const status = (await describeCluster(id))?.Status;
            if (status === undefined || status === 'deleting')
              throw conflict(
                `worker cluster name ${JSON.stringify(input.name)} is still held by ${id}, which RDS is deleting; retry once it is gone (usually a few minutes)`,
                'cluster_still_deleting',
              );
            stuck(`cluster ${id}`, status);
            return status === 'available' ? true : undefined;
          },
          deps.sleep,
          poll,
        );
        await send(() =>
          deps.rds.send(
            new ModifyDBClusterCommand({
              DBClusterIdentifier: id,
              MasterUserPassword: adminPassword,
              ApplyImmediately: true,
            }),
          ),
        );
      }
      try {
        await send(() =>
          deps.rds.send(
            new CreateDBInstanceCommand({
              DBInstanceIdentifier: writerId(id),
              DBClusterIdentifier: id,
              Engine: 'aurora-postgresql',
              DBInstanceClass: 'db.serverless',
              Tags: tags,
            }),
          ),
        );
      } catch (error) {
        if (errorName(error) !== 'DBInstanceAlreadyExistsFault') throw error;
      }
      const cluster = await pollUntil(
        `${id} to become available`,
        async () => {
          const c = await describeCluster(id);
          stuck(`cluster ${id}`, c?.Status);
          if (c?.Status !== 'available') return undefined;
          const writer = await instanceStatus(writerId(id));
          stuck(`writer ${writerId(id)} of ${id}`, writer);
          return writer === 'available' ? c : undefined;
        },
        deps.sleep,
        poll,
      );
      await putAlarms(id, cluster, tags);
      return {
        host: cluster.Endpoint!,
        port: cluster.Port ?? 5432,
        adminUser: cluster.MasterUsername ?? masterUsername,
        adminPassword,
        region,
        externalId: id,
      };
    },

    async deleteCluster(externalId) {
      if (!owns(externalId)) {
        throw new Error(`refusing to delete ${externalId}: not a worker cluster of this platform`);
      }
      // The log group stays: the final snapshot keeps the data, the log says what happened until the
      // end, and its retention removes it. A cluster from before retentions were set gets one now.
      // A cluster that never exported a line has no group: nothing to keep.
      await ignoreNotFound(() => putLogRetention(externalId));
      const current = await describeCluster(externalId);
      // Deregistering the cluster was the deliberate act (the final snapshot keeps its data). Left on,
      // deletion protection would let the writer go and then refuse the cluster: down, and retried forever.
      if (current?.DeletionProtection) {
        await send(() =>
          deps.rds.send(
            new ModifyDBClusterCommand({
              DBClusterIdentifier: externalId,
              DeletionProtection: false,
              ApplyImmediately: true,
            }),
          ),
        );
      }
      const members = current?.DBClusterMembers?.map((m) => m.DBInstanceIdentifier!) ?? [
        writerId(externalId),
      ];
      // RDS refuses to delete an instance that is still being created (or modified, backed up):
      // such a refusal is asked again at every check until RDS accepts it, within the same bounded wait.
      const refused = new Map<string, string>();
      const deleteInstance = async (instance: string) => {
        try {
          await send(() => deps.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: instance })));
          refused.delete(instance);
        } catch (error) {
          const name = errorName(error);
          // Keeps the status the last check saw, for the error if RDS never accepts.
          if (name === 'InvalidDBInstanceStateFault')
            refused.set(instance, refused.get(instance) ?? 'not deletable');
          else if (name === 'DBInstanceNotFoundFault') refused.delete(instance);
          else throw error;
        }
      };
      for (const instance of members) await deleteInstance(instance);
      for (const instance of members) {
        try {
          await pollUntil(
            `${instance} to be deleted`,
            async () => {
              const status = await instanceStatus(instance);
              if (status === undefined) return true;
              if (status === 'deleting') refused.delete(instance);
              else if (refused.has(instance)) {
                refused.set(instance, status);
                await deleteInstance(instance);
              }
              return undefined;
            },
            deps.sleep,
            poll,
          );
        } catch (error) {
          const status = refused.get(instance);
          if (!(error instanceof PollTimeout) || status === undefined) throw error;
          throw new Error(
            `${instance} could not be deleted: RDS refused it while it was ${status} for ${poll.maxChecks} checks, ${poll.intervalMs} ms apart; the deletion is retried`,
          );
        }
      }
      // One final snapshot per cluster, not per name: a later cluster under the same name must not
      // find an earlier one's snapshot and be taken for a re-run that already has its own.
      const resourceId = current?.DbClusterResourceId?.replace(/^cluster-/i, '').toLowerCase();
      const snapshotId = resourceId ? `${externalId}-final-${resourceId}` : `${externalId}-final`;
      const deleteCluster = (finalSnapshot: boolean) =>
        send(() =>
          deps.rds.send(
            new DeleteDBClusterCommand({
              DBClusterIdentifier: externalId,
              ...(finalSnapshot
                ? { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: snapshotId }
                : { SkipFinalSnapshot: true }),
            }),
          ),
        );
      try {
        await deleteCluster(true);
      } catch (error) {
        const name = errorName(error);
        // This cluster's final snapshot was taken by an earlier, interrupted run: safe to skip now.
        if (name === 'DBClusterSnapshotAlreadyExistsFault') {
          try {
            await deleteCluster(false);
          } catch (again) {
            if (errorName(again) !== 'DBClusterNotFoundFault') throw again;
          }
        } else if (name !== 'DBClusterNotFoundFault') throw error;
      }
      // Last, once RDS has the deletion: a failure before leaves the cluster running, and watched.
      await deleteAlarms(externalId);
    },
  };
}

/**
 * RDS statuses (of a cluster or an instance) that do not change by themselves: waiting 40 minutes for
 * `available` would only hide them. Every other status (creating, modifying, backing-up, …) passes.
 */
const STUCK =
  /^(failed|inaccessible-encryption-credentials(-recoverable)?|incompatible-.+|migration-failed|cloning-failed|restore-error)$/;

/**
 * Throws, saying what an operator must look at, when `status` is one RDS will not leave by itself: a
 * 409 (its message reaches the operator, as a 5xx's would not).
 */
function stuck(what: string, status: string | undefined): void {
  if (status !== undefined && STUCK.test(status))
    throw conflict(
      `${what} is ${status}, which RDS does not leave by itself (e.g. the KMS key is disabled or the parameters are invalid); fix it in RDS, or delete it, then retry`,
      'cluster_stuck',
    );
}
