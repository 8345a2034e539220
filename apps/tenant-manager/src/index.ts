export { buildApp } from './app.js';
export { loadConfig } from './config.js';
export { startTenantManager } from './server.js';
export type * from './providers/types.js';
