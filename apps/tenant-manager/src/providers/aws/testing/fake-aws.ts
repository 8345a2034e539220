/**
 * Stateful stand-ins for the Lambda, RDS, CloudWatch Logs and CloudWatch alarm APIs on top of aws-sdk-client-mock: enough state that a
 * re-run sees what an earlier (failed) run left behind, so tests can prove convergence. Failures are
 * injected per command name and call number.
 */
import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
  ResourceNotFound as AlarmNotFound,
} from '@aws-sdk/client-cloudwatch';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeLogGroupsCommand,
  PutRetentionPolicyCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException as LogsResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  DeleteFunctionCommand,
  DeleteFunctionUrlConfigCommand,
  DeleteFunctionConcurrencyCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  PutFunctionConcurrencyCommand,
  GetFunctionUrlConfigCommand,
  GetPolicyCommand,
  LambdaClient,
  RemovePermissionCommand,
  ResourceConflictException,
  ResourceNotFoundException,
  TagResourceCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionUrlConfigCommand,
} from '@aws-sdk/client-lambda';
import {
  CreateDBClusterCommand,
  CreateDBInstanceCommand,
  DBClusterAlreadyExistsFault,
  DBClusterNotFoundFault,
  DBClusterSnapshotAlreadyExistsFault,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  ModifyDBClusterCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { createHash, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';

const meta = { $metadata: {} };

/** An error no step tolerates (a 500 from AWS), tagged so tests can recognise it. */
const injected = (step: string) =>
  Object.assign(new Error(`injected failure at ${step}`), { name: 'InternalFailure' });
export const throttled = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });

class Faults {
  private readonly plan = new Map<string, Map<number, Error>>();
  private readonly seen = new Map<string, number>();
  /** Makes the `nth` (1-based, counted from now) call of `command` throw `error`. */
  failAt(command: string, nth = 1, error: Error = injected(command)) {
    const base = this.seen.get(command) ?? 0;
    const byCall = this.plan.get(command) ?? new Map<number, Error>();
    byCall.set(base + nth, error);
    this.plan.set(command, byCall);
  }
  check(command: string) {
    const n = (this.seen.get(command) ?? 0) + 1;
    this.seen.set(command, n);
    const error = this.plan.get(command)?.get(n);
    if (error) throw error;
  }
}

/** A function placed in subnet `subnet-broken` fails to start (as with a subnet without free IPs). */
const failingSubnets = (config: { VpcConfig?: { SubnetIds?: string[] } }) =>
  config.VpcConfig?.SubnetIds?.includes('subnet-broken') ?? false;

/** What Lambda reports as CodeSha256: of the zip bytes, or (S3) of the object, here its bucket/key. */
const shaOf = (code: { ZipFile?: Uint8Array; S3Bucket?: string; S3Key?: string }) =>
  createHash('sha256')
    .update(code.ZipFile ?? `${code.S3Bucket}/${code.S3Key}`)
    .digest('base64');

const commandNames = (mock: { calls(): { args: unknown[] }[] }) =>
  mock.calls().map((c) => (c.args[0] as object).constructor.name.replace(/Command$/, ''));

interface FakeFunction {
  config: Record<string, unknown>;
  codeSha256: string;
  tags: Record<string, string>;
  state: 'Pending' | 'Active' | 'Failed';
  lastUpdate: 'Successful' | 'InProgress';
  checksUntilActive: number;
  /** ReservedConcurrentExecutions, when set. */
  reserved?: number;
}

