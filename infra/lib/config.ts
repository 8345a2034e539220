/**
 * The infrastructure configuration: everything that differs between the test and the production
 * deployment. `infra/config.json` is a copy of `config.test.json` or `config.production.json`;
 * `parseInfraConfig` validates it and names the offending field in every error.
 */

export type RemovalPolicyName = 'destroy' | 'retain' | 'snapshot';

interface DatabaseConfig {
  /** Aurora PostgreSQL engine version, e.g. `16.6` (major 16 required). */
  readonly engineVersion: string;
  /** Serverless v2 capacity range in ACUs (0 to 256, steps of 0.5). */
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Serverless v2 reader instances besides the writer. */
  readonly readers: number;
  readonly backupRetentionDays: number;
  readonly deletionProtection: boolean;
  readonly removalPolicy: RemovalPolicyName;
}

interface RedisConfig {
  readonly nodeType: string;
  /** Replicas besides the primary; multi-AZ failover needs at least one. */
  readonly replicas: number;
  readonly multiAz: boolean;
  readonly snapshotRetentionDays: number;
}

interface ServiceConfig {
  /** Fargate CPU units (256, 512, 1024, 2048, 4096). */
  readonly cpu: number;
  /** Fargate memory in MiB, valid for the CPU size. */
  readonly memoryMiB: number;
  /** Task counts: the service starts at minCount and autoscaling keeps it between the two. */
  readonly minCount: number;
  readonly maxCount: number;
  /** Target average CPU utilisation for scaling, percent. */
  readonly cpuTargetPercent: number;
  /** Image tag to deploy (`latest` or a git SHA pushed by build-and-push.sh). */
  readonly imageTag: string;
}

export interface ProjectLimitsConfig {
  /** `CONNECTION LIMIT` of each project database on its worker cluster (1–10000). */
  readonly dbConnectionLimit: number;
  /** Requests per second the gateways let through per project (1–1000000), or null for no limit. */
  readonly requestsPerSecond: number | null;
  /** Bucket size above the rate (requestsPerSecond–10000000); null: the rate itself. Needs a rate. */
  readonly burst: number | null;
  /** MiB a project database may grow to before it is made read-only (1–10000000), or null for no cap. */
  readonly dbSizeLimitMb: number | null;
}

/** What an omitted `projectLimits` (or an omitted field of it) means: the tenant-manager's defaults. */
const PROJECT_LIMIT_DEFAULTS: ProjectLimitsConfig = {
  dbConnectionLimit: 60,
  requestsPerSecond: null,
  burst: null,
  dbSizeLimitMb: null,
};

export interface InfraConfig {
  /** Prefix of every physical name (per-project functions too: `<namePrefix>-rest-<ref>`): lower-case, 3–20 chars. */
  readonly namePrefix: string;
  readonly stackName: string;
  readonly account: string;
  readonly region: string;
  /** Projects are served at `https://<ref>.<baseDomain>`. */
  readonly baseDomain: string;
  /** Host name of the tenant-manager's operator API (e.g. `api.<baseDomain>`). */
  readonly apiHostName: string;
  /** ACM certificate covering `*.baseDomain` and `apiHostName`, in `region`. */
  readonly certificateArn: string;
  readonly vpc: { readonly cidr: string; readonly maxAzs: number; readonly natGateways: number };
  readonly managementDatabase: DatabaseConfig;
  readonly workerDatabase: DatabaseConfig;
  /**
   * IPv4 ranges (a VPN's, a peered network's) that may open direct PostgreSQL connections to the
   * worker clusters: projects' migrations and tools (`GET /v1/projects/:ref/database/connection`).
   * Optional, default none: the clusters sit in the VPC's data subnets and only reach what routes there.
   */
  readonly directDatabaseAccessCidrs: readonly string[];
  readonly redis: RedisConfig;
  readonly gateway: ServiceConfig;
  readonly tenantManager: ServiceConfig;
  readonly restFunction: {
    readonly memoryMiB: number;
    /** 10–50 s: longer than the data API's statements, short enough for the gateway and the ALB. */
    readonly timeoutSeconds: number;
    /**
     * Base64 SHA-256 of the uploaded rest-lambda.zip (printed by build-and-push.sh), or null. When set,
     * the tenant-manager moves existing rest functions running other code to this artifact.
     */
    readonly artifactSha256: string | null;
  };
  readonly waf: {
    readonly enabled: boolean;
    /** `block` enforces the AWS managed rule groups; `count` only records matches. */
    readonly managedRulesMode: 'block' | 'count';
    /** Requests per source IP per 5-minute window before blocking (AWS minimum 10). */
    readonly ratePerIpPer5Min: number;
  };
  /**
   * Limits a new project gets unless its create says otherwise (the tenant-manager's
   * `PROJECT_DB_CONNECTION_LIMIT` / `PROJECT_RATE_LIMIT_*`); operators change one project's limits with
   * `PATCH /v1/projects/:ref`. Optional in config.json, as is each field: see PROJECT_LIMIT_DEFAULTS.
   */
  readonly projectLimits: ProjectLimitsConfig;
  readonly alarms: { readonly email: string | null };
  readonly logRetentionDays: number;
  /**
   * Days the PostgreSQL logs the Aurora clusters export to CloudWatch are kept (they hold slow
   * statements, and RDS creates their log groups without any expiry). Optional in config.json:
   * `logRetentionDays` when omitted.
   */
  readonly databaseLogRetentionDays: number;
  /** Removal policy of buckets, repositories, keys and secrets. */
  readonly dataRemovalPolicy: RemovalPolicyName;
  readonly tags: Readonly<Record<string, string>>;
}

