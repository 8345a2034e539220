import {
  CfnOutput,
  Duration,
  Stack,
  type StackProps,
  Tags,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  type aws_logs as logs,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import {
  ALB_IDLE_TIMEOUT_SECONDS,
  estimatedMaxConnections,
  GATEWAY_UPSTREAM_MARGIN_SECONDS,
  type InfraConfig,
  type ProjectLimitsConfig,
} from './config.js';
import { AccessPolicies } from './constructs/access-policies.js';
import { Alarms } from './constructs/alarms.js';
import { AuroraCluster } from './constructs/aurora-cluster.js';
import { AutoDeleteLogs } from './constructs/auto-delete-logs.js';
import { ComputeCluster } from './constructs/compute-cluster.js';
import type { EcrRepositories } from './constructs/ecr-repositories.js';
import { FargateService } from './constructs/fargate-service.js';
import { LogBucket } from './constructs/log-bucket.js';
import { Network } from './constructs/network.js';
import { PlatformSecrets } from './constructs/platform-secrets.js';
import { PublicLoadBalancer } from './constructs/public-load-balancer.js';
import { Redis } from './constructs/redis.js';
import { RestFunctionResources } from './constructs/rest-function-resources.js';
import { WebAcl } from './constructs/web-acl.js';
import { dataRemovalPolicy as dataPolicy, removalPolicy } from './removal-policy.js';

const GATEWAY_PORT = 8000;
const GATEWAY_METRICS_PORT = 9102;
const TENANT_MANAGER_PUBLIC_PORT = 3001;
const TENANT_MANAGER_INTERNAL_PORT = 3002;

/** The tenant-manager's defaults for new projects; the rate and size variables only when configured. */
function projectLimitsEnvironment(limits: ProjectLimitsConfig): Record<string, string> {
  return {
    PROJECT_DB_CONNECTION_LIMIT: String(limits.dbConnectionLimit),
    ...(limits.requestsPerSecond !== null
      ? { PROJECT_RATE_LIMIT_RPS: String(limits.requestsPerSecond) }
      : {}),
    ...(limits.burst !== null ? { PROJECT_RATE_LIMIT_BURST: String(limits.burst) } : {}),
    ...(limits.dbSizeLimitMb !== null ? { PROJECT_DB_SIZE_LIMIT_MB: String(limits.dbSizeLimitMb) } : {}),
  };
}

interface SupabaseStackProps extends StackProps {
  readonly config: InfraConfig;
  /** Repositories of the service images (RepositoriesStack, deployed first). */
  readonly repositories: EcrRepositories;
}

/** The platform (everything but the image repositories). Only wiring: every resource lives in a construct. */
export class SupabaseStack extends Stack {
  constructor(scope: Construct, id: string, props: SupabaseStackProps) {
    super(scope, id, props);
    const c = props.config;
    const prefix = c.namePrefix;
    const logRetention = c.logRetentionDays as logs.RetentionDays;
    const keep = dataPolicy(c.dataRemovalPolicy);
    for (const [key, value] of Object.entries(c.tags)) Tags.of(this).add(key, value);

    const { vpc } = new Network(this, 'Network', {
      cidr: c.vpc.cidr,
      maxAzs: c.vpc.maxAzs,
      natGateways: c.vpc.natGateways,
      flowLogRetention: logRetention,
      removalPolicy: keep,
    });
    const accessLogs = new LogBucket(this, 'AccessLogs', { removalPolicy: keep });
    const secrets = new PlatformSecrets(this, 'Secrets', { namePrefix: prefix, removalPolicy: keep });
    const repos = props.repositories;

    // The first worker cluster is the stack's: the provider and IAM keep their hands off it by this name.
    const stackWorkerCluster = `${prefix}-worker-main`;
    const database = (name: 'management' | 'worker', d: InfraConfig['managementDatabase']) =>
      new AuroraCluster(this, name === 'management' ? 'ManagementDatabase' : 'WorkerDatabase', {
        vpc,
        clusterIdentifier: name === 'management' ? `${prefix}-management` : stackWorkerCluster,
        subnetGroupName: `${prefix}-${name}`,
        parameterGroupName: `${prefix}-${name}-pg16`,
        engineVersion: d.engineVersion,
        minCapacity: d.minCapacity,
        maxCapacity: d.maxCapacity,
        readers: d.readers,
        backupRetentionDays: d.backupRetentionDays,
        deletionProtection: d.deletionProtection,
        removalPolicy: removalPolicy(d.removalPolicy),
        logRetention: c.databaseLogRetentionDays as logs.RetentionDays,
        logRemovalPolicy: keep,
      });
    const management = database('management', c.managementDatabase);
    const worker = database('worker', c.workerDatabase);

    const redis = new Redis(this, 'Redis', {
      vpc,
      replicationGroupId: `${prefix}-cache`,
      nodeType: c.redis.nodeType,
      replicas: c.redis.replicas,
      multiAz: c.redis.multiAz,
      snapshotRetentionDays: c.redis.snapshotRetentionDays,
      removalPolicy: keep,
    });
    const rest = new RestFunctionResources(this, 'RestFunctions', {
      vpc,
      namePrefix: prefix,
      accessLogBucket: accessLogs.bucket,
      removalPolicy: keep,
      logRetention,
    });
    const compute = new ComputeCluster(this, 'Compute', { vpc, clusterName: `${prefix}-cluster` });
    const internalUrl = `http://tenant-manager.${compute.namespace}:${TENANT_MANAGER_INTERNAL_PORT}`;
    // ECS cannot splice a secret into a URL: the image entrypoint (infra/docker/entrypoint.mjs) builds
    // REDIS_URL and DATABASE_URL from these parts at start.
    const redisParts = {
      REDIS_HOST: redis.replicationGroup.attrPrimaryEndPointAddress,
      REDIS_PORT: String(Redis.PORT),
      REDIS_TLS: 'true',
    };
    const secret = ecs.Secret.fromSecretsManager;
    // The gateway waits for the function's own answer, its timeout included, and a little longer: a
    // gateway 504 before the function ends would leave it running (and billed). Config validation
    // keeps this inside the ALB's idle timeout.
    const upstreamTimeoutMs = String(
      (c.restFunction.timeoutSeconds + GATEWAY_UPSTREAM_MARGIN_SECONDS) * 1000,
    );

    const gateway = new FargateService(this, 'Gateway', {
      cluster: compute.cluster,
      serviceName: 'gateway',
      logGroupName: `/ecs/${prefix}/gateway`,
      repository: repos.repository('gateway'),
      imageTag: c.gateway.imageTag,
      containerPort: GATEWAY_PORT,
      cpu: c.gateway.cpu,
      memoryMiB: c.gateway.memoryMiB,
      minCount: c.gateway.minCount,
      maxCount: c.gateway.maxCount,
      cpuTargetPercent: c.gateway.cpuTargetPercent,
      logRetention,
      environment: {
        GATEWAY_PORT: String(GATEWAY_PORT),
        GATEWAY_HOST: '0.0.0.0',
        // /metrics on a port the load balancer does not forward: never public (no ingress rule opens it).
        GATEWAY_METRICS_PORT: String(GATEWAY_METRICS_PORT),
        // SigV4 region and the default upstream allow-list (*.lambda-url.<region>.on.aws).
        AWS_REGION: this.region,
        BASE_DOMAIN: c.baseDomain,
        TENANT_MANAGER_INTERNAL_URL: internalUrl,
        // The ALB is the one proxy in front: of a client's X-Forwarded-For only the entry it appends
        // is kept (2 if a CDN is ever put in front of the ALB).
        GATEWAY_TRUSTED_PROXY_HOPS: '1',
        GATEWAY_UPSTREAM_TIMEOUT_MS: upstreamTimeoutMs,
        GATEWAY_UPSTREAM_BODY_TIMEOUT_MS: upstreamTimeoutMs,
        ...redisParts,
      },
      secrets: {
        INTERNAL_SERVICE_TOKEN: secret(secrets.internalServiceToken),
        REDIS_PASSWORD: secret(redis.authToken),
      },
    });

    // Before the provider's config: worker clusters created at runtime send their alarms here too.
    const alarms = new Alarms(this, 'Alarms', {
      topicName: `${prefix}-alarms`,
      email: c.alarms.email,
      removalPolicy: keep,
    });

    // Per-project functions carry the stack's prefix: a second stack in the account has its own.
    const restFunctionPrefix = `${prefix}-rest-`;
    const providerConfig = {
      region: this.region,
      restFunction: {
        namePrefix: restFunctionPrefix,
        artifact: {
          s3Bucket: rest.artifactBucket.bucketName,
          s3Key: RestFunctionResources.ARTIFACT_KEY,
          ...(c.restFunction.artifactSha256 ? { codeSha256: c.restFunction.artifactSha256 } : {}),
        },
        roleArn: rest.executionRole.roleArn,
        handler: 'index.handler',
        runtime: 'nodejs22.x',
        memoryMiB: c.restFunction.memoryMiB,
        timeoutSeconds: c.restFunction.timeoutSeconds,
        subnetIds: vpc.privateSubnets.map((s) => s.subnetId),
        securityGroupIds: [rest.securityGroup.securityGroupId],
        configUrl: internalUrl,
        logGroup: rest.logGroupName,
        kmsKeyArn: rest.environmentKey.keyArn,
      },
      gatewayRoleArn: gateway.taskRole.roleArn,
      workerCluster: {
        identifierPrefix: `${prefix}-worker-`,
        reservedIdentifiers: [stackWorkerCluster],
        subnetGroupName: worker.subnetGroup.subnetGroupName,
        parameterGroupName: `${prefix}-worker-pg16`,
        securityGroupIds: [worker.securityGroup.securityGroupId],
        kmsKeyId: worker.encryptionKey.keyArn,
        engineVersion: c.workerDatabase.engineVersion,
        minCapacity: c.workerDatabase.minCapacity,
        maxCapacity: c.workerDatabase.maxCapacity,
        backupRetentionDays: c.workerDatabase.backupRetentionDays,
        deletionProtection: c.workerDatabase.deletionProtection,
        logRetentionDays: c.databaseLogRetentionDays,
        alarmTopicArn: alarms.topic.topicArn,
      },
      ecs: { cluster: compute.cluster.clusterName, services: ['gateway', 'tenant-manager'] },
      tags: { ...c.tags, 'supaplane:stack': this.stackName },
    };

    const managementSecret = management.cluster.secret!;
    const tenantManager = new FargateService(this, 'TenantManager', {
      cluster: compute.cluster,
      serviceName: 'tenant-manager',
      logGroupName: `/ecs/${prefix}/tenant-manager`,
      repository: repos.repository('tenant-manager'),
      imageTag: c.tenantManager.imageTag,
      containerPort: TENANT_MANAGER_PUBLIC_PORT,
      extraPorts: [TENANT_MANAGER_INTERNAL_PORT],
      cpu: c.tenantManager.cpu,
      memoryMiB: c.tenantManager.memoryMiB,
      minCount: c.tenantManager.minCount,
      maxCount: c.tenantManager.maxCount,
      cpuTargetPercent: c.tenantManager.cpuTargetPercent,
      logRetention,
      registerInNamespace: true,
      environment: {
        PROVIDER: 'aws',
        TM_HOST: '0.0.0.0',
        AWS_REGION: this.region,
        TM_PUBLIC_PORT: String(TENANT_MANAGER_PUBLIC_PORT),
        TM_INTERNAL_PORT: String(TENANT_MANAGER_INTERNAL_PORT),
        BASE_DOMAIN: c.baseDomain,
        PUBLIC_URL_TEMPLATE: `https://{ref}.${c.baseDomain}`,
        INTERNAL_BASE_URL: internalUrl,
        DATABASE_HOST: management.cluster.clusterEndpoint.hostname,
        DATABASE_PORT: String(AuroraCluster.PORT),
        DATABASE_NAME: 'postgres',
        DATABASE_SSLMODE: 'verify-full',
        ...redisParts,
        SUPAPLANE_AWS_PROVIDER_CONFIG: this.toJsonString(providerConfig),
        ...projectLimitsEnvironment(c.projectLimits),
      },
      secrets: {
        DATABASE_USER: secret(managementSecret, 'username'),
        DATABASE_PASSWORD: secret(managementSecret, 'password'),
        ADMIN_API_KEY: secret(secrets.adminKey),
        INTERNAL_SERVICE_TOKEN: secret(secrets.internalServiceToken),
        MASTER_KEY: secret(secrets.masterKey),
        REDIS_PASSWORD: secret(redis.authToken),
      },
    });

    // Network paths: only what each component needs.
    tenantManager.securityGroup.connections.allowFrom(
      gateway.securityGroup,
      ec2.Port.tcp(TENANT_MANAGER_INTERNAL_PORT),
      'gateway -> tenant-manager internal API',
    );
    tenantManager.securityGroup.connections.allowFrom(
      rest.securityGroup,
      ec2.Port.tcp(TENANT_MANAGER_INTERNAL_PORT),
      'rest functions -> tenant-manager internal API',
    );
    management.allowFrom(tenantManager.securityGroup, 'tenant-manager -> management database');
    worker.allowFrom(tenantManager.securityGroup, 'tenant-manager -> worker database (provisioning)');
    worker.allowFrom(rest.securityGroup, 'rest functions -> worker database');
    for (const cidr of c.directDatabaseAccessCidrs) {
      worker.allowFrom(ec2.Peer.ipv4(cidr), `direct project connections (migrations, tools) from ${cidr}`);
    }
    redis.allowFrom(gateway.securityGroup, 'gateway -> redis');
    redis.allowFrom(tenantManager.securityGroup, 'tenant-manager -> redis (invalidation)');

    const lb = new PublicLoadBalancer(this, 'LoadBalancer', {
      vpc,
      certificateArn: c.certificateArn,
      accessLogBucket: accessLogs.bucket,
      idleTimeoutSeconds: ALB_IDLE_TIMEOUT_SECONDS,
    });
    // The operator API host is more specific than the wildcard, so it is matched first.
    const tenantManagerTargets = tenantManager.attachTo(lb.httpsListener, {
      priority: 10,
      hostHeaders: [c.apiHostName],
    });
    const gatewayTargets = gateway.attachTo(lb.httpsListener, {
      priority: 20,
      hostHeaders: [`*.${c.baseDomain}`],
    });
    if (c.waf.enabled) {
      new WebAcl(this, 'Waf', {
        loadBalancer: lb.alb,
        name: prefix,
        managedRulesMode: c.waf.managedRulesMode,
        ratePerIpPer5Min: c.waf.ratePerIpPer5Min,
      });
    }

    new AccessPolicies(this, 'Access', {
      gatewayRole: gateway.taskRole,
      tenantManagerRole: tenantManager.taskRole,
      restExecutionRole: rest.executionRole,
      restEnvironmentKey: rest.environmentKey,
      artifactBucket: rest.artifactBucket,
      artifactKeyPattern: 'rest/*',
      workerClusterPattern: `${prefix}-worker-*`,
      stackWorkerClusterIdentifier: stackWorkerCluster,
      workerSubnetGroupName: `${prefix}-worker`,
      workerParameterGroupName: `${prefix}-worker-pg16`,
      workerEngineMajorVersion: c.workerDatabase.engineVersion.split('.')[0]!,
      workerKey: worker.encryptionKey,
      ecsClusterName: `${prefix}-cluster`,
      functionPrefix: restFunctionPrefix,
    });

    // After every bucket: the log group of the function that empties those the stack may delete.
    new AutoDeleteLogs(this, 'AutoDeleteLogs', { retention: logRetention });

    alarms.add('Alb5xx', {
      metric: lb.alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { statistic: 'Sum' }),
      threshold: 10,
      description: 'ALB answered 5xx itself (no healthy target, timeouts)',
    });
    for (const [name, targets] of [
      ['Gateway', gatewayTargets],
      ['TenantManager', tenantManagerTargets],
    ] as const) {
      alarms.add(`${name}Unhealthy`, {
        metric: targets.metrics.unhealthyHostCount(),
        threshold: 1,
        description: `${name}: at least one target failing health checks`,
      });
      alarms.add(`${name}Target5xx`, {
        metric: targets.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { statistic: 'Sum' }),
        threshold: 25,
        description: `${name}: 5xx responses`,
      });
    }
    for (const [name, service] of [
      ['Gateway', gateway],
      ['TenantManager', tenantManager],
    ] as const) {
      alarms.add(`${name}Cpu`, {
        metric: service.service.metricCpuUtilization(),
        threshold: 85,
        description: `${name}: CPU above 85% although autoscaling is on`,
      });
    }
    for (const [name, db] of [
      ['Management', management],
      ['Worker', worker],
    ] as const) {
      alarms.add(`${name}DbCpu`, {
        metric: db.cluster.metricCPUUtilization(),
        threshold: 85,
        description: `${name} database CPU above 85%`,
      });
      alarms.add(`${name}DbAcu`, {
        metric: db.cluster.metric('ACUUtilization'),
        threshold: 90,
        description: `${name} database near its maximum capacity (ACUs)`,
      });
    }
    // Past max_connections every project on the cluster (and the tenant-manager) is refused; the
    // estimate is the one that bounds projectLimits.dbConnectionLimit.
    alarms.add('WorkerDbConnections', {
      metric: worker.cluster.metricDatabaseConnections({ statistic: 'Maximum' }),
      threshold: Math.floor(0.8 * estimatedMaxConnections(c.workerDatabase)),
      description: `Worker database connections above 80% of the ~${estimatedMaxConnections(c.workerDatabase)} its maximum capacity allows: lower projects' db_connections or raise workerDatabase.maxCapacity`,
    });
    // Lambda publishes Throttles per function or summed over the account, and no alarm can pick
    // functions by name prefix (Metrics Insights matches dimension values only with = and !=; SEARCH
    // is not allowed in alarms). Throttling comes from the account's shared concurrency quota, so the
    // account-wide sum is the signal: it says the quota is exhausted, whoever exhausted it.
    alarms.add('LambdaThrottles', {
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName: 'Throttles',
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 10,
      description:
        'Lambda throttled invocations (all functions of the account and region, the rest functions among them): the concurrency quota is exhausted and throttled data API requests answer 429',
    });
    alarms.add('RestFunctionErrors', {
      metric: rest.invocationErrors,
      threshold: 25,
      description: `Invocations of this stack's ${restFunctionPrefix}* functions that ended in an error, a timeout or a crash (from their shared log group ${rest.logGroupName}: look for platform.report records whose status is not success)`,
    });
    alarms.add('RedisCpu', {
      metric: redis.maxOverNodes('EngineCPUUtilization'),
      threshold: 80,
      description: 'Redis engine CPU above 80%',
    });
    alarms.add('RedisMemory', {
      metric: redis.maxOverNodes('DatabaseMemoryUsagePercentage'),
      threshold: 85,
      description: 'Redis memory above 85%',
    });

    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description, exportName: `${this.stackName}-${id}` });
    out('LoadBalancerDnsName', lb.alb.loadBalancerDnsName, 'CNAME target for *.baseDomain and the API host');
    out('ProjectUrlTemplate', `https://{ref}.${c.baseDomain}`, 'URL of a project');
    out('ApiUrl', `https://${c.apiHostName}`, 'Tenant-manager operator API');
    out('AdminKeySecretArn', secrets.adminKey.secretArn, 'Operator API bearer key (Secrets Manager)');
    out(
      'ManagementDatabaseEndpoint',
      management.cluster.clusterEndpoint.hostname,
      'Management Aurora writer endpoint',
    );
    out('WorkerClusterIdentifier', worker.cluster.clusterIdentifier, 'Initial worker cluster');
    out(
      'WorkerClusterEndpoint',
      worker.cluster.clusterEndpoint.hostname,
      'Initial worker cluster writer endpoint',
    );
    out(
      'WorkerClusterSecretArn',
      worker.cluster.secret!.secretArn,
      'Master credential of the initial worker cluster',
    );
    out('RedisEndpoint', redis.replicationGroup.attrPrimaryEndPointAddress, 'Redis primary endpoint (TLS)');
    out(
      'RestArtifactBucket',
      rest.artifactBucket.bucketName,
      `Upload the rest Lambda zip to ${RestFunctionResources.ARTIFACT_KEY}`,
    );
    out(
      'RestExecutionRoleArn',
      rest.executionRole.roleArn,
      `Execution role of the ${restFunctionPrefix}* functions`,
    );
    out(
      'GatewayTaskRoleArn',
      gateway.taskRole.roleArn,
      `The only principal allowed to invoke ${restFunctionPrefix}* URLs`,
    );
    out('EcsClusterName', compute.cluster.clusterName, 'ECS cluster of the platform services');
    out('AlarmTopicArn', alarms.topic.topicArn, 'SNS topic of every alarm');
  }
}
