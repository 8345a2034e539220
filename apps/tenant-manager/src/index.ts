export { type BuildAppOptions, buildApp, type TenantManagerApp } from './app.js';
export { loadConfig, type TenantManagerConfig } from './config.js';
export { type RunningTenantManager, startTenantManager } from './server.js';
export type * from './providers/types.js';
