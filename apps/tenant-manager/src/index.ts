export { type AppConfig, type BuildAppOptions, buildApp, type TenantManagerApp } from './app.js';
export { loadConfig, parseMasterKey, type TenantManagerConfig } from './config.js';
export { type RunningTenantManager, startTenantManager } from './server.js';
export type { Clock, Faults, ProvisioningStep, TransitionStep } from './lib/context.js';
export { PROVISIONING_STEPS, TRANSITION_STEPS } from './lib/context.js';
export {
  apiKeyCacheKey,
  INVALIDATION_CHANNEL,
  type InvalidationMessage,
  projectCacheKey,
} from './lib/invalidation.js';
export { createLocalProvider } from './providers/local.js';
export type * from './providers/types.js';
