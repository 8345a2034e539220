import { readdirSync, readFileSync } from 'node:fs';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ProviderCall,
  recordProviderCalls,
} from '../../apps/tenant-manager/src/providers/aws/testing/provider-calls.js';
import { estimatedMaxConnections } from '../lib/config.js';
import { resourcesOf, type Synthesized, synth } from './synth.js';

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
  Sid?: string;
};

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const json = (v: unknown) => JSON.stringify(v);

/** Every statement of every IAM policy (inline, managed, role inline), with the logical id it came from. */
function iamStatements(s: Synthesized): [string, Statement][] {
  const out: [string, Statement][] = [];
  for (const [id, r] of resourcesOf(s.template)) {
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      docs.push(r.Properties!['PolicyDocument']);
    if (r.Type === 'AWS::IAM::Role')
      for (const p of (r.Properties!['Policies'] as { PolicyDocument: unknown }[] | undefined) ?? [])
        docs.push(p.PolicyDocument);
    for (const doc of docs)
      for (const st of (doc as { Statement: Statement[] }).Statement) out.push([id, st]);
  }
  return out;
}

function policyNamed(s: Synthesized, fragment: string): Statement[] {
  const found = resourcesOf(s.template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith(fragment));
  expect(found, fragment).toHaveLength(1);
  return (found[0]![1].Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement;
}

/** The plain environment of one service's container, by variable name. */
function environmentOf(s: Synthesized, service: 'gateway' | 'tenant-manager'): Record<string, unknown> {
  const containers = resourcesOf(s.template, 'AWS::ECS::TaskDefinition').flatMap(
    ([, td]) => td.Properties!['ContainerDefinitions'] as Record<string, unknown>[],
  );
  const container = containers.find((c) => c['Name'] === service);
  expect(container, service).toBeDefined();
  return Object.fromEntries(
    (container!['Environment'] as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
  );
}

const limitVariables = (env: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('PROJECT_')));

/**
 * The template's value with CloudFormation references replaced by stand-ins that look like what AWS
 * returns (role, bucket and key ARNs from the logical id), so that IAM patterns can be matched.
 */
function resolve(s: Synthesized, value: unknown): unknown {
  const { account, region } = s.config;
  const resources = s.template.toJSON()['Resources'] as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  // What Ref returns for resources named in the template: their physical name.
  const physicalName: Record<string, string> = {
    'AWS::RDS::DBSubnetGroup': 'DBSubnetGroupName',
    'AWS::ECS::Cluster': 'ClusterName',
  };
  if (Array.isArray(value)) return value.map((v) => resolve(s, v));
  if (typeof value !== 'object' || value === null) return value;
  const o = value as Record<string, unknown>;
  if ('Ref' in o) {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': region,
      'AWS::AccountId': account,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    const id = o['Ref'] as string;
    const resource = resources[id];
    // Ref of a topic is its ARN.
    if (resource?.Type === 'AWS::SNS::Topic')
      return `arn:aws:sns:${region}:${account}:${resource.Properties?.['TopicName'] ?? id}`;
    const name = resource?.Properties?.[physicalName[resource.Type] ?? ''];
    return pseudo[id] ?? (typeof name === 'string' ? name : `ref-${id.toLowerCase()}`);
  }
  if ('Fn::GetAtt' in o) {
    const [id, attribute] = o['Fn::GetAtt'] as [string, string];
    if (attribute !== 'Arn') return `${id}.${attribute}`;
    const type = resources[id]?.Type;
    if (type === 'AWS::IAM::Role') return `arn:aws:iam::${account}:role/${id}`;
    if (type === 'AWS::S3::Bucket') return `arn:aws:s3:::ref-${id.toLowerCase()}`;
    if (type === 'AWS::KMS::Key') return `arn:aws:kms:${region}:${account}:key/${id}`;
    return `arn:aws:unknown:${region}:${account}:${id}`;
  }
  if ('Fn::Join' in o) {
    const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolve(s, p)).join(separator);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(s, v)]));
}

const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

interface Need {
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string | undefined>>;
}

/** The IAM actions and resources one recorded call needs (the service authorization reference). */
function needsOf(s: Synthesized, call: ProviderCall, engineMajor: string): Need[] {
  const { account, region } = s.config;
  // biome-ignore lint/suspicious/noExplicitAny: the recorded SDK inputs of three clients
  const input = call.input as Record<string, any>;
  const needs: Need[] = [];
  if (call.service === 'lambda') {
    const name = String(input['FunctionName'] ?? String(input['Resource']).split(':').pop());
    const fn = `arn:aws:lambda:${region}:${account}:function:${name}`;
    needs.push({
      action: `lambda:${call.operation}`,
      resource: fn,
      context: {
        'lambda:FunctionUrlAuthType': input['AuthType'] ?? input['FunctionUrlAuthType'],
        'lambda:Principal': input['Principal'],
      },
    });
    if (input['Tags'] && call.operation !== 'TagResource')
      needs.push({ action: 'lambda:TagResource', resource: fn });
    if (input['Role'])
      needs.push({
        action: 'iam:PassRole',
        resource: input['Role'],
        context: { 'iam:PassedToService': 'lambda.amazonaws.com' },
      });
    const code = input['Code'] ?? input;
    if (code['S3Bucket'])
      for (const action of ['s3:GetObject'])
        needs.push({ action, resource: `arn:aws:s3:::${code['S3Bucket']}/${code['S3Key']}` });
    if (input['VpcConfig'])
      for (const action of ['ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs'])
        needs.push({ action, resource: '*' });
    // A customer managed key on the environment (Lambda's "Securing environment variables").
    if (input['KMSKeyArn'])
      for (const action of ['kms:Encrypt', 'kms:CreateGrant', 'kms:Decrypt'])
        needs.push({
          action,
          resource: input['KMSKeyArn'],
          context: { 'kms:ViaService': `lambda.${region}.amazonaws.com` },
        });
  }
  if (call.service === 'rds') {
    const arn = (type: string, name: string) => `arn:aws:rds:${region}:${account}:${type}:${name}`;
    const named: [string, string | undefined][] = [
      ['cluster', input['DBClusterIdentifier']],
      ['db', input['DBInstanceIdentifier']],
      ['subgrp', input['DBSubnetGroupName']],
      ['cluster-pg', input['DBClusterParameterGroupName']],
      ['cluster-snapshot', input['FinalDBSnapshotIdentifier']],
    ];
    if (call.operation === 'CreateDBInstance') {
      // Without groups of its own the instance takes the engine's default parameter and option groups.
      named.push(['pg', input['DBParameterGroupName'] ?? `default.aurora-postgresql${engineMajor}`]);
      named.push(['og', input['OptionGroupName'] ?? `default:aurora-postgresql-${engineMajor}`]);
    }
    for (const [type, name] of named) {
      if (!name) continue;
      needs.push({ action: `rds:${call.operation}`, resource: arn(type, name) });
    }
    if (input['Tags']) {
      const created = input['DBInstanceIdentifier']
        ? arn('db', input['DBInstanceIdentifier'])
        : arn('cluster', input['DBClusterIdentifier']);
      needs.push({ action: 'rds:AddTagsToResource', resource: created });
    }
    if (input['FinalDBSnapshotIdentifier'])
      for (const action of ['rds:CreateDBClusterSnapshot', 'rds:AddTagsToResource'])
        needs.push({ action, resource: arn('cluster-snapshot', input['FinalDBSnapshotIdentifier']) });
    if (input['KmsKeyId'])
      for (const action of ['kms:CreateGrant', 'kms:DescribeKey'])
        needs.push({
          action,
          resource: input['KmsKeyId'],
          context: { 'kms:ViaService': `rds.${region}.amazonaws.com` },
        });
  }
  if (call.service === 'logs')
    // What IAM checks CreateLogGroup and PutRetentionPolicy against: the group's ARN ending in `:*`
    // (the form without it is for the tagging actions alone); DescribeLogGroups names no group and is
    // checked against the account's `log-group::log-stream:`.
    needs.push({
      action: `logs:${call.operation}`,
      resource:
        call.operation === 'DescribeLogGroups'
          ? `arn:aws:logs:${region}:${account}:log-group::log-stream:`
          : `arn:aws:logs:${region}:${account}:log-group:${input['logGroupName']}:*`,
    });
  if (call.service === 'cloudwatch') {
    const alarm = (name: string) => `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`;
    const names: string[] = input['AlarmNames'] ?? [input['AlarmName']];
    for (const name of names) {
      needs.push({ action: `cloudwatch:${call.operation}`, resource: alarm(name) });
      if (input['Tags']) needs.push({ action: 'cloudwatch:TagResource', resource: alarm(name) });
    }
  }
  if (call.service === 'ecs')
    for (const service of input['services'] as string[])
      needs.push({
        action: `ecs:${call.operation}`,
        resource: `arn:aws:ecs:${region}:${account}:service/${input['cluster']}/${service}`,
      });
  return needs;
}

