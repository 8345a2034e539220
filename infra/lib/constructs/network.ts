import { RemovalPolicy, aws_ec2 as ec2, aws_logs as logs } from 'aws-cdk-lib';
import { Construct } from 'constructs';

interface NetworkProps {
  /** IPv4 range of the VPC. Default `10.0.0.0/16`. */
  readonly cidr?: string;
  /** Availability zones to spread over. Default 2. */
  readonly maxAzs?: number;
  /** NAT gateways (one per AZ for production). Default 1. */
  readonly natGateways?: number;
  /** Retention of the VPC flow log. Default one week. */
  readonly flowLogRetention?: logs.RetentionDays;
  /** What happens to the flow log group when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The VPC: public subnets for the ALB and NAT, private subnets with egress for Fargate tasks and
 * rest functions, isolated subnets for Aurora and ElastiCache. All traffic is flow-logged.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.0.0.0/16'),
      maxAzs: props.maxAzs ?? 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
  }
}
