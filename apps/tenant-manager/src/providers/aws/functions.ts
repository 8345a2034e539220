import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  CreateFunctionUrlConfigCommand,
  DeleteFunctionCommand,
  DeleteFunctionUrlConfigCommand,
  type FunctionCode,
  type FunctionConfiguration,
  DeleteFunctionConcurrencyCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  GetFunctionUrlConfigCommand,
  GetPolicyCommand,
  PutFunctionConcurrencyCommand,
  type LambdaClient,
  RemovePermissionCommand,
  TagResourceCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type UpdateFunctionConfigurationCommandInput,
  UpdateFunctionUrlConfigCommand,
} from '@aws-sdk/client-lambda';
import type { DescribedRestFunction, FunctionProvider, RestFunction, RestFunctionInput } from '../types.js';
import type { AwsProviderConfig } from './config.js';
import {
  errorName,
  ignoreNotFound,
  type PollPolicy,
  pollUntil,
  type RetryPolicy,
  type Sleep,
  withThrottlingRetry,
} from './retry.js';

interface AwsFunctionProviderDeps {
  readonly lambda: LambdaClient;
  readonly sleep: Sleep;
  readonly retry?: RetryPolicy;
  /** How long to wait for a function to become Active / finish an update. Default 2 s × 60. */
  readonly activePoll?: PollPolicy;
  /** Reads `artifact.zipFile`. Default fs.readFile. */
  readonly readZip?: (path: string) => Promise<Uint8Array>;
}

/** Statement ids of the two resource-policy grants a function URL with AWS_IAM auth needs. */
export const INVOKE_URL_SID = 'supaplane-gateway-invoke-url';
export const INVOKE_VIA_URL_SID = 'supaplane-gateway-invoke-via-url';

/** Lambda's longest function name. */
const FUNCTION_NAME_MAX = 64;

/**
 * `<prefix><ref>`. A ref too long for Lambda's 64 characters after the prefix keeps its head and
 * gets 8 hex characters of its SHA-256, so the name stays unique and the same on every run.
 */
export function restFunctionName(ref: string, prefix = 'rest-'): string {
  const name = `${prefix}${ref}`;
  if (name.length <= FUNCTION_NAME_MAX) return name;
  const hash = createHash('sha256').update(ref).digest('hex').slice(0, 8);
  return `${prefix}${ref.slice(0, FUNCTION_NAME_MAX - prefix.length - hash.length - 1)}-${hash}`;
}

/**
 * One `<prefix><ref>` Lambda per project: created from the rest artifact, reachable only through its
 * Function URL (AuthType AWS_IAM), invocable only by the gateway's role. Every step tolerates having
 * run before, so a re-run after a failure at any step converges on the same function.
 */