export function fakeLambda(options: { checksUntilActive?: number } = {}) {
  const client = new LambdaClient({ region: 'eu-west-1' });
  const mock = mockClient(client);
  const faults = new Faults();
  const functions = new Map<string, FakeFunction>();
  const urls = new Map<string, { AuthType: string; FunctionUrl: string }>();
  const policies = new Map<string, Map<string, Record<string, unknown>>>();
  const arn = (name: string) => `arn:aws:lambda:eu-west-1:111111111111:function:${name}`;
  const must = (name: string) => {
    const fn = functions.get(name);
    if (!fn) throw new ResourceNotFoundException({ message: `Function not found: ${arn(name)}`, ...meta });
    return fn;
  };

  mock.on(CreateFunctionCommand).callsFake((input) => {
    faults.check('CreateFunction');
    if (functions.has(input.FunctionName))
      throw new ResourceConflictException({ message: 'Function already exist', ...meta });
    const { FunctionName, Tags, Code, ...config } = input;
    functions.set(FunctionName, {
      config,
      codeSha256: shaOf(Code),
      tags: { ...Tags },
      state: failingSubnets(config) ? 'Failed' : 'Pending',
      lastUpdate: 'Successful',
      checksUntilActive: options.checksUntilActive ?? 1,
    });
    return { FunctionName, FunctionArn: arn(FunctionName), State: 'Pending' };
  });
  mock.on(GetFunctionConfigurationCommand).callsFake((input) => {
    faults.check('GetFunctionConfiguration');
    const fn = must(input.FunctionName);
    // biome-ignore lint/suspicious/noExplicitAny: the stored CreateFunction/UpdateFunctionConfiguration input
    const c = fn.config as Record<string, any>;
    const reply = {
      FunctionName: input.FunctionName,
      FunctionArn: arn(input.FunctionName),
      // The configuration as Lambda reports it: defaults filled in, the key only when one is set.
      Role: c['Role'],
      Handler: c['Handler'],
      Runtime: c['Runtime'],
      MemorySize: c['MemorySize'] ?? 128,
      Timeout: c['Timeout'] ?? 3,
      Environment: { Variables: { ...c['Environment']?.Variables } },
      ...(c['KMSKeyArn'] ? { KMSKeyArn: c['KMSKeyArn'] } : {}),
      LoggingConfig: c['LoggingConfig']
        ? { ApplicationLogLevel: 'INFO', ...c['LoggingConfig'] }
        : { LogFormat: 'Text', LogGroup: `/aws/lambda/${input.FunctionName}` },
      VpcConfig: c['VpcConfig']
        ? { ...c['VpcConfig'], VpcId: 'vpc-1', Ipv6AllowedForDualStack: false }
        : { SubnetIds: [], SecurityGroupIds: [] },
      State: fn.state,
      LastUpdateStatus: fn.lastUpdate,
      StateReason: 'bad subnet',
      CodeSha256: fn.codeSha256,
    };
    if (fn.state === 'Pending' && fn.checksUntilActive-- <= 0) fn.state = 'Active';
    else if (fn.lastUpdate === 'InProgress') fn.lastUpdate = 'Successful';
    return reply;
  });
  mock.on(UpdateFunctionConfigurationCommand).callsFake((input) => {
    faults.check('UpdateFunctionConfiguration');
    const fn = must(input.FunctionName);
    const { FunctionName, ...config } = input;
    fn.config = { ...fn.config, ...config };
    fn.lastUpdate = 'InProgress';
    // The new configuration (e.g. the subnets) repairs a function that failed to start.
    if (fn.state === 'Failed' && !failingSubnets(config)) fn.state = 'Active';
    return { FunctionName, FunctionArn: arn(FunctionName!), State: fn.state, LastUpdateStatus: 'InProgress' };
  });
  mock.on(UpdateFunctionCodeCommand).callsFake((input) => {
    faults.check('UpdateFunctionCode');
    const fn = must(input.FunctionName);
    const { FunctionName, ...code } = input;
    fn.codeSha256 = shaOf(code);
    fn.lastUpdate = 'InProgress';
    return { FunctionName, FunctionArn: arn(FunctionName), LastUpdateStatus: 'InProgress' };
  });
  mock.on(PutFunctionConcurrencyCommand).callsFake((input) => {
    faults.check('PutFunctionConcurrency');
    must(input.FunctionName).reserved = input.ReservedConcurrentExecutions;
    return { ReservedConcurrentExecutions: input.ReservedConcurrentExecutions };
  });
  mock.on(GetFunctionConcurrencyCommand).callsFake((input) => {
    faults.check('GetFunctionConcurrency');
    const { reserved } = must(input.FunctionName);
    return reserved === undefined ? {} : { ReservedConcurrentExecutions: reserved };
  });
  mock.on(DeleteFunctionConcurrencyCommand).callsFake((input) => {
    faults.check('DeleteFunctionConcurrency');
    delete must(input.FunctionName).reserved;
    return {};
  });
  mock.on(TagResourceCommand).callsFake((input) => {
    faults.check('TagResource');
    const name = String(input.Resource).split(':').pop()!;
    Object.assign(must(name).tags, input.Tags);
    return {};
  });
  mock.on(CreateFunctionUrlConfigCommand).callsFake((input) => {
    faults.check('CreateFunctionUrlConfig');
    must(input.FunctionName);
    if (urls.has(input.FunctionName))
      throw new ResourceConflictException({ message: 'FunctionUrlConfig exists', ...meta });
    const url = {
      AuthType: input.AuthType,
      FunctionUrl: `https://${input.FunctionName.replace('rest-', 'u')}.lambda-url.eu-west-1.on.aws/`,
    };
    urls.set(input.FunctionName, url);
    return url;
  });
  mock.on(GetFunctionUrlConfigCommand).callsFake((input) => {
    faults.check('GetFunctionUrlConfig');
    const url = urls.get(input.FunctionName);
    if (!url) throw new ResourceNotFoundException({ message: 'no url', ...meta });
    return url;
  });
  mock.on(UpdateFunctionUrlConfigCommand).callsFake((input) => {
    faults.check('UpdateFunctionUrlConfig');
    const url = urls.get(input.FunctionName)!;
    url.AuthType = input.AuthType!;
    return url;
  });
  mock.on(GetPolicyCommand).callsFake((input) => {
    faults.check('GetPolicy');
    must(input.FunctionName);
    const statements = policies.get(input.FunctionName);
    if (!statements?.size)
      throw new ResourceNotFoundException({ message: 'The resource you requested does not exist.', ...meta });
    return { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [...statements.values()] }) };
  });
  mock.on(AddPermissionCommand).callsFake((input) => {
    faults.check('AddPermission');
    must(input.FunctionName);
    const statements = policies.get(input.FunctionName) ?? new Map();
    policies.set(input.FunctionName, statements);
    if (statements.has(input.StatementId))
      throw new ResourceConflictException({ message: 'statement id exists', ...meta });
    const statement = {
      Sid: input.StatementId,
      Effect: 'Allow',
      Action: input.Action,
      Principal: { AWS: input.Principal },
      Resource: arn(input.FunctionName),
      Condition: input.FunctionUrlAuthType
        ? { StringEquals: { 'lambda:FunctionUrlAuthType': input.FunctionUrlAuthType } }
        : { Bool: { 'lambda:InvokedViaFunctionUrl': String(input.InvokedViaFunctionUrl) } },
    };
    statements.set(input.StatementId, statement);
    return { Statement: JSON.stringify(statement) };
  });
  mock.on(RemovePermissionCommand).callsFake((input) => {
    faults.check('RemovePermission');
    if (!policies.get(input.FunctionName)?.delete(input.StatementId))
      throw new ResourceNotFoundException({ message: 'no statement', ...meta });
    return {};
  });
  mock.on(DeleteFunctionUrlConfigCommand).callsFake((input) => {
    faults.check('DeleteFunctionUrlConfig');
    if (!urls.delete(input.FunctionName)) throw new ResourceNotFoundException({ message: 'no url', ...meta });
    return {};
  });
  mock.on(DeleteFunctionCommand).callsFake((input) => {
    faults.check('DeleteFunction');
    must(input.FunctionName);
    functions.delete(input.FunctionName);
    urls.delete(input.FunctionName);
    policies.delete(input.FunctionName);
    return {};
  });

  return {
    client,
    mock,
    functions,
    urls,
    policies,
    failAt: faults.failAt.bind(faults),
    calls: () => commandNames(mock),
    /** Everything an observer would compare between two runs. */
    snapshot: () => ({
      functions: Object.fromEntries(
        [...functions].map(([k, f]) => [k, { config: f.config, tags: f.tags, state: f.state }]),
      ),
      urls: Object.fromEntries(urls),
      policies: Object.fromEntries([...policies].map(([k, p]) => [k, Object.fromEntries(p)])),
    }),
  };
}

