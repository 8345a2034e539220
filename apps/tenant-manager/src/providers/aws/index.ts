import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import type { Provider } from '../types.js';
import { type AwsClusterProvider, createAwsClusterProvider } from './clusters.js';
import { type AwsProviderConfig, AwsProviderConfigError, parseAwsProviderConfig } from './config.js';
import { createAwsFunctionProvider } from './functions.js';
import { createAwsPlatformStatus } from './platform.js';
import { type PollPolicy, type RetryPolicy, realSleep, type Sleep } from './retry.js';

export type { AwsProviderConfig, RestArtifact } from './config.js';
export { AwsProviderConfigError, parseAwsProviderConfig } from './config.js';

export interface AwsProviderDeps {
  /** SDK clients; default: new clients for `config.region` with the default credential chain. */
  readonly lambda?: LambdaClient;
  readonly rds?: RDSClient;
  readonly logs?: CloudWatchLogsClient;
  /** For worker clusters' alarms (only with `workerCluster.alarmTopicArn`). */
  readonly cloudwatch?: CloudWatchClient;
  readonly ecs?: ECSClient;
  readonly sleep?: Sleep;
  readonly retry?: RetryPolicy;
  readonly functionActivePoll?: PollPolicy;
  readonly clusterAvailablePoll?: PollPolicy;
  readonly generatePassword?: () => string;
  readonly readZip?: (path: string) => Promise<Uint8Array>;
  /** Give worker clusters' log groups their retention when the provider is created. Default true. */
  readonly applyLogRetentionOnStart?: boolean;
  /** Where a failed start-up repair is reported (it never stops the tenant-manager). Default console.warn. */
  readonly warn?: (message: string) => void;
}

export interface AwsProvider extends Provider {
  readonly clusters?: AwsClusterProvider;
  /** Settles when the start-up repair of worker cluster log retention has finished or failed. */
  readonly started: Promise<void>;
}

/**
 * What `createAwsProvider` accepts: the config itself, its JSON (the stack's
 * `SUPAPLANE_AWS_PROVIDER_CONFIG`), or an object carrying either as `awsProviderConfig`.
 */
export type AwsProviderInput =
  | AwsProviderConfig
  | string
  | { readonly awsProviderConfig: AwsProviderConfig | string };

function resolveConfig(input: AwsProviderInput): AwsProviderConfig {
  if (typeof input === 'object' && input !== null && 'awsProviderConfig' in input) {
    return parseAwsProviderConfig(input.awsProviderConfig);
  }
  if (typeof input === 'object' && input !== null && !('restFunction' in input)) {
    throw new AwsProviderConfigError([
      'config: pass the AWS provider config (SUPAPLANE_AWS_PROVIDER_CONFIG, parsed with parseAwsProviderConfig)',
    ]);
  }
  return parseAwsProviderConfig(input);
}

/** The `aws` provider: Lambda rest functions, Aurora worker clusters, ECS service status. */
export function createAwsProvider(input: AwsProviderInput, deps: AwsProviderDeps = {}): AwsProvider {
  const config = resolveConfig(input);
  const sleep = deps.sleep ?? realSleep;
  const lambda = deps.lambda ?? new LambdaClient({ region: config.region });
  const clusters = config.workerCluster
    ? createAwsClusterProvider(config, {
        rds: deps.rds ?? new RDSClient({ region: config.region }),
        logs: deps.logs ?? new CloudWatchLogsClient({ region: config.region }),
        cloudwatch:
          deps.cloudwatch ??
          (config.workerCluster.alarmTopicArn ? new CloudWatchClient({ region: config.region }) : undefined),
        sleep,
        retry: deps.retry,
        availablePoll: deps.clusterAvailablePoll,
        generatePassword: deps.generatePassword,
      })
    : undefined;
  // Clusters created before the provider set retentions (or under another retention) would keep
  // their PostgreSQL logs as they are until deleted: a restart, e.g. the deployment that changes the
  // retention, brings every group to the configured one.
  const warn = deps.warn ?? ((message: string) => console.warn(message));
  const started =
    clusters && (deps.applyLogRetentionOnStart ?? true)
      ? clusters.applyLogRetention().then(
          () => undefined,
          (error: unknown) =>
            warn(
              `AWS provider: could not give the worker clusters' PostgreSQL log groups their retention (${
                error instanceof Error ? `${error.name}: ${error.message}` : String(error)
              }); they get it when their cluster is created or deleted, or at the next start`,
            ),
        )
      : Promise.resolve();
  return {
    name: 'aws',
    functions: createAwsFunctionProvider(config, {
      lambda,
      sleep,
      retry: deps.retry,
      activePoll: deps.functionActivePoll,
      readZip: deps.readZip,
    }),
    clusters,
    platform: config.ecs
      ? createAwsPlatformStatus(config, {
          ecs: deps.ecs ?? new ECSClient({ region: config.region }),
          sleep,
          retry: deps.retry,
        })
      : undefined,
    started,
  };
}
