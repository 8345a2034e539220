import { ConfigError, loadGatewayConfig } from './config.js';
import { startGateway } from './server.js';

try {
  const config = loadGatewayConfig(process.env);
  const running = await startGateway(config);
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  const message = error instanceof ConfigError ? error.message : 'gateway failed to start';
  console.error(
    JSON.stringify({
      level: 'fatal',
      msg: message,
      detail: error instanceof Error ? error.message : undefined,
    }),
  );
  process.exit(1);
}