/** Whether `statement` applies to `need` (conditions: StringEquals and Bool on the call's context). */
function matches(st: Statement, need: Need): boolean {
  if (!asArray(st.Action).some((a) => wildcard(a).test(need.action))) return false;
  if (!asArray(st.Resource as string | string[]).some((r) => wildcard(r).test(need.resource))) return false;
  const conditions = (st.Condition ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(conditions).every(([operator, entries]) =>
    Object.entries(entries).every(([key, expected]) => {
      const actual = need.context?.[key];
      if (operator === 'StringEquals') return asArray(expected as string).includes(actual as string);
      if (operator === 'Bool') return String(expected) === actual;
      return false;
    }),
  );
}

/** IAM's verdict on `need`: some Allow statement applies and no Deny does. */
const allows = (statements: Statement[], need: Need) =>
  statements.some((st) => st.Effect === 'Allow' && matches(st, need)) &&
  !statements.some((st) => st.Effect === 'Deny' && matches(st, need));

describe.each(['test', 'production'] as const)('SupabaseStack with config.%s.json', (name) => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(name);
    const counts = new Map<string, number>();
    for (const [, r] of resourcesOf(s.template)) counts.set(r.Type, (counts.get(r.Type) ?? 0) + 1);
    console.info(
      `[infra] ${name}: synth ${Math.round(s.synthMs)} ms, ${resourcesOf(s.template).length} resources`,
    );
  });

  it('has zero unsuppressed cdk-nag AwsSolutions findings, and every suppression has a reason', () => {
    expect(s.nagFindings).toEqual([]);
    // CDK's CloudFormation validation runs on every synth (the first costs seconds), but reports
    // what it finds only as printed warnings.
    expect(s.validationFindings).toEqual([]);
    const reasons = resourcesOf(s.template).flatMap(([, r]) => {
      const meta = r['Metadata'] as
        | { cdk_nag?: { rules_to_suppress: { id: string; reason: string }[] } }
        | undefined;
      return meta?.cdk_nag?.rules_to_suppress ?? [];
    });
    expect(reasons.length).toBeGreaterThan(5);
    for (const rule of reasons) expect(rule.reason.length, rule.id).toBeGreaterThan(30);
  });

  it('puts the name prefix into every account-wide physical name, so a second stack does not collide', () => {
    const nameProperties = [
      'LogGroupName',
      'RoleName',
      'TopicName',
      'ClusterName',
      'DBClusterIdentifier',
      'DBSubnetGroupName',
      'ReplicationGroupId',
      'FunctionName',
      'Name',
    ];
    // A private DNS namespace belongs to its VPC (the same name in another stack's VPC is another
    // zone), and its services to it.
    const perVpc = new Set(['AWS::ServiceDiscovery::PrivateDnsNamespace', 'AWS::ServiceDiscovery::Service']);
    const named = resourcesOf(s.template).flatMap(([id, r]) =>
      perVpc.has(r.Type)
        ? []
        : nameProperties
            .map((key) => r.Properties?.[key])
            .filter((v): v is string => typeof v === 'string')
            .map((v) => [id, v] as const),
    );
    expect(named.map(([, v]) => v)).toEqual(
      expect.arrayContaining([
        `/ecs/${s.config.namePrefix}/gateway`,
        `/ecs/${s.config.namePrefix}/tenant-manager`,
      ]),
    );
    for (const [id, value] of named) expect(value, id).toContain(s.config.namePrefix);
    // That holds only while the namespace lives in a VPC of this stack's own: two namespaces of one
    // name in one VPC collide (one private hosted zone name per VPC).
    const [vpcId] = resourcesOf(s.template, 'AWS::EC2::VPC').map(([id]) => id);
    const namespaces = resourcesOf(s.template, 'AWS::ServiceDiscovery::PrivateDnsNamespace');
    expect(namespaces.map(([, r]) => r.Properties!['Vpc'])).toEqual([{ Ref: vpcId }]);
  });

  it('encrypts every data store at rest', () => {
    for (const [id, r] of resourcesOf(s.template, 'AWS::RDS::DBCluster')) {
      expect(r.Properties!['StorageEncrypted'], id).toBe(true);
      expect(r.Properties!['KmsKeyId'], id).toBeDefined();
    }
    for (const [id, r] of resourcesOf(s.template, 'AWS::S3::Bucket'))
      expect(json(r.Properties!['BucketEncryption']), id).toContain('SSEAlgorithm');
    for (const [id, r] of resourcesOf(s.template, 'AWS::SecretsManager::Secret'))
      expect(r.Properties!['KmsKeyId'] ?? 'aws/secretsmanager', id).toBeDefined();
    for (const [id, r] of resourcesOf(s.template, 'AWS::SNS::Topic'))
      expect(r.Properties!['KmsMasterKeyId'], id).toBeDefined();
    const repositories = resourcesOf(s.repositoriesTemplate, 'AWS::ECR::Repository');
    expect(repositories).toHaveLength(2);
    for (const [id, r] of repositories) {
      expect(r.Properties!['EncryptionConfiguration'], id).toEqual({ EncryptionType: 'KMS' });
      expect(r.Properties!['ImageScanningConfiguration'], id).toEqual({ ScanOnPush: true });
    }
    expect(resourcesOf(s.template, 'AWS::ECR::Repository')).toEqual([]);
    s.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      AtRestEncryptionEnabled: true,
      KmsKeyId: Match.anyValue(),
    });
    // Platform secrets and the Redis AUTH token use customer keys.
    const customerKeyed = resourcesOf(s.template, 'AWS::SecretsManager::Secret').filter(
      ([, r]) => r.Properties!['KmsKeyId'],
    );
    expect(customerKeyed.length).toBeGreaterThanOrEqual(4);
    for (const [, key] of resourcesOf(s.template, 'AWS::KMS::Key'))
      expect(key.Properties!['EnableKeyRotation']).toBe(true);
  });

  it('requires TLS to the databases, Redis and the ALB', () => {
    const groups = resourcesOf(s.template, 'AWS::RDS::DBClusterParameterGroup');
    expect(groups).toHaveLength(2);
    for (const [, g] of groups)
      expect((g.Properties!['Parameters'] as Record<string, string>)['rds.force_ssl']).toBe('1');
    for (const [, c] of resourcesOf(s.template, 'AWS::RDS::DBCluster'))
      expect(c.Properties!['DBClusterParameterGroupName']).toBeDefined();
    s.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
    });
    // The AUTH token is a dynamic reference to Secrets Manager, never a literal in the template.
    const [, redis] = resourcesOf(s.template, 'AWS::ElastiCache::ReplicationGroup')[0]!;
    expect(json(redis.Properties!['AuthToken'])).toMatch(
      /^\{"Fn::Join":\["",\["\{\{resolve:secretsmanager:",\{"Ref":"RedisAuthToken/,
    );
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: s.config.certificateArn }],
    });
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [
        Match.objectLike({
          Type: 'redirect',
          RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }),
        }),
      ],
    });
  });

  it('opens 0.0.0.0/0 ingress only on the ALB, only on 80 and 443', () => {
    const open: string[] = [];
    for (const [id, r] of resourcesOf(s.template, 'AWS::EC2::SecurityGroup'))
      for (const rule of (r.Properties!['SecurityGroupIngress'] as Record<string, unknown>[] | undefined) ??
        [])
        if (rule['CidrIp'] === '0.0.0.0/0' || rule['CidrIpv6'] === '::/0')
          open.push(`${id}:${rule['FromPort']}-${rule['ToPort']}`);
    for (const [id, r] of resourcesOf(s.template, 'AWS::EC2::SecurityGroupIngress'))
      if (r.Properties!['CidrIp'] === '0.0.0.0/0' || r.Properties!['CidrIpv6'] === '::/0')
        open.push(`${id}:${r.Properties!['FromPort']}`);
    expect(open.sort()).toEqual([
      expect.stringMatching(/^LoadBalancerSecurityGroup.*:443-443$/),
      expect.stringMatching(/^LoadBalancerSecurityGroup.*:80-80$/),
    ]);
  });

  it('lets only the gateway and rest functions reach the internal port 3002', () => {
    const ingress = resourcesOf(s.template, 'AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) => r.Properties!['FromPort'] === 3002,
    );
    const sources = ingress.map(([, r]) => json(r.Properties!['SourceSecurityGroupId'])).sort();
    expect(sources).toHaveLength(2);
    expect(sources[0]).toContain('GatewaySecurityGroup');
    expect(sources[1]).toContain('RestFunctionsSecurityGroup');
    for (const [, r] of ingress)
      expect(json(r.Properties!['GroupId'])).toContain('TenantManagerSecurityGroup');
  });

  it("lets the gateway invoke only this stack's <prefix>-rest-* function URLs with IAM auth", () => {
    const statements = policyNamed(s, 'AccessGateway');
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'lambda:InvokeFunctionUrl',
      Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
    });
    expect(statements[1]).toMatchObject({
      Effect: 'Allow',
      Action: 'lambda:InvokeFunction',
      Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
    });
    for (const st of statements)
      expect(json(st.Resource)).toMatch(
        new RegExp(`:lambda:eu-west-1:\\d{12}:function:${s.config.namePrefix}-rest-\\*"`),
      );
    // No other policy grants any Lambda invocation.
    const invokers = iamStatements(s).filter(([, st]) =>
      asArray(st.Action).some((a) => /^lambda:Invoke/.test(a)),
    );
    expect(new Set(invokers.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')))).toEqual(
      new Set(['AccessGateway']),
    );
  });

  it("scopes the tenant-manager to this stack's functions, the rest role, its worker clusters and its ECS cluster", () => {
    const bySid = new Map(policyNamed(s, 'AccessTenantManager').map((st) => [st.Sid!, st]));
    const prefix = s.config.namePrefix;
    // Every Lambda statement names `<prefix>-rest-*`: a second stack's functions are out of reach.
    for (const st of policyNamed(s, 'AccessTenantManager').filter((x) =>
      asArray(x.Action).some((a) => a.startsWith('lambda:')),
    ))
      expect(json(st.Resource), st.Sid).toMatch(new RegExp(`function:${prefix}-rest-\\*"`));
    expect(asArray(bySid.get('ManageRestFunctions')!.Action)).not.toContain('lambda:*');
    const pass = bySid.get('PassOnlyTheRestExecutionRole')!;
    expect(pass.Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^RestFunctionsExecutionRole/), 'Arn'],
    });
    expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'lambda.amazonaws.com' } });
    const rds = json(bySid.get('ManageWorkerClusters')!.Resource);
    expect(rds).toContain(`:cluster:${prefix}-worker-*`);
    expect(rds).toContain(`:db:${prefix}-worker-*`);
    expect(rds).not.toContain(`${prefix}-management`);
    // The stack's own worker cluster matches <prefix>-worker-* but is CloudFormation's to change.
    const deny = bySid.get('NeverChangeTheStackWorkerCluster')!;
    expect(deny.Effect).toBe('Deny');
    expect(asArray(deny.Action)).toEqual(
      expect.arrayContaining(['rds:ModifyDBCluster', 'rds:DeleteDBCluster', 'rds:CreateDBInstance']),
    );
    expect(json(deny.Resource)).toContain(`:cluster:${prefix}-worker-main"`);
    expect(json(bySid.get('DescribePlatformServices')!.Resource)).toContain(`:service/${prefix}-cluster/*`);
    expect(bySid.get('EncryptWorkerStorage')!.Condition).toEqual({
      StringEquals: { 'kms:ViaService': `rds.${s.config.region}.amazonaws.com` },
    });
  });

  it("permits every AWS call the tenant-manager's provider makes, on the resources it names", async () => {
    const env = environmentOf(s, 'tenant-manager')['SUPAPLANE_AWS_PROVIDER_CONFIG'];
    const config = JSON.parse(resolve(s, env) as string);
    const statements = resolve(s, policyNamed(s, 'AccessTenantManager')) as Statement[];
    const calls = await recordProviderCalls(config, 'abcdefghijklmnopqrst');
    // The scenario reaches every operation the provider's code can send.
    const dir = new URL('../../apps/tenant-manager/src/providers/aws/', import.meta.url);
    const sent = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .flatMap((f) =>
        [...readFileSync(new URL(f, dir), 'utf8').matchAll(/new (\w+)Command\(/g)].map((m) => m[1]),
      );
    expect(new Set(calls.map((c) => c.operation))).toEqual(new Set(sent));
    const major = s.config.workerDatabase.engineVersion.split('.')[0]!;
    const refused = calls
      .flatMap((call) => needsOf(s, call, major).map((need) => ({ call: call.operation, ...need })))
      .filter((need) => !allows(statements, need))
      .map((n) => `${n.call}: ${n.action} on ${n.resource}`);
    expect([...new Set(refused)]).toEqual([]);
  });

  it('lets the tenant-manager create only IAM-authenticated function URLs and grant invoke to the gateway alone', () => {
    const statements = policyNamed(s, 'AccessTenantManager');
    const gatewayRole = { 'Fn::GetAtt': [expect.stringMatching(/^GatewayTask.*TaskRole/), 'Arn'] };
    const conditionsOf = (action: string) =>
      statements.filter((st) => asArray(st.Action).includes(action)).map((st) => st.Condition);
    for (const action of ['lambda:CreateFunctionUrlConfig', 'lambda:UpdateFunctionUrlConfig'])
      expect(conditionsOf(action), action).toEqual([
        { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      ]);
    expect(conditionsOf('lambda:AddPermission')).toEqual([
      { StringEquals: { 'lambda:Principal': gatewayRole } },
    ]);
    // No wildcard action sneaks them back in unconditionally.
    for (const st of statements) expect(asArray(st.Action).some((a) => /^lambda:.*\*/.test(a))).toBe(false);
  });

  it("lets the tenant-manager give runtime worker clusters' PostgreSQL logs a retention, never touch the stack cluster's, and delete none", async () => {
    const env = environmentOf(s, 'tenant-manager')['SUPAPLANE_AWS_PROVIDER_CONFIG'];
    const config = JSON.parse(resolve(s, env) as string);
    expect(config.workerCluster.logRetentionDays).toBe(s.config.databaseLogRetentionDays);
    const statements = resolve(s, policyNamed(s, 'AccessTenantManager')) as Statement[];
    const { account, region, namePrefix } = s.config;
    const group = (cluster: string) =>
      `arn:aws:logs:${region}:${account}:log-group:/aws/rds/cluster/${cluster}/postgresql`;
    const verdict = (action: string, cluster: string) =>
      [group(cluster), `${group(cluster)}:*`].map((resource) => allows(statements, { action, resource }));
    for (const action of ['logs:CreateLogGroup', 'logs:PutRetentionPolicy']) {
      // Both ARN forms of a runtime cluster's group, neither of the stack's own clusters'.
      expect(verdict(action, `${namePrefix}-worker-eu-2`), action).toEqual([true, true]);
      expect(verdict(action, `${namePrefix}-worker-main`), action).toEqual([false, false]);
      expect(verdict(action, `${namePrefix}-management`), action).toEqual([false, false]);
      expect(
        allows(statements, { action, resource: `arn:aws:logs:${region}:${account}:log-group:/ecs/x:*` }),
      ).toBe(false);
    }
    for (const action of ['logs:DeleteLogGroup', 'logs:DeleteRetentionPolicy', 'logs:PutLogEvents'])
      expect(verdict(action, `${namePrefix}-worker-eu-2`), action).toEqual([false, false]);
    // The provider names every group it touches under the stack's prefix: a new cluster's.
    const calls = await recordProviderCalls(config, 'abcdefghijklmnopqrst');
    expect(
      new Set(
        calls
          .filter((c) => c.service === 'logs')
          .map((c) => `${c.operation} ${c.input['logGroupName'] ?? c.input['logGroupNamePrefix']}`),
      ),
    ).toEqual(
      new Set([
        `DescribeLogGroups /aws/rds/cluster/${namePrefix}-worker-`,
        `CreateLogGroup /aws/rds/cluster/${namePrefix}-worker-eu-2/postgresql`,
        `PutRetentionPolicy /aws/rds/cluster/${namePrefix}-worker-eu-2/postgresql`,
      ]),
    );
  });

  it('lets the tenant-manager delete a worker cluster with its final snapshot', () => {
    // DeleteDBCluster with FinalDBSnapshotIdentifier is refused without rds:CreateDBClusterSnapshot
    // (and, with CopyTagsToSnapshot, rds:AddTagsToResource) on the snapshot.
    const manage = policyNamed(s, 'AccessTenantManager').find((st) => st.Sid === 'ManageWorkerClusters')!;
    expect(asArray(manage.Action)).toEqual(
      expect.arrayContaining(['rds:DeleteDBCluster', 'rds:CreateDBClusterSnapshot', 'rds:AddTagsToResource']),
    );
    const resources = json(manage.Resource);
    expect(resources).toContain(`:cluster-snapshot:${s.config.namePrefix}-worker-*`);
    expect(resources).toContain(`:cluster:${s.config.namePrefix}-worker-*`);
  });

  it("encrypts rest function environments with a key only the tenant-manager and the functions' role may decrypt", () => {
    const env = environmentOf(s, 'tenant-manager')['SUPAPLANE_AWS_PROVIDER_CONFIG'];
    const config = JSON.parse(resolve(s, env) as string);
    const [keyId, key] = resourcesOf(s.template, 'AWS::KMS::Key').find(([id]) =>
      id.startsWith('RestFunctionsEnvironmentKey'),
    )!;
    expect(key.Properties!['EnableKeyRotation']).toBe(true);
    const keyArn = `arn:aws:kms:${s.config.region}:${s.config.account}:key/${keyId}`;
    expect(config.restFunction.kmsKeyArn).toBe(keyArn);
    // Every identity policy of the stack: who may read the internal tokens back through Lambda, and
    // who may decrypt them with a direct KMS call (nobody).
    const viaLambda = { 'kms:ViaService': `lambda.${s.config.region}.amazonaws.com` };
    const decrypters = (context: Record<string, string>) =>
      new Set(
        iamStatements(s)
          .filter(([, st]) => {
            const resolved = resolve(s, st) as Statement;
            return (
              resolved.Effect === 'Allow' &&
              matches(resolved, { action: 'kms:Decrypt', resource: keyArn, context })
            );
          })
          .map(([id]) => id.replace(/[0-9A-F]{8}$/, '')),
      );
    expect(decrypters(viaLambda)).toEqual(new Set(['AccessTenantManager', 'RestFunctionsExecutionRole']));
    expect(decrypters({})).toEqual(new Set());
  });

  it('gives rest functions one execution role that may only write to their shared, retained log group', () => {
    const [, role] = resourcesOf(s.template, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('RestFunctionsExecutionRole'),
    )!;
    expect(json(role.Properties!['AssumeRolePolicyDocument'])).toContain('lambda.amazonaws.com');
    const logs = (
      role.Properties!['Policies'] as { PolicyName: string; PolicyDocument: { Statement: Statement[] } }[]
    ).find((p) => p.PolicyName === 'logs')!;
    expect(logs.PolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^RestFunctionsLogs/), 'Arn'] },
      }),
    ]);
    s.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: `/aws/lambda/${s.config.namePrefix}-rest`,
      RetentionInDays: s.config.logRetentionDays,
    });
    expect(role.Properties!['ManagedPolicyArns']).toBeUndefined();
  });

  it('uses "*" resources only for actions that support no resource-level scoping', () => {
    const allowedOnStar = new Set([
      'ecr:GetAuthorizationToken',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeSubnets',
      'ec2:DescribeVpcs',
      'ec2:CreateNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
      // VPC flow logs delivery role (CDK-generated, scoped by the service principal).
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'logs:DescribeLogStreams',
      'iam:PassRole',
    ]);
    for (const [id, st] of iamStatements(s)) {
      if (!asArray(st.Resource).includes('*')) continue;
      for (const action of asArray(st.Action))
        expect(allowedOnStar.has(action), `${id}: ${action} on *`).toBe(true);
      expect(asArray(st.Action).some((a) => a.endsWith(':*'))).toBe(false);
    }
  });

  it('keeps the PostgreSQL logs each Aurora cluster exports for databaseLogRetentionDays, in a group made before it', () => {
    const clusters = resourcesOf(s.template, 'AWS::RDS::DBCluster');
    expect(clusters).toHaveLength(2);
    const groups = new Map(
      resourcesOf(s.template, 'AWS::Logs::LogGroup').map(([id, g]) => [
        g.Properties!['LogGroupName'],
        { id, g },
      ]),
    );
    for (const [id, c] of clusters) {
      expect(c.Properties!['EnableCloudwatchLogsExports'], id).toEqual(['postgresql']);
      const name = `/aws/rds/cluster/${c.Properties!['DBClusterIdentifier']}/postgresql`;
      const group = groups.get(name);
      expect(group, name).toBeDefined();
      expect(group!.g.Properties!['RetentionInDays'], name).toBe(s.config.databaseLogRetentionDays);
      // Otherwise RDS creates the group first (without expiry) and the stack's group fails to create.
      expect(asArray(c['DependsOn'] as string | string[]), id).toContain(group!.id);
    }
  });

  it('applies deletion protection, removal policy, backups and readers from config', () => {
    const clusters = resourcesOf(s.template, 'AWS::RDS::DBCluster');
    expect(clusters).toHaveLength(2);
    const policy = { destroy: 'Delete', retain: 'Retain', snapshot: 'Snapshot' } as const;
    for (const [id, c] of clusters) {
      const d = id.startsWith('Management') ? s.config.managementDatabase : s.config.workerDatabase;
      expect(c.Properties!['DeletionProtection'], id).toBe(d.deletionProtection);
      expect(c.Properties!['BackupRetentionPeriod'], id).toBe(d.backupRetentionDays);
      expect(c.Properties!['EngineVersion'], id).toBe(d.engineVersion);
      expect(c.Properties!['ServerlessV2ScalingConfiguration'], id).toEqual({
        MinCapacity: d.minCapacity,
        MaxCapacity: d.maxCapacity,
      });
      expect(c['DeletionPolicy'], id).toBe(policy[d.removalPolicy]);
    }
    const instances = resourcesOf(s.template, 'AWS::RDS::DBInstance');
    expect(instances).toHaveLength(2 + s.config.managementDatabase.readers + s.config.workerDatabase.readers);
    for (const [, i] of instances) expect(i.Properties!['DBInstanceClass']).toBe('db.serverless');
    for (const [id, b] of resourcesOf(s.template, 'AWS::S3::Bucket'))
      expect(b['DeletionPolicy'], id).toBe(s.config.dataRemovalPolicy === 'destroy' ? 'Delete' : 'Retain');
  });

  it('with dataRemovalPolicy destroy, empties buckets and repositories on deletion, so both stacks can go', () => {
    // CloudFormation refuses to delete a bucket or repository that holds anything: the ALB logs, the
    // rest artifact's versions and the pushed images would leave a "destroyable" stack DELETE_FAILED.
    const destroy = s.config.dataRemovalPolicy === 'destroy';
    const buckets = resourcesOf(s.template, 'AWS::S3::Bucket').map(([id]) => id);
    expect(buckets).toHaveLength(2);
    const emptied = resourcesOf(s.template)
      .filter(([, r]) => r.Type === 'Custom::S3AutoDeleteObjects')
      .map(([, r]) => json(r.Properties!['BucketName']));
    expect(emptied.sort()).toEqual(destroy ? buckets.map((id) => json({ Ref: id })).sort() : []);
    for (const [id, r] of resourcesOf(s.repositoriesTemplate, 'AWS::ECR::Repository'))
      expect(r.Properties!['EmptyOnDelete'] ?? false, id).toBe(destroy);
    // The function that empties them logs to /aws/lambda/<its name>, which Lambda would create without
    // expiry and leave behind: the stack makes it with a retention and deletes it after the emptying.
    const handlers = resourcesOf(s.template, 'AWS::Lambda::Function').map(([id]) => id);
    expect(handlers).toHaveLength(destroy ? 1 : 0);
    const groups = resourcesOf(s.template, 'AWS::Logs::LogGroup').filter(
      ([, g]) =>
        json(g.Properties!['LogGroupName']) ===
        json({ 'Fn::Join': ['', ['/aws/lambda/', { Ref: handlers[0] }]] }),
    );
    expect(groups).toHaveLength(destroy ? 1 : 0);
    if (destroy) {
      const [groupId, group] = groups[0]!;
      expect(group.Properties!['RetentionInDays']).toBe(s.config.logRetentionDays);
      expect(group['DeletionPolicy']).toBe('Delete');
      for (const [id, r] of resourcesOf(s.template).filter(
        ([, r]) => r.Type === 'Custom::S3AutoDeleteObjects',
      ))
        expect(r['DependsOn'], id).toContain(groupId);
    }
  });

  it('sizes Redis and its failover from config', () => {
    s.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      CacheNodeType: s.config.redis.nodeType,
      NumCacheClusters: 1 + s.config.redis.replicas,
      MultiAZEnabled: s.config.redis.multiAz,
      AutomaticFailoverEnabled: s.config.redis.multiAz,
    });
  });

  it('runs both services on Fargate with health checks, rollback and autoscaling from config', () => {
    for (const [service, cfg, port] of [
      ['gateway', s.config.gateway, 8000],
      ['tenant-manager', s.config.tenantManager, 3001],
    ] as const) {
      s.template.hasResourceProperties('AWS::ECS::Service', {
        ServiceName: service,
        LaunchType: 'FARGATE',
        // Autoscaling owns the count (from minCount up): a DesiredCount in the template would be sent
        // again with every update, scaling a busy service back down in the middle of a deployment.
        DesiredCount: Match.absent(),
        DeploymentConfiguration: Match.objectLike({
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      });
      s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Cpu: String(cfg.cpu),
        Memory: String(cfg.memoryMiB),
        ContainerDefinitions: [
          Match.objectLike({
            Name: service,
            ReadonlyRootFilesystem: true,
            HealthCheck: Match.objectLike({
              Command: Match.arrayWith([Match.stringLikeRegexp(`127.0.0.1:${port}/health`)]),
            }),
            Image: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([`:${cfg.imageTag}`])]) }),
          }),
        ],
      });
      const [, scaling] = resourcesOf(s.template, 'AWS::ApplicationAutoScaling::ScalableTarget').find(
        ([id]) => id.toLowerCase().startsWith(service.replace('-', '')),
      )!;
      expect(scaling.Properties).toMatchObject({ MinCapacity: cfg.minCount, MaxCapacity: cfg.maxCount });
    }
    // Secrets reach the containers through Secrets Manager, never as plain environment.
    for (const [, td] of resourcesOf(s.template, 'AWS::ECS::TaskDefinition')) {
      const container = (td.Properties!['ContainerDefinitions'] as Record<string, unknown>[])[0]!;
      const plain = (container['Environment'] as { Name: string }[]).map((e) => e.Name);
      for (const name of plain) expect(name).not.toMatch(/PASSWORD|TOKEN|API_KEY|MASTER_KEY|SECRET/);
      expect(plain).toContain('AWS_REGION');
      expect((container['Secrets'] as { Name: string }[]).map((e) => e.Name)).toContain(
        'INTERNAL_SERVICE_TOKEN',
      );
    }
  });

  it('gives the tenant-manager the default project limits: 60 connections and no rate variables', () => {
    expect(limitVariables(environmentOf(s, 'tenant-manager'))).toEqual({ PROJECT_DB_CONNECTION_LIMIT: '60' });
    expect(limitVariables(environmentOf(s, 'gateway'))).toEqual({});
  });

  it('lines up the timeouts: statement < rest function < gateway upstream < ALB idle < gateway keep-alive', () => {
    const functionMs = s.config.restFunction.timeoutSeconds * 1000;
    const gateway = environmentOf(s, 'gateway');
    // The gateway waits for the function's own answer (its timeout included) and then a little more,
    // never less: a gateway 504 before the function ends leaves it running (and billed).
    expect(gateway['GATEWAY_UPSTREAM_TIMEOUT_MS']).toBe(String(functionMs + 5000));
    expect(gateway['GATEWAY_UPSTREAM_BODY_TIMEOUT_MS']).toBe(String(functionMs + 5000));
    const [, alb] = resourcesOf(s.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0]!;
    const attributes = alb.Properties!['LoadBalancerAttributes'] as { Key: string; Value: string }[];
    const idleMs = Number(attributes.find((a) => a.Key === 'idle_timeout.timeout_seconds')!.Value) * 1000;
    // The ALB must not cut the connection before the gateway's JSON 504 is sent, and the gateway's
    // keep-alive (65 s, gateway/src/server.ts) must outlast the ALB's idle timeout.
    expect(functionMs + 5000).toBeLessThan(idleMs);
    expect(idleMs).toBeLessThan(65_000);
    // The data API's statements stop at 8 s (the tenant-manager's SQL_STATEMENT_TIMEOUT_MS default,
    // which the stack leaves as it is), before the function does.
    expect(environmentOf(s, 'tenant-manager')['SQL_STATEMENT_TIMEOUT_MS']).toBeUndefined();
    expect(8000).toBeLessThan(functionMs);
  });

  it("tells the gateway that one proxy (the ALB) appends to X-Forwarded-For, so a client's own entries are dropped", () => {
    expect(environmentOf(s, 'gateway').GATEWAY_TRUSTED_PROXY_HOPS).toBe('1');
  });

  it("serves the gateway's metrics on a port of their own, which no security group rule opens", () => {
    expect(environmentOf(s, 'gateway').GATEWAY_METRICS_PORT).toBe('9102');
    const ingress = [
      ...resourcesOf(s.template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties!),
      ...resourcesOf(s.template, 'AWS::EC2::SecurityGroup').flatMap(
        ([, r]) => (r.Properties!['SecurityGroupIngress'] as Record<string, unknown>[] | undefined) ?? [],
      ),
    ];
    expect(ingress.length).toBeGreaterThan(5);
    for (const rule of ingress) {
      const from = rule['FromPort'] as number | undefined;
      const to = rule['ToPort'] as number | undefined;
      if (from !== undefined && to !== undefined)
        expect(from <= 9102 && 9102 <= to, JSON.stringify(rule)).toBe(false);
    }
  });

  it('lets cached Cloud Map answers for the internal API expire while a replaced tenant-manager task still drains', () => {
    // ECS takes a stopping task out of Cloud Map when its 30 s drain starts: gateways and cold-starting
    // rest functions that cached its address longer than that would call a stopped task.
    const discovery = resourcesOf(s.template, 'AWS::ServiceDiscovery::Service');
    expect(discovery).toHaveLength(1);
    const records = (discovery[0]![1].Properties!['DnsConfig'] as { DnsRecords: { TTL: number }[] })
      .DnsRecords;
    const [, targetGroup] = resourcesOf(s.template, 'AWS::ElasticLoadBalancingV2::TargetGroup').find(
      ([, g]) => g.Properties!['Port'] === 3001,
    )!;
    const drain = (targetGroup.Properties!['TargetGroupAttributes'] as { Key: string; Value: string }[]).find(
      (a) => a.Key === 'deregistration_delay.timeout_seconds',
    )!;
    for (const record of records) expect(record.TTL * 2).toBeLessThanOrEqual(Number(drain.Value));
  });

  it('routes *.baseDomain to the gateway and the API host to the tenant-manager', () => {
    const rules = resourcesOf(s.template, 'AWS::ElasticLoadBalancingV2::ListenerRule').map(
      ([, r]) => r.Properties!,
    );
    const hostOf = (r: Record<string, unknown>) => json(r['Conditions']);
    const api = rules.find((r) => hostOf(r).includes(`"${s.config.apiHostName}"`))!;
    const wildcard = rules.find((r) => hostOf(r).includes(`"*.${s.config.baseDomain}"`))!;
    expect(api['Priority']).toBeLessThan(wildcard['Priority'] as number);
    expect(json(api['Actions']).toLowerCase()).toContain('tenantmanager');
    expect(json(wildcard['Actions']).toLowerCase()).toContain('gateway');
    expect(rules).toHaveLength(2);
  });

  it('puts a WAF with managed rules and a per-IP rate limit in front of the ALB', () => {
    const mode = s.config.waf.managedRulesMode === 'block' ? { None: {} } : { Count: {} };
    s.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      Rules: Match.arrayWith([
        Match.objectLike({
          Action: { Block: {} },
          Statement: { RateBasedStatement: { Limit: s.config.waf.ratePerIpPer5Min, AggregateKeyType: 'IP' } },
        }),
        Match.objectLike({ Name: 'AWSManagedRulesCommonRuleSet', OverrideAction: mode }),
      ]),
    });
    s.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  });

  it("lets ordinary PostgREST requests past the common rule set's size limits", () => {
    // Its SizeRestrictions block query strings over 2 KB and bodies over 8 KB: a supabase-js
    // .in('id', ids) with ~60 UUIDs, a long select with embeds, or a bulk insert would be refused.
    const [, acl] = resourcesOf(s.template, 'AWS::WAFv2::WebACL')[0]!;
    type Override = { Name: string; ActionToUse: unknown };
    type Rule = {
      Name: string;
      Statement: { ManagedRuleGroupStatement: { RuleActionOverrides: Override[] } };
    };
    const common = (acl.Properties!['Rules'] as Rule[]).find(
      (r) => r.Name === 'AWSManagedRulesCommonRuleSet',
    )!;
    const overrides = common.Statement.ManagedRuleGroupStatement.RuleActionOverrides;
    expect(Object.fromEntries(overrides.map((o) => [o.Name, o.ActionToUse]))).toMatchObject({
      SizeRestrictions_BODY: { Count: {} },
      SizeRestrictions_QUERYSTRING: { Count: {} },
    });
  });

  it('sends alarms to an SNS topic with the configured e-mail subscription', () => {
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThanOrEqual(10);
    for (const [id, a] of alarms) expect(json(a.Properties!['AlarmActions']), id).toContain('AlarmsTopic');
    s.template.resourceCountIs('AWS::SNS::Subscription', s.config.alarms.email ? 1 : 0);
    if (s.config.alarms.email)
      s.template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: s.config.alarms.email,
      });
  });

  it("alarms before the worker cluster's connection slots run out, which every project on it shares", () => {
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) =>
        a.Properties!['Namespace'] === 'AWS/RDS' && a.Properties!['MetricName'] === 'DatabaseConnections',
    );
    expect(alarms).toHaveLength(1);
    const [id, alarm] = alarms[0]!;
    const [worker] = resourcesOf(s.template, 'AWS::RDS::DBCluster').filter(
      ([, c]) => c.Properties!['DBClusterIdentifier'] === `${s.config.namePrefix}-worker-main`,
    );
    expect(alarm.Properties!['Dimensions'], id).toEqual([
      { Name: 'DBClusterIdentifier', Value: { Ref: worker![0] } },
    ]);
    expect(alarm.Properties!['Statistic'], id).toBe('Maximum');
    // 80% of the conservative max_connections estimate that also bounds projectLimits.dbConnectionLimit.
    expect(alarm.Properties!['Threshold'], id).toBe(
      Math.floor(0.8 * estimatedMaxConnections(s.config.workerDatabase)),
    );
  });

  it("alarms on errors of this stack's rest functions alone, counted from their shared log group", () => {
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm');
    // Lambda's Errors without a FunctionName dimension would count every function of the account.
    for (const [id, a] of alarms)
      expect(
        a.Properties!['Namespace'] === 'AWS/Lambda' && a.Properties!['MetricName'] === 'Errors',
        id,
      ).toBe(false);
    const filters = resourcesOf(s.template, 'AWS::Logs::MetricFilter');
    expect(filters).toHaveLength(1);
    const [, filter] = filters[0]!;
    expect(filter.Properties!['LogGroupName']).toEqual({ Ref: expect.stringMatching(/^RestFunctionsLogs/) });
    expect(filter.Properties!['FilterPattern']).toBe(
      '{ ($.type = "platform.report") && ($.record.status != "success") }',
    );
    const [transformation] = filter.Properties!['MetricTransformations'] as Record<string, string>[];
    expect(transformation).toMatchObject({
      MetricNamespace: `Supaplane/${s.config.namePrefix}`,
      MetricName: 'RestFunctionErrors',
      MetricValue: '1',
    });
    const errors = alarms.filter(
      ([, a]) =>
        a.Properties!['Namespace'] === transformation!['MetricNamespace'] &&
        a.Properties!['MetricName'] === transformation!['MetricName'],
    );
    expect(errors).toHaveLength(1);
    const [id, alarm] = errors[0]!;
    expect(alarm.Properties!['Statistic'], id).toBe('Sum');
    expect(alarm.Properties!['Period'], id).toBe(300);
    expect(json(alarm.Properties!['AlarmActions']), id).toContain('AlarmsTopic');
  });

  it('alarms on Lambda throttles summed over the account, whose concurrency quota every function shares', () => {
    const found = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties!['Namespace'] === 'AWS/Lambda',
    );
    expect(found.map(([, a]) => a.Properties!['MetricName'])).toEqual(['Throttles']);
    const [id, alarm] = found[0]!;
    expect(alarm.Properties!['Dimensions'], id).toBeUndefined();
    expect(alarm.Properties!['Statistic'], id).toBe('Sum');
    expect(json(alarm.Properties!['AlarmActions']), id).toContain('AlarmsTopic');
  });

  it('alarms on Redis CPU and memory by node, the only dimension ElastiCache publishes them with', () => {
    const nodes = Array.from(
      { length: 1 + s.config.redis.replicas },
      (_, i) => `${s.config.namePrefix}-cache-00${i + 1}`,
    );
    for (const metricName of ['EngineCPUUtilization', 'DatabaseMemoryUsagePercentage']) {
      const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
        json(a.Properties).includes(`"${metricName}"`),
      );
      expect(alarms, metricName).toHaveLength(1);
      const metrics = alarms[0]![1].Properties!['Metrics'] as {
        MetricStat?: { Metric: { Namespace: string; Dimensions: { Name: string; Value: unknown }[] } };
        Expression?: string;
      }[];
      expect(metrics, metricName).toBeDefined();
      const dimensions = metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));
      expect(dimensions.map((m) => m.Dimensions)).toEqual(
        nodes.map((id) => [{ Name: 'CacheClusterId', Value: id }]),
      );
      for (const m of dimensions) expect(m.Namespace).toBe('AWS/ElastiCache');
      expect(metrics.find((m) => m.Expression)?.Expression).toMatch(/^MAX\(\[/);
    }
    for (const [id, a] of resourcesOf(s.template, 'AWS::CloudWatch::Alarm'))
      expect(json(a.Properties), id).not.toContain('ReplicationGroupId');
  });

  it('creates the VPC, repositories and secrets from config', () => {
    s.template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: s.config.vpc.cidr });
    s.template.resourceCountIs('AWS::EC2::NatGateway', s.config.vpc.natGateways);
    s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
    const repos = resourcesOf(s.repositoriesTemplate, 'AWS::ECR::Repository').map(
      ([, r]) => r.Properties!['RepositoryName'],
    );
    expect(repos.sort()).toEqual([`${s.config.namePrefix}/gateway`, `${s.config.namePrefix}/tenant-manager`]);
    for (const secret of ['admin-key', 'internal-service-token', 'master-key'])
      s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
        Name: `${s.config.namePrefix}/${secret}`,
      });
    // MASTER_KEY must be base64 of 32 bytes: 43 alphanumerics decode to exactly that.
    s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: `${s.config.namePrefix}/master-key`,
      GenerateSecretString: Match.objectLike({ PasswordLength: 43, ExcludePunctuation: true }),
    });
    expect(Buffer.from('A'.repeat(43), 'base64')).toHaveLength(32);
  });

  it('hands the AWS provider its config and exports every output the scripts read', () => {
    const tm = resourcesOf(s.template, 'AWS::ECS::TaskDefinition').find(([id]) =>
      id.startsWith('TenantManager'),
    )!;
    const env = (
      (tm[1].Properties!['ContainerDefinitions'] as Record<string, unknown>[])[0]!['Environment'] as {
        Name: string;
        Value: unknown;
      }[]
    ).find((e) => e.Name === 'SUPAPLANE_AWS_PROVIDER_CONFIG')!;
    const rendered = json(env.Value);
    // No artifactSha256 in the shipped configs: the provider never updates code on its own.
    expect(rendered).not.toContain('codeSha256');
    expect(rendered).toContain(`\\"logGroup\\":\\"/aws/lambda/${s.config.namePrefix}-rest\\"`);
    // The functions the tenant-manager creates carry the prefix its IAM policy is scoped to.
    expect(rendered).toContain(`\\"namePrefix\\":\\"${s.config.namePrefix}-rest-\\"`);
    expect(rendered).toContain(`\\"reservedIdentifiers\\":[\\"${s.config.namePrefix}-worker-main\\"]`);
    for (const field of [
      'restFunction',
      'gatewayRoleArn',
      'workerCluster',
      'identifierPrefix',
      'rest/rest-lambda.zip',
    ])
      expect(rendered).toContain(field);
    const outputs = Object.keys(s.template.toJSON()['Outputs'] as object);
    for (const o of [
      'LoadBalancerDnsName',
      'ApiUrl',
      'AdminKeySecretArn',
      'WorkerClusterIdentifier',
      'WorkerClusterEndpoint',
      'WorkerClusterSecretArn',
      'RedisEndpoint',
      'RestArtifactBucket',
      'RestExecutionRoleArn',
      'GatewayTaskRoleArn',
      'EcsClusterName',
      'AlarmTopicArn',
    ])
      expect(outputs).toContain(o);
    const repositoryOutputs = Object.keys(s.repositoriesTemplate.toJSON()['Outputs'] as object);
    // Besides the cross-stack exports CDK adds for the platform stack.
    expect(repositoryOutputs.filter((o) => !o.startsWith('ExportsOutput')).sort()).toEqual([
      'GatewayRepositoryUri',
      'TenantManagerRepositoryUri',
    ]);
    // The services pull from the repositories stack's repositories, at the configured tags.
    const images = resourcesOf(s.template, 'AWS::ECS::TaskDefinition').map(([, td]) =>
      json((td.Properties!['ContainerDefinitions'] as { Image: unknown }[])[0]!.Image),
    );
    for (const image of images) expect(image).toContain('Fn::ImportValue');
  });
});

