import { ArnFormat, Stack, aws_iam as iam, type aws_kms as kms, type aws_s3 as s3 } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface AccessPoliciesProps {
  /** Task role of the gateway. */
  readonly gatewayRole: iam.IRole;
  /** Task role of the tenant-manager. */
  readonly tenantManagerRole: iam.IRole;
  /** The execution role of rest functions: the only role the tenant-manager may pass. */
  readonly restExecutionRole: iam.IRole;
  /** Bucket and key prefix of the rest artifact. */
  readonly artifactBucket: s3.IBucket;
  readonly artifactKeyPattern: string;
  /** Identifier pattern of the worker clusters the tenant-manager may manage, e.g. `supaplane-worker-*`. */
  readonly workerClusterPattern: string;
  /** The stack's own worker cluster, which matches the pattern but is CloudFormation's to change. */
  readonly stackWorkerClusterIdentifier: string;
  /** Subnet group and cluster parameter group new worker clusters are created with. */
  readonly workerSubnetGroupName: string;
  readonly workerParameterGroupName: string;
  /** Aurora PostgreSQL major version of the worker clusters (`16`): names the engine's default groups. */
  readonly workerEngineMajorVersion: string;
  /** Key encrypting the rest functions' environments (their internal tokens). */
  readonly restEnvironmentKey: kms.IKey;
  /** Key encrypting worker cluster storage. */
  readonly workerKey: kms.IKey;
  /** ECS cluster whose services the tenant-manager may describe. */
  readonly ecsClusterName: string;
  /**
   * Prefix of this stack's data API function names (`<namePrefix>-rest-`): another stack in the same
   * account and region has its own, so neither can invoke or manage the other's functions.
   */
  readonly functionPrefix: string;
}

/**
 * Least-privilege IAM for the two services. The gateway may only invoke `<prefix>-rest-*` Function URLs
 * (IAM auth); the tenant-manager may only manage those functions, pass only the rest execution role,
 * read only the rest artifact, manage only its worker clusters (and list and give their log groups a
 * retention, and put and delete their alarms) and describe only its ECS services.
 */
export class AccessPolicies extends Construct {
  readonly gatewayPolicy: iam.Policy;
  readonly tenantManagerPolicy: iam.Policy;

