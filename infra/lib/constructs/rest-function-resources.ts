import {
  Duration,
  RemovalPolicy,
  Stack,
  type aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_s3 as s3,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface RestFunctionResourcesProps {
  readonly vpc: ec2.IVpc;
  /** Prefix of physical names. */
  readonly namePrefix: string;
  /** Bucket receiving the artifact bucket's server access logs. */
  readonly accessLogBucket: s3.IBucket;
  /** What happens to the artifact bucket and the log group when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
  /** Retention of the functions' shared log group. Default one week. */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * What the tenant-manager needs to create one `<namePrefix>-rest-<ref>` function per project: the artifact bucket
 * holding `rest/rest-lambda.zip`, the functions' execution role, their security group, one shared
 * log group (Lambda's advanced logging: no per-function log group without retention is left behind)
 * and the key encrypting their environments.
 */
export class RestFunctionResources extends Construct {
  static readonly ARTIFACT_KEY = 'rest/rest-lambda.zip';
  readonly artifactBucket: s3.Bucket;
  readonly executionRole: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;
  /**
   * Encrypts every function's environment, which holds the token that opens the project's bootstrap
   * config (database password, JWT secret): reading it back takes kms:Decrypt on this key, which only
   * the execution role (at cold start) and the tenant-manager (granted in AccessPolicies) have.
   */
  readonly environmentKey: kms.Key;
  /** The log group's name as a plain string (for configuration rendered at synth time). */
  readonly logGroupName: string;
  /**
   * Invocations of this stack's rest functions that ended in an error, a timeout or a crash, counted
   * from their shared log group (Lambda's own Errors metric is per function or account-wide).
   */
  readonly invocationErrors: cloudwatch.Metric;

  constructor(scope: Construct, id: string, props: RestFunctionResourcesProps) {
    super(scope, id);
    this.artifactBucket = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // CloudFormation deletes only empty buckets (every version): one the stack may delete is emptied first.
      autoDeleteObjects: props.removalPolicy === RemovalPolicy.DESTROY,
    });
    this.logGroupName = `/aws/lambda/${props.namePrefix}-rest`;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: this.logGroupName,
      retention: props.logRetention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // With the JSON log format Lambda closes every invocation with a platform.report record whose
    // status is success, error, failure or timeout. Only this stack's functions write to this group,
    // so the count covers exactly them, including functions created after the deployment.
    const errors = this.logGroup.addMetricFilter('InvocationErrors', {
      filterPattern: logs.FilterPattern.all(
        logs.FilterPattern.stringValue('$.type', '=', 'platform.report'),
        logs.FilterPattern.stringValue('$.record.status', '!=', 'success'),
      ),
      metricNamespace: `Supaplane/${props.namePrefix}`,
      metricName: 'RestFunctionErrors',
      metricValue: '1',
    });
    this.invocationErrors = errors.metric({ statistic: 'Sum', period: Duration.minutes(5) });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      // Kept as it is: a changed description replaces the group, which Lambda's ENIs still hold.
      description: 'rest-* functions: out to the worker databases and the internal API',
      allowAllOutbound: true,
    });
    this.environmentKey = new kms.Key(this, 'EnvironmentKey', {
      description: `${props.namePrefix}-rest-* function environments`,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      roleName: `${props.namePrefix}-rest-function`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of every ${props.namePrefix}-rest-<ref> data API function`,
      inlinePolicies: {
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [this.logGroup.logGroupArn],
            }),
          ],
        }),
        // Lambda decrypts the environment with the execution role's credentials when it starts an
        // instance; only through Lambda, never by a direct call from the function's code.
        environment: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['kms:Decrypt'],
              resources: [this.environmentKey.keyArn],
              conditions: {
                StringEquals: { 'kms:ViaService': `lambda.${Stack.of(this).region}.amazonaws.com` },
              },
            }),
          ],
        }),
        vpc: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              // Lambda manages the function's network interfaces with the execution role; these EC2
              // actions do not support resource-level scoping.
              actions: [
                'ec2:CreateNetworkInterface',
                'ec2:DescribeNetworkInterfaces',
                'ec2:DescribeSubnets',
                'ec2:DeleteNetworkInterface',
                'ec2:AssignPrivateIpAddresses',
                'ec2:UnassignPrivateIpAddresses',
              ],
              resources: ['*'],
            }),
          ],
        }),
      },
    });
    NagSuppressions.addResourceSuppressions(this.executionRole, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Lambda VPC networking: the ENI actions support no resource-level permissions.',
        appliesTo: ['Resource::*'],
      },
    ]);
  }
}
