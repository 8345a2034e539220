// What the local stack starts the gateway with; the image runs main.ts.
export { type GatewayConfig, loadGatewayConfig } from './config.js';
export { type RunningGateway, startGateway } from './server.js';