export function createAwsFunctionProvider(
  config: AwsProviderConfig,
  deps: AwsFunctionProviderDeps,
): FunctionProvider {
  const fn = config.restFunction;
  const activePoll = deps.activePoll ?? { intervalMs: 2_000, maxChecks: 60 };
  const send = <T>(call: () => Promise<T>) => withThrottlingRetry(call, deps.sleep, deps.retry);
  let zip: Promise<Uint8Array> | undefined;

  const code = async (): Promise<FunctionCode> => {
    const artifact = fn.artifact;
    if ('zipFile' in artifact) {
      zip ??= (deps.readZip ?? readFile)(artifact.zipFile);
      return { ZipFile: await zip };
    }
    return { S3Bucket: artifact.s3Bucket, S3Key: artifact.s3Key, S3ObjectVersion: artifact.s3ObjectVersion };
  };

  /** Base64 SHA-256 of the artifact (Lambda's CodeSha256), when it can be known without downloading it. */
  const wantedCodeSha = async (): Promise<string | undefined> => {
    const artifact = fn.artifact;
    if ('zipFile' in artifact) {
      const { ZipFile } = await code();
      return createHash('sha256').update(ZipFile!).digest('base64');
    }
    return artifact.codeSha256;
  };

  const settings = (input: RestFunctionInput) => ({
    Role: fn.roleArn,
    Handler: fn.handler ?? 'index.handler',
    Runtime: fn.runtime ?? 'nodejs22.x',
    MemorySize: fn.memoryMiB ?? 512,
    Timeout: fn.timeoutSeconds ?? 15,
    Environment: { Variables: environment(config, input) },
    // Sent on every update, so an existing function is re-encrypted with the configured key (an empty
    // ARN returns it to Lambda's default key).
    KMSKeyArn: fn.kmsKeyArn ?? '',
    // The stack counts errors from the platform.report records Lambda writes at INFO: a higher system
    // log level would silence its RestFunctionErrors alarm.
    LoggingConfig: fn.logGroup
      ? { LogFormat: 'JSON' as const, LogGroup: fn.logGroup, SystemLogLevel: 'INFO' as const }
      : undefined,
    VpcConfig: fn.subnetIds?.length
      ? { SubnetIds: [...fn.subnetIds], SecurityGroupIds: [...(fn.securityGroupIds ?? [])] }
      : undefined,
  });

  /**
   * Waits until the function is Active and no update is running. With `tolerateFailed`, a function
   * left Failed by an earlier run is returned instead, so that the caller can repair it.
   */
  const waitReady = (name: string, tolerateFailed = false) =>
    pollUntil(
      `${name} to become Active`,
      async () => {
        const c: FunctionConfiguration = await send(() =>
          deps.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name })),
        );
        if (c.State === 'Pending' || c.LastUpdateStatus === 'InProgress') return undefined;
        if (c.State === 'Failed' || c.LastUpdateStatus === 'Failed') {
          if (tolerateFailed) return c;
          throw new Error(`${name} failed: ${c.StateReason ?? c.LastUpdateStatusReason ?? 'unknown reason'}`);
        }
        return c.State === 'Active' ? c : undefined;
      },
      deps.sleep,
      activePoll,
    );

  const reservedConcurrency = async (name: string) =>
    (await send(() => deps.lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: name }))))
      .ReservedConcurrentExecutions;

  /**
   * A paused project's function takes no invocation (reserved concurrency 0), so Lambda retires its
   * instances and the database connections their pools hold; an ensure without `stopped` lifts it.
   */
  const stop = (name: string) =>
    send(() =>
      deps.lambda.send(
        new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 0 }),
      ),
    );

  const ensureFunction = async (name: string, input: RestFunctionInput): Promise<FunctionConfiguration> => {
    const tags = { ...config.tags, 'supaplane:ref': input.ref };
    let created = false;
    try {
      await send(async () =>
        deps.lambda.send(
          new CreateFunctionCommand({
            FunctionName: name,
            ...settings(input),
            Code: await code(),
            PackageType: 'Zip',
            Architectures: ['x86_64'],
            Description: `Supaplane data API of project ${input.ref}`,
            Tags: tags,
          }),
        ),
      );
      created = true;
    } catch (error) {
      if (errorName(error) !== 'ResourceConflictException') throw error;
    }
    if (created) {
      const ready = await waitReady(name);
      // Stopped before it has a URL or a grant: nothing could invoke it yet.
      if (input.stopped) await stop(name);
      return ready;
    }
    // It exists (an earlier run, or a concurrent one): bring its code, configuration and tags up to date.
    let ready = await waitReady(name, true);
    // Kept stopped, or stopped first: an update starts new instances, none of which may serve then.
    if (input.stopped && (await reservedConcurrency(name)) !== 0) await stop(name);
    const wanted = await wantedCodeSha();
    if (wanted && ready.CodeSha256 !== wanted) {
      await send(async () =>
        deps.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ...(await code()) })),
      );
      ready = await waitReady(name);
    }
    const wantedSettings = settings(input);
    // Every tenant-manager start re-ensures every project's function: an update that changes nothing
    // would still replace each function's warm instances (cold starts, and the frozen ones keep their
    // database connections until Lambda retires them). Only a difference, or a failed function, is sent.
    let arn = ready.FunctionArn;
    if (isFailed(ready) || !sameSettings(ready, wantedSettings)) {
      const updated = await send(() =>
        deps.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, ...wantedSettings })),
      );
      arn = updated.FunctionArn;
    }
    if (arn) {
      const resource = arn;
      await send(() => deps.lambda.send(new TagResourceCommand({ Resource: resource, Tags: tags })));
    }
    // A paused project's function was stopped with a reserved concurrency of 0: it serves again.
    if (!input.stopped && (await reservedConcurrency(name)) === 0) {
      await send(() => deps.lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: name })));
    }
    return waitReady(name);
  };

  const ensureUrl = async (name: string): Promise<string> => {
    try {
      const created = await send(() =>
        deps.lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: name, AuthType: 'AWS_IAM' })),
      );
      return created.FunctionUrl!;
    } catch (error) {
      if (errorName(error) !== 'ResourceConflictException') throw error;
    }
    const existing = await send(() =>
      deps.lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: name })),
    );
    if (existing.AuthType === 'AWS_IAM') return existing.FunctionUrl!;
    const updated = await send(() =>
      deps.lambda.send(new UpdateFunctionUrlConfigCommand({ FunctionName: name, AuthType: 'AWS_IAM' })),
    );
    return updated.FunctionUrl!;
  };

  /** Grants the gateway role (and only it) lambda:InvokeFunctionUrl and lambda:InvokeFunction via the URL. */
  const ensurePermissions = async (name: string) => {
    const policy = await currentPolicy(name);
    const grants = [
      {
        sid: INVOKE_URL_SID,
        action: 'lambda:InvokeFunctionUrl',
        extra: { FunctionUrlAuthType: 'AWS_IAM' as const },
      },
      { sid: INVOKE_VIA_URL_SID, action: 'lambda:InvokeFunction', extra: { InvokedViaFunctionUrl: true } },
    ];
    for (const grant of grants) {
      let existing = policy.get(grant.sid);
      for (let attempt = 1; ; attempt++) {
        if (existing && existing.principal === config.gatewayRoleArn && existing.action === grant.action)
          break;
        if (existing) await removePermission(name, grant.sid);
        try {
          await send(() =>
            deps.lambda.send(
              new AddPermissionCommand({
                FunctionName: name,
                StatementId: grant.sid,
                Action: grant.action,
                Principal: config.gatewayRoleArn,
                ...grant.extra,
              }),
            ),
          );
          break;
        } catch (error) {
          // Lambda answers ResourceConflictException both for a statement added concurrently since we
          // read the policy and while an update of the function is in progress (nothing was added):
          // only the policy, read again once the function is ready, tells which.
          if (errorName(error) !== 'ResourceConflictException' || attempt >= 3) throw error;
          await waitReady(name);
          existing = (await currentPolicy(name)).get(grant.sid);
        }
      }
    }
  };

  const currentPolicy = async (name: string) => {
    const statements = new Map<string, { principal: string; action: string }>();
    const policy = await ignoreNotFound(() =>
      send(() => deps.lambda.send(new GetPolicyCommand({ FunctionName: name }))),
    );
    const parsed = JSON.parse(policy?.Policy ?? '{}') as {
      Statement?: { Sid?: string; Action?: string; Principal?: { AWS?: string } | string }[];
    };
    for (const s of parsed.Statement ?? []) {
      const principal = typeof s.Principal === 'string' ? s.Principal : (s.Principal?.AWS ?? '');
      if (s.Sid) statements.set(s.Sid, { principal, action: s.Action ?? '' });
    }
    return statements;
  };

  const removePermission = (name: string, sid: string) =>
    ignoreNotFound(() =>
      send(() => deps.lambda.send(new RemovePermissionCommand({ FunctionName: name, StatementId: sid }))),
    );

  return {
    async ensureRestFunction(input): Promise<RestFunction> {
      const name = restFunctionName(input.ref, fn.namePrefix);
      await ensureFunction(name, input);
      const url = await ensureUrl(name);
      await ensurePermissions(name);
      return { name, url: url.endsWith('/') ? url : `${url}/`, region: config.region };
    },

    async describeRestFunction(ref): Promise<DescribedRestFunction | null> {
      const name = restFunctionName(ref, fn.namePrefix);
      const c = await ignoreNotFound(() =>
        send(() => deps.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))),
      );
      if (!c) return null;
      const urlConfig = await ignoreNotFound(() =>
        send(() => deps.lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: name }))),
      );
      const url = urlConfig?.FunctionUrl ?? null;
      // A paused project's function (reserved concurrency 0) is Active to Lambda, yet takes no invocation.
      const state = isFailed(c)
        ? 'failed'
        : (await ignoreNotFound(() => reservedConcurrency(name))) === 0
          ? 'stopped'
          : c.State === 'Active'
            ? 'active'
            : 'pending';
      return { name, url: url && !url.endsWith('/') ? `${url}/` : url, state };
    },

    async stopRestFunction(ref) {
      await ignoreNotFound(() => stop(restFunctionName(ref, fn.namePrefix)));
    },

    async deleteRestFunction(ref) {
      const name = restFunctionName(ref, fn.namePrefix);
      await ignoreNotFound(() =>
        send(() => deps.lambda.send(new DeleteFunctionUrlConfigCommand({ FunctionName: name }))),
      );
      await ignoreNotFound(() =>
        send(() => deps.lambda.send(new DeleteFunctionCommand({ FunctionName: name }))),
      );
    },
  };
}

