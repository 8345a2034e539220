import {
  Duration,
  RemovalPolicy,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_elasticache as elasticache,
  aws_kms as kms,
  aws_secretsmanager as sm,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface RedisProps {
  readonly vpc: ec2.IVpc;
  /** Replication group id (physical name). */
  readonly replicationGroupId: string;
  /** Node type. Default `cache.t4g.micro`. */
  readonly nodeType?: string;
  /** Replicas besides the primary. Default 0. */
  readonly replicas?: number;
  /** Multi-AZ with automatic failover (needs at least one replica). Default false. */
  readonly multiAz?: boolean;
  /** Days of daily snapshots; 0 turns snapshots off. Default 0. */
  readonly snapshotRetentionDays?: number;
  /** What happens to the KMS key and auth token when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * ElastiCache Redis (the gateway's shared cache and the invalidation channel): TLS in transit, an AUTH
 * token from Secrets Manager, at-rest encryption with a customer key, isolated subnets.
 */
export class Redis extends Construct {
  static readonly PORT = 6379;
  readonly replicationGroup: elasticache.CfnReplicationGroup;
  readonly securityGroup: ec2.SecurityGroup;
  readonly authToken: sm.Secret;
  /** CacheClusterId of every node: ElastiCache names a replication group's members `<id>-001`, `-002`, …. */
  readonly nodeIds: readonly string[];

  constructor(scope: Construct, id: string, props: RedisProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const key = new kms.Key(this, 'Key', {
      description: `At-rest encryption of ${props.replicationGroupId}`,
      enableKeyRotation: true,
      removalPolicy,
    });
    this.authToken = new sm.Secret(this, 'AuthToken', {
      description: `AUTH token of ${props.replicationGroupId}`,
      encryptionKey: key,
      removalPolicy,
      // ElastiCache accepts 16-128 printable characters without @, " or /.
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `${props.replicationGroupId}: Redis from named security groups only`,
      allowAllOutbound: false,
    });
    const subnets = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: `Isolated subnets of ${props.replicationGroupId}`,
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });
    const multiAz = props.multiAz ?? false;
    const nodes = 1 + (props.replicas ?? 0);
    this.nodeIds = Array.from(
      { length: nodes },
      (_, i) => `${props.replicationGroupId.toLowerCase()}-${String(i + 1).padStart(3, '0')}`,
    );
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupId: props.replicationGroupId,
      replicationGroupDescription: 'Supaplane gateway cache and invalidation channel',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.nodeType ?? 'cache.t4g.micro',
      numCacheClusters: nodes,
      automaticFailoverEnabled: multiAz,
      multiAzEnabled: multiAz,
      port: Redis.PORT,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      kmsKeyId: key.keyId,
      authToken: this.authToken.secretValue.unsafeUnwrap(),
      snapshotRetentionLimit: props.snapshotRetentionDays ?? 0,
      autoMinorVersionUpgrade: true,
    });
    this.replicationGroup.applyRemovalPolicy(RemovalPolicy.DESTROY);
    NagSuppressions.addResourceSuppressions(this.replicationGroup, [
      {
        id: 'AwsSolutions-AEC5',
        reason:
          'A non-default port adds no protection: access needs the security group, TLS and the AUTH token.',
      },
      ...(multiAz
        ? []
        : [
            {
              id: 'AwsSolutions-AEC4',
              reason:
                'Single-AZ by configuration (test deployment); the cache is rebuilt from the tenant-manager.',
            },
          ]),
    ]);
    NagSuppressions.addResourceSuppressions(this.authToken, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating an ElastiCache AUTH token is a ROTATE-then-SET sequence coordinated with every client; documented operator procedure.',
      },
    ]);
  }

  /**
   * The highest value of a per-node metric across the group's nodes. ElastiCache publishes node
   * metrics by CacheClusterId (and CacheNodeId) only, never by replication group, and the primary
   * moves on failover, so an alarm has to watch every node.
   */
  maxOverNodes(metricName: string): cloudwatch.IMetric {
    return new cloudwatch.MathExpression({
      expression: `MAX([${this.nodeIds.map((_, i) => `node${i + 1}`).join(', ')}])`,
      usingMetrics: Object.fromEntries(
        this.nodeIds.map((id, i) => [
          `node${i + 1}`,
          new cloudwatch.Metric({
            namespace: 'AWS/ElastiCache',
            metricName,
            dimensionsMap: { CacheClusterId: id },
            statistic: 'Average',
            period: Duration.minutes(1),
          }),
        ]),
      ),
      label: `${metricName} (highest node)`,
      period: Duration.minutes(1),
    });
  }

  /** Lets `peer` connect to Redis. */
  allowFrom(peer: ec2.ISecurityGroup, why: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(Redis.PORT), why);
  }
}
