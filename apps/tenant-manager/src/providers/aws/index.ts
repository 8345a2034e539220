import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import type { Provider } from '../types.js';
import { createAwsClusterProvider } from './clusters.js';
import { type AwsProviderConfig, AwsProviderConfigError, parseAwsProviderConfig } from './config.js';
import { createAwsFunctionProvider } from './functions.js';
import { createAwsPlatformStatus } from './platform.js';
import { type PollPolicy, type RetryPolicy, realSleep, type Sleep } from './retry.js';

export type { AwsProviderConfig, RestArtifact } from './config.js';
export { AwsProviderConfigError, parseAwsProviderConfig } from './config.js';
export { restFunctionName } from './functions.js';

export interface AwsProviderDeps {
  /** SDK clients; default: new clients for `config.region` with the default credential chain. */
  readonly lambda?: LambdaClient;
  readonly rds?: RDSClient;
  readonly logs?: CloudWatchLogsClient;
  readonly ecs?: ECSClient;
  readonly sleep?: Sleep;
  readonly retry?: RetryPolicy;
  readonly functionActivePoll?: PollPolicy;
  readonly clusterAvailablePoll?: PollPolicy;
  readonly generatePassword?: () => string;
  readonly readZip?: (path: string) => Promise<Uint8Array>;
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
export function createAwsProvider(input: AwsProviderInput, deps: AwsProviderDeps = {}): Provider {
  const config = resolveConfig(input);
  const sleep = deps.sleep ?? realSleep;
  const lambda = deps.lambda ?? new LambdaClient({ region: config.region });
  return {
    name: 'aws',
    functions: createAwsFunctionProvider(config, {
      lambda,
      sleep,
      retry: deps.retry,
      activePoll: deps.functionActivePoll,
      readZip: deps.readZip,
    }),
    clusters: config.workerCluster
      ? createAwsClusterProvider(config, {
          rds: deps.rds ?? new RDSClient({ region: config.region }),
          logs: deps.logs ?? new CloudWatchLogsClient({ region: config.region }),
          sleep,
          retry: deps.retry,
          availablePoll: deps.clusterAvailablePoll,
          generatePassword: deps.generatePassword,
        })
      : undefined,
    platform: config.ecs
      ? createAwsPlatformStatus(config, {
          ecs: deps.ecs ?? new ECSClient({ region: config.region }),
          sleep,
          retry: deps.retry,
        })
      : undefined,
  };
}
