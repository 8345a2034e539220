export { startLambdaEmulator } from './emulator.js';
export type { LambdaEmulator } from './emulator.js';
export type { RuntimeFactory } from './function-registry.js';
