import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchemaValidationError,
  FastifyTypeProvider,
} from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AppError, isFromWorkerCluster, isUnreachable } from '../lib/errors.js';

/** Fastify's own client errors under the API's snake_case codes; every 4xx body carries one. */
const FASTIFY_CODES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
};

function clientErrorCode(status: number, code: string | undefined): string {
  if (status === 413) return 'payload_too_large';
  if (code && FASTIFY_CODES[code]) return FASTIFY_CODES[code];
  if (status === 415) return 'unsupported_media_type';
  return code || 'bad_request';
}

/** The load-shedding answer while the public API's event loop runs more than its limit behind. */
export class Overloaded extends AppError {
  constructor() {
    super(
      503,
      'the tenant-manager is overloaded (its event loop is running behind); try again shortly',
      'overloaded',
    );
  }
}

/** The body of every 500: nothing of what failed reaches the client (it is logged). */
const INTERNAL_ERROR = { message: 'internal server error', code: 'internal_error' } as const;

/**
 * What the router refuses before any route or error handler runs, in the API's `{message, code}`
 * shape rather than Fastify's own: a URL whose escapes do not decode, a path value (a ref, a key
 * id) past the router's 100 characters.
 */
export function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply
      .status(414)
      .send({ message: 'a path value is longer than 100 characters', code: 'path_value_too_long' });
  } else if (error.code === 'FST_ERR_BAD_URL') {
    reply.status(400).send({
      message: `malformed URL '${request.url}': its %-escapes do not decode (each is % and two hex digits, together UTF-8)`,
      code: 'bad_url',
    });
  } else {
    request.log.error({ code: error.code, err: error.message }, 'router error');
    reply.status(500).send(INTERNAL_ERROR);
  }
}

/**
 * Fastify's wording of a validation failure (`body/limits must be <= 10000`), naming the field
 * that is not allowed where Ajv alone would not.
 */
export function validationMessage(errors: FastifySchemaValidationError[], dataVar: string): Error {
  return new Error(
    errors
      .map((e) => {
        const extra = e.params.additionalProperty;
        return `${dataVar}${e.instancePath} ${e.message}${typeof extra === 'string' ? `: '${extra}'` : ''}`;
      })
      .join(', '),
  );
}

/**
 * One error handler for both apps: AppErrors and client errors keep their precise message, anything
 * else is logged and answered with a bare 500 (no stack, no SQL, no secrets).
 */
export function installErrorHandling<P extends FastifyTypeProvider>(
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, P>,
): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      return reply.status(error.statusCode).send({ message: error.message, code: error.code });
    }
    if (error.validation) {
      return reply.status(400).send({ message: error.message, code: 'validation_failed' });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = clientErrorCode(status, error.code);
      const message =
        code === 'invalid_json' || error instanceof SyntaxError
          ? `malformed JSON body: ${error.message}`
          : error.message;
      return reply.status(status).send({ message, code });
    }
    if (isUnreachable(error)) {
      const cluster = isFromWorkerCluster(error);
      // The message alone: a connection error can carry the client object, with its credentials.
      request.log.warn({ err: error.message, code: error.code }, 'a database is not reachable');
      return reply
        .status(503)
        .header('retry-after', '5')
        .send(
          cluster
            ? {
                message: "the project's worker database cluster is not reachable; try again shortly",
                code: 'database_unreachable',
              }
            : {
                message: 'the management database is not reachable; try again shortly',
                code: 'management_database_unreachable',
              },
        );
    }
    request.log.error({ err: error }, 'request failed');
    return reply.status(status >= 500 ? status : 500).send(INTERNAL_ERROR);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      message: `route ${request.method} ${request.url.split('?')[0]} not found`,
      code: 'route_not_found',
    }),
  );
}
