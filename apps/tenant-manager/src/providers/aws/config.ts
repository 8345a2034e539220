/**
 * Configuration of the AWS provider. In a deployment the CDK stack renders it as JSON into the
 * tenant-manager's `SUPAPLANE_AWS_PROVIDER_CONFIG` variable; {@link parseAwsProviderConfig} validates it.
 */

export type RestArtifact =
  /** The rest function bundle uploaded by the deploy (`rest/rest-lambda.zip` in the artifact bucket). */
  | {
      readonly s3Bucket: string;
      readonly s3Key: string;
      readonly s3ObjectVersion?: string;
      /** Base64 SHA-256 of the zip (printed by build-and-push.sh): existing functions running other code are updated. */
      readonly codeSha256?: string;
    }
  /** A local zip file (dist/rest-lambda.zip), sent inline: small deployments and tests. */
  | { readonly zipFile: string };

export interface AwsProviderConfig {
  readonly region: string;
  readonly restFunction: {
    /**
     * Functions are named `<namePrefix><ref>` (IAM scopes both the tenant-manager and the gateway to
     * the prefix, so two stacks in one account keep apart). Default `rest-`; the stack passes
     * `<namePrefix>-rest-`.
     */
    readonly namePrefix?: string;
    readonly artifact: RestArtifact;
    /** Execution role of every rest function (the only role the tenant-manager may pass). */
    readonly roleArn: string;
    /** Default `index.handler`. */
    readonly handler?: string;
    /**
     * Default `nodejs22.x`. Lambda blocks creating nodejs20.x functions since 31 Aug 2026; the artifact
     * is built for Node 20 and runs on every listed runtime.
     */
    readonly runtime?: 'nodejs20.x' | 'nodejs22.x' | 'nodejs24.x';
    /** Default 512. */
    readonly memoryMiB?: number;
    /** Default 15. */
    readonly timeoutSeconds?: number;
    /** Private subnets and security groups of the functions (to reach the worker databases). */
    readonly subnetIds?: readonly string[];
    readonly securityGroupIds?: readonly string[];
    /** Internal API base URL, used as SUPAPLANE_CONFIG_URL when the caller passes none. */
    readonly configUrl?: string;
    /** Shared log group of all rest functions (Lambda advanced logging). Default: one per function. */
    readonly logGroup?: string;
    /** Extra environment for every rest function; the caller's environment wins. */
    readonly environment?: Readonly<Record<string, string>>;
    /**
     * Customer managed KMS key encrypting every function's environment (its internal token opens the
     * project's bootstrap config): reading the variables back then needs kms:Decrypt on this key, not
     * just lambda:GetFunctionConfiguration. Default: Lambda's AWS managed key, which any principal
     * allowed to read the function configuration can use.
     */
    readonly kmsKeyArn?: string;
  };
  /** The gateway's task role: the only principal allowed to invoke rest function URLs. */
  readonly gatewayRoleArn: string;
  readonly workerCluster?: {
    /** New clusters are named `<identifierPrefix><name>` (IAM scopes the tenant-manager to it). */
    readonly identifierPrefix: string;
    readonly subnetGroupName: string;
    /** Cluster parameter group with `rds.force_ssl=1`. */
    readonly parameterGroupName: string;
    readonly securityGroupIds: readonly string[];
    readonly kmsKeyId: string;
    /** Aurora PostgreSQL version. Default `16.6`. */
    readonly engineVersion?: string;
    /** Serverless v2 ACU range. Defaults 0.5 and 4. */
    readonly minCapacity?: number;
    readonly maxCapacity?: number;
    /** Default 7. */
    readonly backupRetentionDays?: number;
    /** Default true. */
    readonly deletionProtection?: boolean;
    /** Default `supaplane_admin`. */
    readonly masterUsername?: string;
    /**
     * Days CloudWatch keeps the PostgreSQL log a cluster exports (`/aws/rds/cluster/<id>/postgresql`,
     * which RDS would otherwise create without expiry); one of {@link LOG_RETENTION_DAYS}. Default 30.
     */
    readonly logRetentionDays?: number;
    /**
     * SNS topic of the platform's alarms: every cluster the provider creates gets alarms on its CPU,
     * capacity and connections (`<id>-cpu`, `-acu`, `-connections`), deleted with it. Default none.
     */
    readonly alarmTopicArn?: string;
    /**
     * Identifiers under `identifierPrefix` that the stack manages itself (its first worker cluster,
     * `<prefix>-worker-main`): never created, changed or deleted by the provider. Default none.
     */
    readonly reservedIdentifiers?: readonly string[];
  };
  readonly ecs?: { readonly cluster: string; readonly services: readonly string[] };
  readonly tags?: Readonly<Record<string, string>>;
}

/** The retentions CloudWatch Logs' PutRetentionPolicy accepts. */
const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