interface FakeDbCluster {
  input: Record<string, unknown>;
  /** RDS's own id of this cluster (`cluster-<26 upper-case letters and digits>`), new for each one created. */
  resourceId?: string;
  password: string;
  status: string;
  checksUntilAvailable: number;
}

interface FakeLogGroup {
  /** Undefined: kept forever (what a group RDS creates itself has). */
  retentionInDays?: number;
}

/** `pageSize`: groups per DescribeLogGroups page (AWS: up to 50), so tests reach the next page. */
export function fakeLogs(options: { pageSize?: number } = {}) {
  const client = new CloudWatchLogsClient({ region: 'eu-west-1' });
  const mock = mockClient(client);
  const faults = new Faults();
  const groups = new Map<string, FakeLogGroup>();
  const pageSize = options.pageSize ?? 50;

  // Sorted by name like AWS; the token is the index of the next group.
  mock.on(DescribeLogGroupsCommand).callsFake((input) => {
    faults.check('DescribeLogGroups');
    const matching = [...groups.keys()]
      .filter((name) => name.startsWith(input.logGroupNamePrefix ?? ''))
      .sort();
    const start = Number(input.nextToken ?? 0);
    const page = matching.slice(start, start + pageSize);
    return {
      logGroups: page.map((logGroupName) => ({ logGroupName, ...groups.get(logGroupName) })),
      nextToken: start + pageSize < matching.length ? String(start + pageSize) : undefined,
    };
  });

  mock.on(CreateLogGroupCommand).callsFake((input) => {
    faults.check('CreateLogGroup');
    if (groups.has(input.logGroupName))
      throw new ResourceAlreadyExistsException({
        message: 'The specified log group already exists',
        ...meta,
      });
    groups.set(input.logGroupName, {});
    return {};
  });
  mock.on(PutRetentionPolicyCommand).callsFake((input) => {
    faults.check('PutRetentionPolicy');
    const group = groups.get(input.logGroupName);
    if (!group)
      throw new LogsResourceNotFoundException({
        message: 'The specified log group does not exist.',
        ...meta,
      });
    group.retentionInDays = input.retentionInDays;
    return {};
  });

  return { client, mock, groups, failAt: faults.failAt.bind(faults), calls: () => commandNames(mock) };
}

