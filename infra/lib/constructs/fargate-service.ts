import {
  Duration,
  RemovalPolicy,
  aws_ec2 as ec2,
  type aws_ecr as ecr,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_logs as logs,
} from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

interface FargateServiceProps {
  readonly cluster: ecs.ICluster;
  /** Physical service name, also the container name and the Cloud Map name. */
  readonly serviceName: string;
  readonly repository: ecr.IRepository;
  /** Image tag to run. Default `latest`. */
  readonly imageTag?: string;
  /** Port the ALB forwards to. */
  readonly containerPort: number;
  /** Further ports reachable inside the VPC only (e.g. the tenant-manager's internal API). Default none. */
  readonly extraPorts?: readonly number[];
  /** HTTP path answering 200 when the service is ready. Default `/health`. */
  readonly healthCheckPath?: string;
  /** Fargate CPU units. Default 256. */
  readonly cpu?: number;
  /** Fargate memory in MiB. Default 512. */
  readonly memoryMiB?: number;
  /**
   * Task counts; autoscaling tracks `cpuTargetPercent` between min and max, and sets the count itself
   * (the service starts with one task and is raised to min). Defaults 1, 2, 60.
   */
  readonly minCount?: number;
  readonly maxCount?: number;
  readonly cpuTargetPercent?: number;
  /** Plain, non-secret settings. Default none. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Settings injected from Secrets Manager at task start. Default none. */
  readonly secrets?: Readonly<Record<string, ecs.Secret>>;
  /**
   * Name of the container log group. Default `/ecs/<serviceName>`; the stack gives each stack its own
   * (`/ecs/<namePrefix>/<serviceName>`), since log group names are unique per account and region.
   */
  readonly logGroupName?: string;
  /** Retention of the container log group. Default one week. */
  readonly logRetention?: logs.RetentionDays;
  /** Register `<serviceName>.<namespace>` in the cluster's Cloud Map namespace. Default false. */
  readonly registerInNamespace?: boolean;
}

/**
 * A Fargate service behind the ALB: private subnets, its own security group, awslogs, a container
 * health check, deployment circuit breaker with rollback, CPU target-tracking autoscaling.
 */
export class FargateService extends Construct {
  readonly service: ecs.FargateService;
  readonly securityGroup: ec2.SecurityGroup;
  readonly taskRole: ecs.TaskDefinition['taskRole'];
  private readonly props: FargateServiceProps;

  constructor(scope: Construct, id: string, props: FargateServiceProps) {
    super(scope, id);
    this.props = props;
    const healthCheckPath = props.healthCheckPath ?? '/health';
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 256,
      memoryLimitMiB: props.memoryMiB ?? 512,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.taskRole = taskDefinition.taskRole;
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: props.logGroupName ?? `/ecs/${props.serviceName}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const ports = [props.containerPort, ...(props.extraPorts ?? [])];
    // The root filesystem is read-only; /tmp is a task-local scratch volume.
    taskDefinition.addVolume({ name: 'tmp' });
    const container = taskDefinition.addContainer('app', {
      containerName: props.serviceName,
      image: ecs.ContainerImage.fromEcrRepository(props.repository, props.imageTag ?? 'latest'),
      portMappings: ports.map((containerPort) => ({ containerPort, protocol: ecs.Protocol.TCP })),
      environment: { NODE_ENV: 'production', ...props.environment },
      secrets: { ...props.secrets },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: props.serviceName }),
      readonlyRootFilesystem: true,
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${props.containerPort}${healthCheckPath}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(20),
      },
      stopTimeout: Duration.seconds(30),
    });
    NagSuppressions.addResourceSuppressions(taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason: 'Plain environment holds non-secret settings only; secrets come from Secrets Manager.',
      },
    ]);
    NagSuppressions.addResourceSuppressions(
      taskDefinition.obtainExecutionRole(),
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'CDK-generated execution policy: ecr:GetAuthorizationToken has no resource-level permissions.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
    container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.cluster.vpc,
      description: `${props.serviceName} tasks`,
      allowAllOutbound: true,
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      serviceName: props.serviceName,
      taskDefinition,
      // No desiredCount: CloudFormation would send it again with every update of the service, setting
      // a scaled-out service back to it mid-deployment. Omitted, ECS starts one task and autoscaling
      // raises it to minCount; updates keep the current count.
      securityGroups: [this.securityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(60),
      enableExecuteCommand: false,
      // ECS takes a stopping task out of Cloud Map as its 30 s drain starts: callers' cached answers
      // (60 s by default) must expire before the task stops.
      cloudMapOptions: props.registerInNamespace
        ? { name: props.serviceName, dnsTtl: Duration.seconds(10) }
        : undefined,
    });
    const scaling = this.service.autoScaleTaskCount({
      minCapacity: props.minCount ?? 1,
      maxCapacity: props.maxCount ?? 2,
    });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.cpuTargetPercent ?? 60,
      scaleInCooldown: Duration.seconds(120),
      scaleOutCooldown: Duration.seconds(60),
    });
  }

  /** Routes listener traffic for `hostHeaders` to the container port; returns the target group. */
  attachTo(
    listener: elbv2.ApplicationListener,
    options: { readonly priority: number; readonly hostHeaders: readonly string[] },
  ): elbv2.ApplicationTargetGroup {
    return listener.addTargets(this.props.serviceName, {
      priority: options.priority,
      conditions: [elbv2.ListenerCondition.hostHeaders([...options.hostHeaders])],
      port: this.props.containerPort,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [
        this.service.loadBalancerTarget({
          containerName: this.props.serviceName,
          containerPort: this.props.containerPort,
        }),
      ],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: this.props.healthCheckPath ?? '/health',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
  }
}