  constructor(scope: Construct, id: string, props: AccessPoliciesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const prefix = props.functionPrefix;
    const functionArn = stack.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: `${prefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // Logs checks these actions against the group's ARN with the trailing `:*` (only the tagging
    // actions use the form without): a pattern ending in `*` names both.
    const logGroupArn = (name: string) =>
      stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    const rdsArn = (resource: string, name: string) =>
      stack.formatArn({
        service: 'rds',
        resource,
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });

    this.gatewayPolicy = new iam.Policy(this, 'Gateway', {
      roles: [props.gatewayRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'InvokeRestFunctionUrls',
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        // Since October 2025 a function URL call also needs lambda:InvokeFunction; only through the URL.
        new iam.PolicyStatement({
          sid: 'InvokeRestFunctionsViaUrl',
          actions: ['lambda:InvokeFunction'],
          resources: [functionArn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
      ],
    });

    NagSuppressions.addResourceSuppressions(this.gatewayPolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          '<prefix>-rest-<ref> functions are created per project at runtime; the stack prefix plus the AWS_IAM auth-type condition is the scope.',
        appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:lambda:.*:function:.+-rest-\\*$/g' }],
      },
    ]);

    this.tenantManagerPolicy = new iam.Policy(this, 'TenantManager', {
      roles: [props.tenantManagerRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'ManageRestFunctions',
          actions: [
            'lambda:CreateFunction',
            'lambda:GetFunction',
            'lambda:GetFunctionConfiguration',
            'lambda:UpdateFunctionCode',
            'lambda:UpdateFunctionConfiguration',
            'lambda:DeleteFunction',
            'lambda:GetFunctionUrlConfig',
            'lambda:DeleteFunctionUrlConfig',
            'lambda:RemovePermission',
            'lambda:GetPolicy',
            'lambda:TagResource',
            'lambda:ListTags',
            // Pause and restore: a reserved concurrency of 0, then none.
            'lambda:PutFunctionConcurrency',
            'lambda:GetFunctionConcurrency',
            'lambda:DeleteFunctionConcurrency',
          ],
          resources: [functionArn],
        }),
        // A URL with AuthType NONE, or an invoke grant to anyone but the gateway, would publish a
        // project's data API past the gateway (keys, rate limits, WAF): only IAM-authenticated URLs,
        // and invoke permissions for the gateway role alone.
        new iam.PolicyStatement({
          sid: 'IamAuthFunctionUrlsOnly',
          actions: ['lambda:CreateFunctionUrlConfig', 'lambda:UpdateFunctionUrlConfig'],
          resources: [functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        new iam.PolicyStatement({
          sid: 'GrantInvokeToGatewayOnly',
          actions: ['lambda:AddPermission'],
          resources: [functionArn],
          conditions: { StringEquals: { 'lambda:Principal': props.gatewayRole.roleArn } },
        }),
        new iam.PolicyStatement({
          sid: 'PassOnlyTheRestExecutionRole',
          actions: ['iam:PassRole'],
          resources: [props.restExecutionRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'lambda.amazonaws.com' } },
        }),
        // Creating or updating a function whose environment is encrypted with a customer managed key
        // needs Encrypt and CreateGrant on it (Lambda grants itself the key for the execution role), and
        // Decrypt to read or change the variables; all only through Lambda.
        new iam.PolicyStatement({
          sid: 'EncryptRestFunctionEnvironments',
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:CreateGrant'],
          resources: [props.restEnvironmentKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `lambda.${stack.region}.amazonaws.com` } },
        }),
        new iam.PolicyStatement({
          sid: 'ReadRestArtifact',
          actions: ['s3:GetObject', 's3:GetObjectVersion'],
          resources: [props.artifactBucket.arnForObjects(props.artifactKeyPattern)],
        }),
        new iam.PolicyStatement({
          // CreateFunction with a VPC config checks the subnets and security groups; these
          // describe calls support no resource-level scoping.
          sid: 'DescribeVpcForRestFunctions',
          actions: ['ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'ManageWorkerClusters',
          actions: [
            'rds:CreateDBCluster',
            'rds:CreateDBInstance',
            'rds:DescribeDBClusters',
            'rds:DescribeDBInstances',
            'rds:DeleteDBCluster',
            'rds:DeleteDBInstance',
            'rds:ModifyDBCluster',
            // DeleteDBCluster with a final snapshot also needs these on the snapshot (AWS, since 2024).
            'rds:CreateDBClusterSnapshot',
            'rds:AddTagsToResource',
            'rds:ListTagsForResource',
          ],
          resources: [
            rdsArn('cluster', props.workerClusterPattern),
            rdsArn('db', props.workerClusterPattern),
            rdsArn('subgrp', props.workerSubnetGroupName),
            rdsArn('cluster-pg', props.workerParameterGroupName),
            // Snapshots taken on deletion of a worker cluster.
            rdsArn('cluster-snapshot', props.workerClusterPattern),
          ],
        }),
        // The writer is created without groups of its own, so it takes the engine's default DB
        // parameter and option groups; CreateDBInstance is authorized against them too (AccessDenied
        // on pg:default.* otherwise, and the new cluster is left without a writer).
        new iam.PolicyStatement({
          sid: 'CreateWriterWithDefaultGroups',
          actions: ['rds:CreateDBInstance'],
          resources: [
            rdsArn('pg', `default.aurora-postgresql${props.workerEngineMajorVersion}`),
            rdsArn('og', `default:aurora-postgresql-${props.workerEngineMajorVersion}`),
          ],
        }),
        // A worker cluster created under the stack cluster's name would "already exist": its re-run
        // path resets the master password, and a deregistration deletes it.
        new iam.PolicyStatement({
          sid: 'NeverChangeTheStackWorkerCluster',
          effect: iam.Effect.DENY,
          actions: [
            'rds:ModifyDBCluster',
            'rds:DeleteDBCluster',
            'rds:CreateDBInstance',
            'rds:CreateDBClusterSnapshot',
          ],
          resources: [rdsArn('cluster', props.stackWorkerClusterIdentifier)],
        }),
        // RDS would create a new cluster's PostgreSQL log group itself, without expiry: the provider
        // creates it first and sets its retention. Never deleted (kept until it expires).
        new iam.PolicyStatement({
          sid: 'RetainWorkerClusterLogs',
          actions: ['logs:CreateLogGroup', 'logs:PutRetentionPolicy'],
          resources: [logGroupArn(`/aws/rds/cluster/${props.workerClusterPattern}`)],
        }),
        // At start the tenant-manager lists its worker clusters' groups to give those RDS made (or an
        // earlier retention left) the configured one. Listing is authorized on every group of the
        // account and region (it reads names and retentions, no log events).
        new iam.PolicyStatement({
          sid: 'ListLogGroupsForRetention',
          actions: ['logs:DescribeLogGroups'],
          resources: [logGroupArn('*')],
        }),
        // The stack's own worker cluster's group is the stack's, with the stack's retention.
        new iam.PolicyStatement({
          sid: 'NeverChangeTheStackWorkerClusterLogs',
          effect: iam.Effect.DENY,
          actions: ['logs:CreateLogGroup', 'logs:PutRetentionPolicy'],
          resources: [
            logGroupArn(`/aws/rds/cluster/${props.stackWorkerClusterIdentifier}/postgresql`),
            logGroupArn(`/aws/rds/cluster/${props.stackWorkerClusterIdentifier}/postgresql:*`),
          ],
        }),
        // Worker clusters created at runtime get alarms named after them (`<cluster id>-cpu`, …),
        // created with the cluster and deleted with it.
        new iam.PolicyStatement({
          sid: 'AlarmOnWorkerClusters',
          actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:TagResource'],
          resources: [
            stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: props.workerClusterPattern,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'EncryptWorkerStorage',
          actions: ['kms:CreateGrant', 'kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: [props.workerKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `rds.${stack.region}.amazonaws.com` } },
        }),
        new iam.PolicyStatement({
          sid: 'DescribePlatformServices',
          actions: ['ecs:DescribeServices'],
          resources: [
            stack.formatArn({
              service: 'ecs',
              resource: 'service',
              resourceName: `${props.ecsClusterName}/*`,
              arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });
    const iam5 = (reason: string, pattern: string) => ({
      id: 'AwsSolutions-IAM5',
      reason,
      appliesTo: [{ regex: pattern }],
    });
    NagSuppressions.addResourceSuppressions(this.tenantManagerPolicy, [
      iam5(
        "Only this stack's <prefix>-rest-<ref> functions, created per project at runtime.",
        '/^Resource::arn:<AWS::Partition>:lambda:.*:function:.+-rest-\\*$/g',
      ),
      iam5(
        'Only the rest artifact prefix of the artifact bucket.',
        '/^Resource::<.*Artifacts.*\\.Arn>\\/rest\\/\\*$/g',
      ),
      iam5(
        'Only worker clusters, their instances and final snapshots, named <prefix>-worker-*.',
        '/^Resource::arn:<AWS::Partition>:rds:.*:(cluster|db|cluster-snapshot):.*-worker-\\*$/g',
      ),
      iam5(
        'Only the PostgreSQL log groups of worker clusters created at runtime, /aws/rds/cluster/<prefix>-worker-*, to give them a retention.',
        '/^Resource::arn:<AWS::Partition>:logs:.*:log-group:\\/aws\\/rds\\/cluster\\/.*-worker-\\*$/g',
      ),
      iam5(
        'DescribeLogGroups is authorized on the account and region, not on a group: it lists names and retentions of the worker clusters log groups (by prefix), never log events.',
        '/^Resource::arn:<AWS::Partition>:logs:.*:log-group:\\*$/g',
      ),
      iam5(
        'Only the alarms of worker clusters created at runtime, named after them (<prefix>-worker-<name>-cpu, ...).',
        '/^Resource::arn:<AWS::Partition>:cloudwatch:.*:alarm:.*-worker-\\*$/g',
      ),
      iam5(
        'Only services of the platform ECS cluster.',
        '/^Resource::arn:<AWS::Partition>:ecs:.*:service\\/.*\\/\\*$/g',
      ),
      iam5(
        'EC2 describe calls made by CreateFunction with a VPC config support no resource-level permissions.',
        '/^Resource::\\*$/g',
      ),
      iam5(
        'GenerateDataKey* family on the single worker key, only through RDS (kms:ViaService).',
        '/^Action::kms:GenerateDataKey\\*$/g',
      ),
    ]);
  }
}