export class AwsProviderConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid AWS provider config: ${problems.join('; ')}`);
    this.name = 'AwsProviderConfigError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a provider config (object or JSON text); errors name the bad field. */
export function parseAwsProviderConfig(input: unknown): AwsProviderConfig {
  let raw = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch {
      throw new AwsProviderConfigError(['config: not valid JSON']);
    }
  }
  const problems: string[] = [];
  const get = (path: string): unknown =>
    path.split('.').reduce<unknown>((v, key) => (isObject(v) ? v[key] : undefined), raw);
  const need = (path: string, test: (v: unknown) => boolean, what: string, optional = false) => {
    const value = get(path);
    if (value === undefined && optional) return;
    if (!test(value)) problems.push(`${path}: ${value === undefined ? 'is required' : `expected ${what}`}`);
  };
  const nonEmpty = (v: unknown) => typeof v === 'string' && v.length > 0;
  const arn = (service: string) => (v: unknown) =>
    typeof v === 'string' && new RegExp(`^arn:aws[a-z-]*:${service}:`).test(v);
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  const strings = (v: unknown) => Array.isArray(v) && v.every(nonEmpty);

  if (!isObject(raw)) throw new AwsProviderConfigError(['config: expected an object']);
  need('region', (v) => typeof v === 'string' && /^[a-z]{2}(-[a-z]+)+-\d$/.test(v), 'an AWS region');
  need('restFunction', isObject, 'an object');
  const artifact = get('restFunction.artifact');
  if (!isObject(artifact)) problems.push('restFunction.artifact: expected {s3Bucket, s3Key} or {zipFile}');
  else if (
    !(nonEmpty(artifact['zipFile']) || (nonEmpty(artifact['s3Bucket']) && nonEmpty(artifact['s3Key'])))
  )
    problems.push('restFunction.artifact: expected {s3Bucket, s3Key} or {zipFile}');
  need(
    'restFunction.namePrefix',
    (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(v),
    'up to 40 letters, digits, hyphens or underscores',
    true,
  );
  need('restFunction.roleArn', arn('iam'), 'an IAM role ARN');
  need('restFunction.handler', nonEmpty, 'a string', true);
  need(
    'restFunction.runtime',
    (v) => v === 'nodejs20.x' || v === 'nodejs22.x' || v === 'nodejs24.x',
    'nodejs20.x, nodejs22.x or nodejs24.x',
    true,
  );
  need(
    'restFunction.memoryMiB',
    (v) => positive(v) && (v as number) >= 128 && (v as number) <= 10240,
    '128 to 10240',
    true,
  );
  need('restFunction.timeoutSeconds', (v) => positive(v) && (v as number) <= 900, '1 to 900', true);
  need('restFunction.subnetIds', strings, 'a list of subnet ids', true);
  need('restFunction.securityGroupIds', strings, 'a list of security group ids', true);
  need(
    'restFunction.configUrl',
    (v) => typeof v === 'string' && /^https?:\/\//.test(v),
    'an http(s) URL',
    true,
  );
  need('restFunction.kmsKeyArn', arn('kms'), 'a KMS key ARN', true);
  need('gatewayRoleArn', arn('iam'), 'an IAM role ARN');
  if (get('workerCluster') !== undefined) {
    need(
      'workerCluster.identifierPrefix',
      (v) => typeof v === 'string' && /^[a-z][a-z0-9-]{0,40}$/.test(v),
      'a lower-case prefix',
    );
    need('workerCluster.subnetGroupName', nonEmpty, 'a string');
    need('workerCluster.parameterGroupName', nonEmpty, 'a string');
    need('workerCluster.securityGroupIds', strings, 'a list of security group ids');
    need('workerCluster.kmsKeyId', nonEmpty, 'a KMS key id or ARN');
    need('workerCluster.minCapacity', (v) => typeof v === 'number' && v >= 0, 'a number >= 0', true);
    need('workerCluster.maxCapacity', positive, 'a positive number', true);
    need('workerCluster.reservedIdentifiers', strings, 'a list of cluster identifiers', true);
    need('workerCluster.alarmTopicArn', arn('sns'), 'an SNS topic ARN', true);
    need(
      'workerCluster.logRetentionDays',
      (v) => LOG_RETENTION_DAYS.includes(v as number),
      `one of ${LOG_RETENTION_DAYS.join(', ')} (days CloudWatch Logs accepts)`,
      true,
    );
  }
  if (get('ecs') !== undefined) {
    need('ecs.cluster', nonEmpty, 'a cluster name');
    need('ecs.services', strings, 'a list of service names');
  }
  need(
    'tags',
    (v) => isObject(v) && Object.values(v).every((x) => typeof x === 'string'),
    'an object of strings',
    true,
  );
  if (problems.length > 0) throw new AwsProviderConfigError(problems);
  return raw as unknown as AwsProviderConfig;
}
