import { loadConfig } from './config.js';
import { startTenantManager } from './server.js';

// Entry point for containers: configuration comes from the environment, read here and only here.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env);
} catch (error) {
  console.error(`tenant-manager: ${(error as Error).message}`);
  process.exit(1);
}
const running = await startTenantManager(config).catch((error: Error) => {
  console.error(`tenant-manager: failed to start: ${error.message}`);
  process.exit(1);
});
console.log(
  JSON.stringify({
    msg: 'tenant-manager listening',
    publicUrl: running.publicUrl,
    internalUrl: running.internalUrl,
  }),
);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
