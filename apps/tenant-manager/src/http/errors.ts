import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyTypeProvider } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AppError, isFromWorkerCluster, isUnreachable } from '../lib/errors.js';

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
      const code =
        status === 413
          ? 'payload_too_large'
          : error.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
            ? 'invalid_json'
            : error.code;
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
    return reply.status(status >= 500 ? status : 500).send({ message: 'internal server error' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ message: `route ${request.method} ${request.url.split('?')[0]} not found` }),
  );
}
