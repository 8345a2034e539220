import {
  ArnFormat,
  Duration,
  RemovalPolicy,
  Stack,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_s3 as s3,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export interface RestFunctionResourcesProps {
  readonly vpc: ec2.IVpc;
  /** Prefix of physical names. */
  readonly namePrefix: string;
  /** Bucket receiving the artifact bucket's server access logs. */
  readonly accessLogBucket: s3.IBucket;
  /** What happens to the artifact bucket when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What the tenant-manager needs to create one `rest-<ref>` function per project: the artifact bucket
 * holding `rest/rest-lambda.zip`, the functions' execution role and their security group.
 */
export class RestFunctionResources extends Construct {
  static readonly ARTIFACT_KEY = 'rest/rest-lambda.zip';
  readonly artifactBucket: s3.Bucket;
  readonly executionRole: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: RestFunctionResourcesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.artifactBucket = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'rest-* functions: out to the worker databases and the internal API',
      allowAllOutbound: true,
    });
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      roleName: `${props.namePrefix}-rest-function`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role of every rest-<ref> data API function',
      inlinePolicies: {
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [
                stack.formatArn({
                  service: 'logs',
                  resource: 'log-group',
                  resourceName: '/aws/lambda/rest-*',
                  arnFormat: ArnFormat.COLON_RESOURCE_NAME,
                }),
                stack.formatArn({
                  service: 'logs',
                  resource: 'log-group',
                  resourceName: '/aws/lambda/rest-*:log-stream:*',
                  arnFormat: ArnFormat.COLON_RESOURCE_NAME,
                }),
              ],
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
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Log groups of the rest-<ref> functions, one per project, created at runtime.',
        appliesTo: [
          { regex: '/^Resource::arn:<AWS::Partition>:logs:.*:log-group:\\/aws\\/lambda\\/rest-\\*.*$/g' },
        ],
      },
    ]);
  }
}