const isFailed = (c: FunctionConfiguration) => c.State === 'Failed' || c.LastUpdateStatus === 'Failed';

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  JSON.stringify([...(a ?? [])].sort()) === JSON.stringify([...(b ?? [])].sort());

const sameVariables = (a: Record<string, string> | undefined, b: Record<string, string> | undefined) => {
  const left = Object.entries(a ?? {});
  return left.length === Object.keys(b ?? {}).length && left.every(([k, v]) => b?.[k] === v);
};

/**
 * Whether the function as Lambda reports it already has every setting `wanted` names (what Lambda
 * adds, such as the VPC id or the application log level, is not compared). An environment Lambda
 * could not decrypt for us (`Environment.Error`) counts as different.
 */
function sameSettings(
  current: FunctionConfiguration,
  wanted: Pick<
    UpdateFunctionConfigurationCommandInput,
    | 'Role'
    | 'Handler'
    | 'Runtime'
    | 'MemorySize'
    | 'Timeout'
    | 'Environment'
    | 'KMSKeyArn'
    | 'LoggingConfig'
    | 'VpcConfig'
  >,
): boolean {
  if (
    current.Role !== wanted.Role ||
    current.Handler !== wanted.Handler ||
    current.Runtime !== wanted.Runtime ||
    current.MemorySize !== wanted.MemorySize ||
    current.Timeout !== wanted.Timeout ||
    (current.KMSKeyArn ?? '') !== (wanted.KMSKeyArn ?? '')
  )
    return false;
  if (current.Environment?.Error) return false;
  if (!sameVariables(current.Environment?.Variables, wanted.Environment?.Variables)) return false;
  const logging = wanted.LoggingConfig;
  if (
    logging &&
    (current.LoggingConfig?.LogFormat !== logging.LogFormat ||
      current.LoggingConfig?.LogGroup !== logging.LogGroup ||
      current.LoggingConfig?.SystemLogLevel !== logging.SystemLogLevel)
  )
    return false;
  const vpc = wanted.VpcConfig;
  if (
    vpc &&
    !(
      sameList(current.VpcConfig?.SubnetIds, vpc.SubnetIds) &&
      sameList(current.VpcConfig?.SecurityGroupIds, vpc.SecurityGroupIds)
    )
  )
    return false;
  return true;
}

/** The function's environment: provider extras, then the caller's (contracts: "Rest function environment"). */
function environment(config: AwsProviderConfig, input: RestFunctionInput): Record<string, string> {
  return {
    // Node 20+ Lambda runtimes do not trust the RDS CAs unless told to load the runtime's bundle.
    NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    ...(config.restFunction.configUrl ? { SUPAPLANE_CONFIG_URL: config.restFunction.configUrl } : {}),
    ...config.restFunction.environment,
    ...input.environment,
    SUPAPLANE_PROJECT_REF: input.ref,
  };
}