describe('SupabaseStack with direct database access', () => {
  it('lets the configured ranges, and only them, reach the worker databases on 5432', () => {
    // A range's rule sits in its security group's own SecurityGroupIngress list.
    const workerIngressFromCidrs = (t: ReturnType<typeof synth>) =>
      resourcesOf(t.template, 'AWS::EC2::SecurityGroup').flatMap(([id, r]) =>
        ((r.Properties!['SecurityGroupIngress'] as Record<string, unknown>[] | undefined) ?? [])
          .filter((rule) => rule['CidrIp'] !== undefined && rule['FromPort'] === 5432)
          .map((rule) => [rule['CidrIp'], rule['FromPort'], id]),
      );
    const s = synth('test', (c) => {
      c.directDatabaseAccessCidrs = ['10.8.0.0/16', '192.168.4.0/24'];
    });
    const rules = workerIngressFromCidrs(s);
    expect(rules.map(([cidr, port]) => [cidr, port]).sort()).toEqual([
      ['10.8.0.0/16', 5432],
      ['192.168.4.0/24', 5432],
    ]);
    for (const [, , group] of rules) expect(group).toContain('WorkerDatabase');
    expect(s.nagFindings).toEqual([]);
    expect(workerIngressFromCidrs(synth('test'))).toEqual([]);
  });
});

