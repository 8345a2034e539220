export {
  type CacheConfig,
  ConfigError,
  type GatewayConfig,
  LAMBDA_BODY_LIMIT,
  loadGatewayConfig,
} from './config.js';
export { type Clock, systemClock } from './clock.js';
export { type CredentialsSource, refreshingCredentials, staticCredentials } from './credentials.js';
export { type Gateway, type GatewayOptions, type ReadyReport, buildGateway } from './gateway.js';
export { type InternalApi, type OriginResult, createInternalApiClient } from './internal-api.js';
export { type GatewayMetrics, createGatewayMetrics } from './metrics.js';
export type { ApiKeyRecord, ProjectRecord, UpstreamRecord } from './records.js';
export { INVALIDATION_CHANNEL, apiKeyRedisKey, projectRedisKey } from './redis-layer.js';
export { localhostLookup } from './localhost-lookup.js';
export { type RunningGateway, createUpstreamAgent, redisFactory, startGateway } from './server.js';
export { type AwsCredentials, type SigV4Signer, createSigV4Signer } from './sigv4.js';
