import {
  Duration,
  RemovalPolicy,
  aws_ec2 as ec2,
  aws_kms as kms,
  aws_logs as logs,
  aws_rds as rds,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface AuroraClusterProps {
  readonly vpc: ec2.IVpc;
  /** Physical cluster identifier (the tenant-manager's IAM scope relies on it for workers). */
  readonly clusterIdentifier: string;
  /** Name of the DB subnet group, so that the tenant-manager can place new worker clusters in it. */
  readonly subnetGroupName: string;
  /** Name of the cluster parameter group (carries `rds.force_ssl`); reused for new worker clusters. */
  readonly parameterGroupName: string;
  /** Aurora PostgreSQL 16 minor version. Default `16.6`. */
  readonly engineVersion?: string;
  /** Serverless v2 ACU range. Default 0.5–2. */
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
  /** Serverless v2 readers besides the writer. Default 0. */
  readonly readers?: number;
  /** Days of automated backups. Default 7. */
  readonly backupRetentionDays?: number;
  /** Default true: the cluster cannot be deleted until this is switched off. */
  readonly deletionProtection?: boolean;
  /** What happens to the cluster when the stack is deleted. Default SNAPSHOT. */
  readonly removalPolicy?: RemovalPolicy;
  /** Master user name; the password is generated into Secrets Manager. Default `supaplane_admin`. */
  readonly masterUsername?: string;
  /** Initial database. Default `postgres`. */
  readonly databaseName?: string;
  /** Retention of the exported PostgreSQL log. Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to that log group when the stack is deleted. Default RETAIN. */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * An Aurora PostgreSQL 16 Serverless v2 cluster: storage encrypted with its own KMS key, TLS forced
 * (`rds.force_ssl=1`), generated master secret, PostgreSQL logs exported to CloudWatch into a log
 * group with a retention.
 */
export class AuroraCluster extends Construct {
  static readonly PORT = 5432;
  readonly cluster: rds.DatabaseCluster;
  readonly securityGroup: ec2.SecurityGroup;
  readonly encryptionKey: kms.Key;
  readonly subnetGroup: rds.SubnetGroup;
  readonly parameterGroup: rds.ParameterGroup;

  constructor(scope: Construct, id: string, props: AuroraClusterProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.SNAPSHOT;
    const engineVersion = props.engineVersion ?? '16.6';
    const engine = rds.DatabaseClusterEngine.auroraPostgres({
      version: rds.AuroraPostgresEngineVersion.of(engineVersion, engineVersion.split('.')[0]!),
    });
    this.encryptionKey = new kms.Key(this, 'Key', {
      description: `Storage encryption of ${props.clusterIdentifier}`,
      enableKeyRotation: true,
      removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `${props.clusterIdentifier}: PostgreSQL from named security groups only`,
      allowAllOutbound: false,
    });
    this.subnetGroup = new rds.SubnetGroup(this, 'Subnets', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      subnetGroupName: props.subnetGroupName,
      description: `Isolated subnets of ${props.clusterIdentifier}`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      name: props.parameterGroupName,
      description: 'Supaplane: TLS only',
      parameters: { 'rds.force_ssl': '1', log_min_duration_statement: '2000' },
    });
    const readers = Array.from({ length: props.readers ?? 0 }, (_, i) =>
      rds.ClusterInstance.serverlessV2(`reader${i + 1}`, { scaleWithWriter: i === 0 }),
    );
    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine,
      clusterIdentifier: props.clusterIdentifier,
      vpc: props.vpc,
      subnetGroup: this.subnetGroup,
      securityGroups: [this.securityGroup],
      parameterGroup: this.parameterGroup,
      writer: rds.ClusterInstance.serverlessV2('writer'),
      readers,
      serverlessV2MinCapacity: props.minCapacity ?? 0.5,
      serverlessV2MaxCapacity: props.maxCapacity ?? 2,
      credentials: rds.Credentials.fromGeneratedSecret(props.masterUsername ?? 'supaplane_admin', {
        secretName: `${props.clusterIdentifier}/master`,
      }),
      defaultDatabaseName: props.databaseName ?? 'postgres',
      port: AuroraCluster.PORT,
      storageEncrypted: true,
      storageEncryptionKey: this.encryptionKey,
      iamAuthentication: true,
      backup: { retention: Duration.days(props.backupRetentionDays ?? 7) },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy,
      cloudwatchLogsExports: ['postgresql'],
      copyTagsToSnapshot: true,
    });
    // RDS would create the export's log group on first use, with no expiry: it exists first, and the
    // cluster waits for it.
    const postgresqlLogs = new logs.LogGroup(this, 'PostgresqlLogs', {
      logGroupName: `/aws/rds/cluster/${props.clusterIdentifier}/postgresql`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.cluster.node.addDependency(postgresqlLogs);
    // `cluster.secret` is the attachment; the generated secret itself is the `Secret` child.
    NagSuppressions.addResourceSuppressions(
      this.cluster.node.findChild('Secret'),
      [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'The master credential is registered with the tenant-manager (workers) or injected into tasks at start (management); rotating it is a coordinated operator procedure (docs/aws.md), not a blind schedule.',
        },
      ],
      true,
    );
    if (!(props.deletionProtection ?? true)) {
      NagSuppressions.addResourceSuppressions(this.cluster, [
        {
          id: 'AwsSolutions-RDS10',
          reason: 'Deletion protection is switched off by configuration (test deployment).',
        },
      ]);
    }
  }

  /** Lets `peer` open PostgreSQL connections to the cluster. */
  allowFrom(peer: ec2.ISecurityGroup | ec2.IPeer, why: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(AuroraCluster.PORT), why);
  }
}