describe('SupabaseStack with configured project limits', () => {
  it('hands every set limit to the tenant-manager task definition, and only to it', () => {
    const s = synth('test', (c) => {
      c.projectLimits = { dbConnectionLimit: 25, requestsPerSecond: 50, burst: 200, dbSizeLimitMb: 2048 };
    });
    s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'tenant-manager',
          Environment: Match.arrayWith([
            { Name: 'PROJECT_DB_CONNECTION_LIMIT', Value: '25' },
            { Name: 'PROJECT_RATE_LIMIT_RPS', Value: '50' },
            { Name: 'PROJECT_RATE_LIMIT_BURST', Value: '200' },
            { Name: 'PROJECT_DB_SIZE_LIMIT_MB', Value: '2048' },
          ]),
        }),
      ],
    });
    expect(limitVariables(environmentOf(s, 'tenant-manager'))).toEqual({
      PROJECT_DB_CONNECTION_LIMIT: '25',
      PROJECT_RATE_LIMIT_RPS: '50',
      PROJECT_RATE_LIMIT_BURST: '200',
      PROJECT_DB_SIZE_LIMIT_MB: '2048',
    });
    expect(limitVariables(environmentOf(s, 'gateway'))).toEqual({});
    expect(s.nagFindings).toEqual([]);
  });

  it('leaves PROJECT_RATE_LIMIT_BURST out when only a rate is set (the tenant-manager then uses the rate)', () => {
    const s = synth('production', (c) => {
      c.projectLimits = { requestsPerSecond: 300 };
    });
    expect(limitVariables(environmentOf(s, 'tenant-manager'))).toEqual({
      PROJECT_DB_CONNECTION_LIMIT: '60',
      PROJECT_RATE_LIMIT_RPS: '300',
    });
  });
});
