export { MAX_BODY_BYTES, MAX_RESPONSE_BYTES, startLambdaEmulator } from './emulator.js';
export type { LambdaEmulator, LambdaEmulatorOptions } from './emulator.js';
export type {
  FunctionRegistration,
  FunctionState,
  Handler,
  Logger,
  RuntimeFactory,
} from './function-registry.js';
export { buildEvent, resultToReply } from './function-url-event.js';
export type { FunctionUrlEvent, FunctionUrlResult } from './function-url-event.js';
export { MAX_SKEW_MS, SIGNATURE_MISMATCH, createSigV4Verifier, signableQuery } from './sigv4-verify.js';
export type { ReceivedRequest, SigV4Result, StaticCredentials } from './sigv4-verify.js';
