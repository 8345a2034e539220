export {
  createRestEngine,
  type RestEngine,
  type RestEngineOptions,
  type RestRequest,
  type RestResponse,
} from './engine.js';
export { ApiError, type ErrorBody } from './errors.js';
export {
  createLambdaHandler,
  type FunctionUrlEvent,
  type FunctionUrlResult,
  type LambdaHandler,
} from './lambda.js';
export { parseQuery } from './query-parser.js';
export { loadSchemaCache, type SchemaCache } from './schema-cache.js';
export { type RestServer, type RestServerOptions, startRestServer } from './server.js';
