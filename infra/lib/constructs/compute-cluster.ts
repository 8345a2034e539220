import { type aws_ec2 as ec2, aws_ecs as ecs } from 'aws-cdk-lib';
import { Construct } from 'constructs';

interface ComputeClusterProps {
  readonly vpc: ec2.IVpc;
  /** Physical ECS cluster name (the tenant-manager's DescribeServices permission is scoped to it). */
  readonly clusterName: string;
  /** Private DNS namespace for service discovery. Default `supaplane.internal`. */
  readonly namespace?: string;
}

/** The ECS cluster with Container Insights and a private Cloud Map namespace for in-VPC calls. */
export class ComputeCluster extends Construct {
  readonly cluster: ecs.Cluster;
  readonly namespace: string;

  constructor(scope: Construct, id: string, props: ComputeClusterProps) {
    super(scope, id);
    this.namespace = props.namespace ?? 'supaplane.internal';
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      clusterName: props.clusterName,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      defaultCloudMapNamespace: { name: this.namespace, vpc: props.vpc },
    });
  }
}