/** Metric alarms by name: PutMetricAlarm creates or replaces one, DeleteAlarms refuses an unknown name (as AWS does). */
export function fakeCloudWatch() {
  const client = new CloudWatchClient({ region: 'eu-west-1' });
  const mock = mockClient(client);
  const faults = new Faults();
  const alarms = new Map<string, PutMetricAlarmCommandInput>();
  mock.on(PutMetricAlarmCommand).callsFake((input) => {
    faults.check('PutMetricAlarm');
    alarms.set(input.AlarmName, input);
    return {};
  });
  mock.on(DeleteAlarmsCommand).callsFake((input) => {
    faults.check('DeleteAlarms');
    const names: string[] = input.AlarmNames ?? [];
    const missing = names.filter((name) => !alarms.has(name));
    if (missing.length > 0)
      throw new AlarmNotFound({ message: `Alarm(s) not found: ${missing.join(', ')}`, ...meta });
    for (const name of names) alarms.delete(name);
    return {};
  });
  return { client, mock, alarms, failAt: faults.failAt.bind(faults), calls: () => commandNames(mock) };
}

/**
 * `logs`: where a cluster created with `EnableCloudwatchLogsExports` exports to; like RDS, its
 * creation makes a missing `/aws/rds/cluster/<id>/<log>` group itself, without expiry.
 */