export class InfraConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid infra config:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InfraConfigError';
  }
}

type Check = (value: unknown, path: string, problems: string[]) => void;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function str(pattern?: RegExp, hint?: string): Check {
  return (v, path, problems) => {
    if (typeof v !== 'string') problems.push(`${path}: expected a string`);
    else if (pattern && !pattern.test(v)) problems.push(`${path}: ${hint ?? `must match ${pattern}`}`);
  };
}

function num(min: number, max: number, opts: { integer?: boolean; step?: number } = {}): Check {
  return (v, path, problems) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${path}: expected a number`);
    else if (opts.integer && !Number.isInteger(v)) problems.push(`${path}: expected an integer`);
    else if (v < min || v > max) problems.push(`${path}: must be between ${min} and ${max}`);
    else if (opts.step && Math.abs(v / opts.step - Math.round(v / opts.step)) > 1e-9)
      problems.push(`${path}: must be a multiple of ${opts.step}`);
  };
}

const bool: Check = (v, path, problems) => {
  if (typeof v !== 'boolean') problems.push(`${path}: expected true or false`);
};

function oneOf(...values: readonly string[]): Check {
  return (v, path, problems) => {
    if (typeof v !== 'string' || !values.includes(v))
      problems.push(`${path}: must be one of ${values.join(', ')}`);
  };
}

function nullable(check: Check): Check {
  return (v, path, problems) => {
    if (v !== null) check(v, path, problems);
  };
}

/** `retired`: fields no longer read, each with what to do instead (reported in place of "unknown field"). */
function obj(shape: Record<string, Check>, retired: Record<string, string> = {}): Check {
  return (v, path, problems) => {
    if (!isObject(v)) {
      problems.push(`${path}: expected an object`);
      return;
    }
    for (const [key, check] of Object.entries(shape)) {
      const child = path ? `${path}.${key}` : key;
      if (!(key in v)) problems.push(`${child}: is required`);
      else check(v[key], child, problems);
    }
    for (const key of Object.keys(v)) {
      if (!(key in shape) && key !== '$comment')
        problems.push(`${path ? `${path}.` : ''}${key}: ${retired[key] ?? 'unknown field'}`);
    }
  };
}

const stringMap: Check = (v, path, problems) => {
  if (!isObject(v)) problems.push(`${path}: expected an object of strings`);
  else
    for (const [k, x] of Object.entries(v))
      if (typeof x !== 'string') problems.push(`${path}.${k}: expected a string`);
};

/**
 * Timeouts that must line up, shortest first: the data API's statement timeout (8 s, the
 * tenant-manager's SQL_STATEMENT_TIMEOUT_MS default), the rest function's timeout, the gateway's
 * upstream timeout (the function's plus a margin, so that the function's own answer is relayed), the
 * ALB's idle timeout (after the gateway's 504), and the gateway's keep-alive (65 s, longer than the ALB's).
 */
export const ALB_IDLE_TIMEOUT_SECONDS = 60;
export const GATEWAY_UPSTREAM_MARGIN_SECONDS = 5;
const REST_TIMEOUT_MIN_SECONDS = 10;
const REST_TIMEOUT_MAX_SECONDS = ALB_IDLE_TIMEOUT_SECONDS - GATEWAY_UPSTREAM_MARGIN_SECONDS - 5;

const hostName = str(
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
  'must be a lower-case DNS name',
);
const removal = oneOf('destroy', 'retain', 'snapshot');

/** A retention CloudWatch Logs accepts (PutRetentionPolicy's list, which aws-logs' RetentionDays mirrors). */
const retentionDays: Check = (v, path, problems) => {
  const allowed = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
  ];
  if (!allowed.includes(v as number)) problems.push(`${path}: must be one of ${allowed.join(', ')}`);
};

const database = obj({
  engineVersion: str(/^16\.\d+$/, 'must be an Aurora PostgreSQL 16 version such as 16.6'),
  minCapacity: num(0, 256, { step: 0.5 }),
  maxCapacity: num(1, 256, { step: 0.5 }),
  readers: num(0, 15, { integer: true }),
  backupRetentionDays: num(1, 35, { integer: true }),
  deletionProtection: bool,
  removalPolicy: removal,
});

const service = obj(
  {
    cpu: (v, path, problems) => {
      if (![256, 512, 1024, 2048, 4096].includes(v as number))
        problems.push(`${path}: must be 256, 512, 1024, 2048 or 4096`);
    },
    memoryMiB: num(512, 30720, { integer: true }),
    minCount: num(1, 100, { integer: true }),
    maxCount: num(1, 100, { integer: true }),
    cpuTargetPercent: num(10, 90, { integer: true }),
    imageTag: str(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be a valid image tag'),
  },
  {
    desiredCount:
      'no longer read: the service starts at minCount and autoscaling sets the count (a count in the template was sent again with every deployment, scaling a busy service back down); remove it',
  },
);

const schema = obj({
  // RDS, ElastiCache and ECR names built from it refuse a trailing hyphen and two hyphens in a row.
  namePrefix: str(
    /^(?!.*--)[a-z][a-z0-9-]{1,18}[a-z0-9]$/,
    'must be 3-20 lower-case letters, digits or single hyphens, starting with a letter and not ending with a hyphen',
  ),
  stackName: str(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a valid CloudFormation stack name'),
  account: str(/^\d{12}$/, 'must be a 12-digit AWS account id'),
  region: str(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'),
  baseDomain: hostName,
  apiHostName: hostName,
  certificateArn: str(
    /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/,
    'must be an ACM certificate ARN',
  ),
  vpc: obj({
    cidr: str(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, 'must be an IPv4 CIDR between /16 and /24'),
    maxAzs: num(2, 6, { integer: true }),
    natGateways: num(1, 6, { integer: true }),
  }),
  managementDatabase: database,
  workerDatabase: database,
  directDatabaseAccessCidrs: (v, path, problems) => {
    if (!Array.isArray(v)) {
      problems.push(`${path}: expected a list of IPv4 CIDRs`);
      return;
    }
    v.forEach((cidr, i) => {
      const m = typeof cidr === 'string' ? /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr) : null;
      if (!m || m[1]!.split('.').some((octet) => Number(octet) > 255) || Number(m[2]) > 32)
        problems.push(`${path}[${i}]: must be an IPv4 CIDR such as 10.8.0.0/16`);
      else if (Number(m[2]) < 8)
        problems.push(
          `${path}[${i}]: a /${m[2]} is most of the internet; name the VPN's or peered network's range`,
        );
    });
  },
  redis: obj({
    nodeType: str(
      /^cache\.[a-z0-9]+\.[a-z0-9]+$/,
      'must be an ElastiCache node type such as cache.t4g.micro',
    ),
    replicas: num(0, 5, { integer: true }),
    multiAz: bool,
    snapshotRetentionDays: num(0, 35, { integer: true }),
  }),
  gateway: service,
  tenantManager: service,
  restFunction: obj({
    memoryMiB: num(128, 10240, { integer: true }),
    timeoutSeconds: (v, path, problems) => {
      const before = problems.length;
      num(1, 900, { integer: true })(v, path, problems);
      const s = v as number;
      if (problems.length === before && (s < REST_TIMEOUT_MIN_SECONDS || s > REST_TIMEOUT_MAX_SECONDS))
        problems.push(
          `${path}: must be between ${REST_TIMEOUT_MIN_SECONDS} and ${REST_TIMEOUT_MAX_SECONDS} ` +
            `(the data API's statements run up to 8 s and a function stopped by its timeout leaves its ` +
            `statement running; the gateway waits ${GATEWAY_UPSTREAM_MARGIN_SECONDS} s longer than the function, ` +
            `inside the load balancer's ${ALB_IDLE_TIMEOUT_SECONDS} s idle timeout)`,
        );
    },
    artifactSha256: nullable(str(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 SHA-256 (44 characters) or null')),
  }),
  waf: obj({
    enabled: bool,
    managedRulesMode: oneOf('block', 'count'),
    ratePerIpPer5Min: num(10, 2_000_000_000, { integer: true }),
  }),
  projectLimits: obj({
    dbConnectionLimit: num(1, 10_000, { integer: true }),
    requestsPerSecond: nullable(num(1, 1_000_000, { integer: true })),
    burst: nullable(num(1, 10_000_000, { integer: true })),
    dbSizeLimitMb: nullable(num(1, 10_000_000, { integer: true })),
  }),
  alarms: obj({ email: nullable(str(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be an e-mail address or null')) }),
  logRetentionDays: retentionDays,
  databaseLogRetentionDays: retentionDays,
  dataRemovalPolicy: removal,
  tags: stringMap,
});

/**
 * A conservative estimate of the default `max_connections` of an Aurora PostgreSQL Serverless v2
 * instance. Aurora uses the same memory-based formula as for provisioned instances
 * (LEAST(memory / 9531392, 5000)), but with the memory of the *maximum* ACU setting, and keeps the
 * value fixed while the instance scales (a new maximum needs a reboot). The Aurora user guide
 * ("Maximum connections for Aurora Serverless v2") lists the PostgreSQL defaults by maximum ACU:
 * 189 at 1, 823 at 4, 1,669 at 8, 3,360 at 16, 5,000 from 32 on; a minimum of 0.5 ACU (or 0) caps
 * it at 2,000. Connections per ACU rise slightly with size, so 189 per ACU stays at or below every
 * listed value; the two caps apply on top.
 */
export function estimatedMaxConnections(d: Pick<DatabaseConfig, 'minCapacity' | 'maxCapacity'>): number {
  return Math.min(Math.floor(189 * d.maxCapacity), d.minCapacity <= 0.5 ? 2000 : 5000);
}

/**
 * Why the VPC range cannot hold the subnets of lib/constructs/network.ts (per AZ a /24 public, a /20
 * app and a /24 data subnet, allocated in that order with the /20s aligned), or null when it can.
 */
function vpcCidrProblem(cidr: string, azs: number): string | null {
  const [address = '', bits = ''] = cidr.split('/');
  if (address.split('.').some((octet) => Number(octet) > 255)) return `${address} is not an IPv4 address`;
  const app = 2 ** 12;
  const needed = Math.ceil((azs * 2 ** 8) / app) * app + azs * app + azs * 2 ** 8;
  if (needed <= 2 ** (32 - Number(bits))) return null;
  return `a /${bits} cannot hold the subnets of ${azs} AZs (a /24, a /20 and a /24 each); use /${32 - Math.ceil(Math.log2(needed))} or larger`;
}

/**
 * Fills the optional `projectLimits` section with PROJECT_LIMIT_DEFAULTS, an omitted
 * `databaseLogRetentionDays` with `logRetentionDays` and an omitted `directDatabaseAccessCidrs` with
 * none; anything else is left to the schema.
 */
function withDefaults(input: unknown): unknown {
  if (!isObject(input)) return input;
  let raw =
    input['databaseLogRetentionDays'] === undefined
      ? { ...input, databaseLogRetentionDays: input['logRetentionDays'] }
      : input;
  if (raw['directDatabaseAccessCidrs'] === undefined) raw = { ...raw, directDatabaseAccessCidrs: [] };
  const limits = raw['projectLimits'];
  if (limits === undefined) return { ...raw, projectLimits: PROJECT_LIMIT_DEFAULTS };
  if (!isObject(limits)) return raw;
  return { ...raw, projectLimits: { ...PROJECT_LIMIT_DEFAULTS, ...limits } };
}

/**
 * Validates a parsed `config.json` and fills its defaults (the given object is not changed);
 * throws an InfraConfigError listing every bad field.
 */
export function parseInfraConfig(input: unknown): InfraConfig {
  const raw = withDefaults(input);
  const problems: string[] = [];
  schema(raw, '', problems);
  if (problems.length === 0) {
    const c = raw as InfraConfig;
    for (const name of ['managementDatabase', 'workerDatabase'] as const) {
      if (c[name].minCapacity > c[name].maxCapacity)
        problems.push(`${name}.minCapacity: must not exceed maxCapacity`);
    }
    for (const name of ['gateway', 'tenantManager'] as const) {
      const s = c[name];
      if (s.minCount > s.maxCount) problems.push(`${name}.minCount: must not exceed maxCount`);
      if (s.memoryMiB < s.cpu * 2 || s.memoryMiB > s.cpu * 8)
        problems.push(`${name}.memoryMiB: must be 2 to 8 times cpu for Fargate`);
    }
    // IAM scopes each stack to `<namePrefix>-rest-*` functions and `<namePrefix>-worker-*` clusters:
    // a prefix continuing another one with such a part would put this stack's resources in its scope.
    if (/-(rest|worker)(-|$)/.test(c.namePrefix))
      problems.push(
        'namePrefix: must not have a part "rest" or "worker" after a hyphen (a stack prefixed ' +
          `"${c.namePrefix.replace(/-(rest|worker)(-.*)?$/, '')}" may manage every <its prefix>-rest-* function and ` +
          "<its prefix>-worker-* cluster, which would include this stack's)",
      );
    if (c.redis.multiAz && c.redis.replicas < 1)
      problems.push('redis.replicas: multiAz needs at least 1 replica');
    if (c.vpc.natGateways > c.vpc.maxAzs) problems.push('vpc.natGateways: must not exceed vpc.maxAzs');
    const cidrProblem = vpcCidrProblem(c.vpc.cidr, c.vpc.maxAzs);
    if (cidrProblem) problems.push(`vpc.cidr: ${cidrProblem}`);
    if (
      c.apiHostName.endsWith(`.${c.baseDomain}`) &&
      c.apiHostName.split('.').length === c.baseDomain.split('.').length + 1
    ) {
      // A sibling of project hosts is fine, but it must not look like a project ref the gateway would serve.
      const label = c.apiHostName.slice(0, -(c.baseDomain.length + 1));
      if (/^[a-z0-9]{20}$/.test(label))
        problems.push('apiHostName: must not look like a 20-character project ref');
    }
    if (!c.certificateArn.includes(`:${c.region}:`))
      problems.push('certificateArn: must be in the same region as the stack');
    const limits = c.projectLimits;
    if (limits.burst !== null && limits.requestsPerSecond === null)
      problems.push('projectLimits.burst: needs requestsPerSecond (a burst without a rate limits nothing)');
    else if (
      limits.burst !== null &&
      limits.requestsPerSecond !== null &&
      limits.burst < limits.requestsPerSecond
    )
      problems.push('projectLimits.burst: must be at least requestsPerSecond');
    // One project must leave room for its neighbours, the tenant-manager and Aurora's own sessions:
    // refuse a limit above half of what the worker cluster is likely to allow.
    const clusterMax = estimatedMaxConnections(c.workerDatabase);
    if (limits.dbConnectionLimit > clusterMax / 2)
      problems.push(
        `projectLimits.dbConnectionLimit: ${limits.dbConnectionLimit} is more than half of the ~${clusterMax} ` +
          `connections a worker cluster of ${c.workerDatabase.minCapacity}-${c.workerDatabase.maxCapacity} ACU allows; ` +
          `lower it or raise workerDatabase.maxCapacity`,
      );
  }
  if (problems.length > 0) throw new InfraConfigError(problems);
  return raw as InfraConfig;
}
