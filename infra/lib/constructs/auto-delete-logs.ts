import { CfnResource, Fn, RemovalPolicy, Stack, aws_logs as logs } from 'aws-cdk-lib';
import { Construct } from 'constructs';

interface AutoDeleteLogsProps {
  /** Retention of the emptying function's log group. Default one week. */
  readonly retention?: logs.RetentionDays;
}

/** CDK's singleton provider behind `autoDeleteObjects`, and its function's construct id. */
const PROVIDER_ID = 'Custom::S3AutoDeleteObjectsCustomResourceProvider';
const HANDLER_ID = 'Handler';
const EMPTYING_TYPE = 'Custom::S3AutoDeleteObjects';

/**
 * Buckets the stack may delete are emptied by CDK's custom resource function, which logs to
 * `/aws/lambda/<its name>`: a group Lambda would create without expiry and leave behind after the
 * stack. This creates that group with a retention, and makes every emptying resource depend on it, so
 * that on deletion the emptying runs (and logs) before the group goes. Create it after the buckets;
 * without any bucket to empty it adds nothing.
 */
export class AutoDeleteLogs extends Construct {
  readonly logGroup?: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AutoDeleteLogsProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    const handler = stack.node.tryFindChild(PROVIDER_ID)?.node.tryFindChild(HANDLER_ID);
    if (!(handler instanceof CfnResource)) return;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: Fn.join('', ['/aws/lambda/', handler.ref]),
      retention: props.retention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const construct of stack.node.findAll()) {
      if (construct instanceof CfnResource && construct.cfnResourceType === EMPTYING_TYPE)
        construct.node.addDependency(this.logGroup);
    }
  }
}