export function fakeRds(
  options: { checksUntilAvailable?: number; logs?: Pick<ReturnType<typeof fakeLogs>, 'groups'> } = {},
) {
  const client = new RDSClient({ region: 'eu-west-1' });
  const mock = mockClient(client);
  const faults = new Faults();
  const clusters = new Map<string, FakeDbCluster>();
  const instances = new Map<string, { cluster: string; status: string; checks: number }>();
  const snapshots = new Set<string>();
  const checks = options.checksUntilAvailable ?? 1;

  mock.on(CreateDBClusterCommand).callsFake((input) => {
    faults.check('CreateDBCluster');
    if (clusters.has(input.DBClusterIdentifier))
      throw new DBClusterAlreadyExistsFault({ message: 'DB Cluster already exists', ...meta });
    const { MasterUserPassword, ...rest } = input;
    for (const log of input.EnableCloudwatchLogsExports ?? []) {
      const name = `/aws/rds/cluster/${input.DBClusterIdentifier}/${log}`;
      if (!options.logs?.groups.has(name)) options.logs?.groups.set(name, {});
    }
    clusters.set(input.DBClusterIdentifier, {
      input: rest,
      resourceId: `cluster-${randomBytes(13).toString('hex').toUpperCase()}`,
      password: MasterUserPassword,
      status: 'creating',
      checksUntilAvailable: checks,
    });
    return { DBCluster: { DBClusterIdentifier: input.DBClusterIdentifier, Status: 'creating' } };
  });
  mock.on(ModifyDBClusterCommand).callsFake((input) => {
    faults.check('ModifyDBCluster');
    const c = clusters.get(input.DBClusterIdentifier);
    if (!c) throw new DBClusterNotFoundFault({ message: 'not found', ...meta });
    if (input.MasterUserPassword) c.password = input.MasterUserPassword;
    if (input.DeletionProtection !== undefined) c.input['DeletionProtection'] = input.DeletionProtection;
    return { DBCluster: { DBClusterIdentifier: input.DBClusterIdentifier } };
  });
  mock.on(CreateDBInstanceCommand).callsFake((input) => {
    faults.check('CreateDBInstance');
    if (!clusters.has(input.DBClusterIdentifier!))
      throw new DBClusterNotFoundFault({ message: 'not found', ...meta });
    if (instances.has(input.DBInstanceIdentifier))
      throw new DBInstanceAlreadyExistsFault({ message: 'exists', ...meta });
    instances.set(input.DBInstanceIdentifier, {
      cluster: input.DBClusterIdentifier!,
      status: 'creating',
      checks,
    });
    return { DBInstance: { DBInstanceIdentifier: input.DBInstanceIdentifier } };
  });
  mock.on(DescribeDBClustersCommand).callsFake((input) => {
    faults.check('DescribeDBClusters');
    const id = input.DBClusterIdentifier!;
    const c = clusters.get(id);
    if (!c) throw new DBClusterNotFoundFault({ message: `DBCluster ${id} not found.`, ...meta });
    if (c.status === 'creating' && c.checksUntilAvailable-- <= 0) c.status = 'available';
    const members = [...instances]
      .filter(([, i]) => i.cluster === id)
      .map(([DBInstanceIdentifier]) => ({ DBInstanceIdentifier, IsClusterWriter: true }));
    return {
      DBClusters: [
        {
          DBClusterIdentifier: id,
          DbClusterResourceId: c.resourceId,
          Status: c.status,
          Endpoint: `${id}.cluster-abc.eu-west-1.rds.amazonaws.com`,
          Port: 5432,
          MasterUsername: String(c.input['MasterUsername']),
          DeletionProtection: c.input['DeletionProtection'] === true,
          ServerlessV2ScalingConfiguration: c.input['ServerlessV2ScalingConfiguration'],
          DBClusterMembers: members,
        },
      ],
    };
  });
  mock.on(DescribeDBInstancesCommand).callsFake((input) => {
    faults.check('DescribeDBInstances');
    const id = input.DBInstanceIdentifier!;
    const i = instances.get(id);
    if (!i) throw new DBInstanceNotFoundFault({ message: `DBInstance ${id} not found.`, ...meta });
    if (i.status === 'creating' && i.checks-- <= 0) i.status = 'available';
    const reply = { DBInstances: [{ DBInstanceIdentifier: id, DBInstanceStatus: i.status }] };
    if (i.status === 'deleting' && i.checks-- <= 0) instances.delete(id);
    return reply;
  });
  mock.on(DeleteDBInstanceCommand).callsFake((input) => {
    faults.check('DeleteDBInstance');
    const i = instances.get(input.DBInstanceIdentifier);
    if (!i) throw new DBInstanceNotFoundFault({ message: 'not found', ...meta });
    // Like RDS: an instance still being created cannot be deleted yet.
    if (i.status === 'creating')
      throw new InvalidDBInstanceStateFault({
        message: `Instance ${input.DBInstanceIdentifier} is not in available state.`,
        ...meta,
      });
    i.status = 'deleting';
    i.checks = checks;
    return {};
  });
  mock.on(DeleteDBClusterCommand).callsFake((input) => {
    faults.check('DeleteDBCluster');
    const c = clusters.get(input.DBClusterIdentifier);
    if (!c) throw new DBClusterNotFoundFault({ message: 'not found', ...meta });
    if (c.input['DeletionProtection'] === true)
      throw Object.assign(new Error('Cannot delete protected Cluster, please disable deletion protection'), {
        name: 'InvalidParameterCombination',
      });
    if (!input.SkipFinalSnapshot) {
      if (snapshots.has(input.FinalDBSnapshotIdentifier!))
        throw new DBClusterSnapshotAlreadyExistsFault({ message: 'snapshot exists', ...meta });
      snapshots.add(input.FinalDBSnapshotIdentifier!);
    }
    clusters.delete(input.DBClusterIdentifier);
    return {};
  });

  return {
    client,
    mock,
    clusters,
    instances,
    snapshots,
    failAt: faults.failAt.bind(faults),
    calls: () => commandNames(mock),
  };
}
