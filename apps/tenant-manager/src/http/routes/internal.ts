import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { findKeyByHash } from '../../lib/api-keys.js';
import type { Context } from '../../lib/context.js';
import { notFound } from '../../lib/errors.js';
import { gatewayProjectConfig, restConfig } from '../../lib/internal-config.js';
import { errors, RefParams } from '../schemas.js';

const Jwks = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) });
/** HS256 signing keys (`kid`, secret `k`): for verifying only, kept apart from the public `jwks`. */
const SharedKeys = Type.Array(Type.Object({ kid: Type.String(), k: Type.String() }));
const Upstream = Type.Union([
  Type.Object({
    kind: Type.Union([Type.Literal('lambda-url'), Type.Literal('http')]),
    url: Type.String(),
    region: Type.String(),
  }),
  Type.Null(),
]);

/** The internal API (docs/contracts.md): what the gateway and the rest functions read. */
export const internalRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    '/internal/v1/projects/:ref/config',
    {
      schema: {
        params: RefParams,
        response: {
          200: Type.Object({
            ref: Type.String(),
            status: Type.String(),
            jwtSecret: Type.String(),
            jwks: Jwks,
            sharedKeys: SharedKeys,
            upstreams: Type.Object({ rest: Upstream, auth: Upstream }),
            rateLimit: Type.Union([
              Type.Object({ requestsPerSecond: Type.Integer(), burst: Type.Integer() }),
              Type.Null(),
            ]),
            version: Type.Integer(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const config = await gatewayProjectConfig(ctx, request.params.ref);
      if (!config) throw notFound();
      return config;
    },
  );

  app.get(
    '/internal/v1/projects/:ref/rest-config',
    {
      schema: {
        params: RefParams,
        response: {
          200: Type.Object({
            ref: Type.String(),
            db: Type.Object({
              host: Type.String(),
              port: Type.Integer(),
              database: Type.String(),
              user: Type.String(),
              password: Type.String(),
              ssl: Type.Boolean(),
            }),
            dbSchemas: Type.Array(Type.String()),
            maxRows: Type.Integer(),
            dbAggregatesEnabled: Type.Boolean(),
            statementTimeoutMs: Type.Integer(),
            jwtSecret: Type.String(),
            jwks: Jwks,
            sharedKeys: SharedKeys,
            version: Type.Integer(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const config = await restConfig(ctx, request.params.ref);
      if (!config) throw notFound();
      return config;
    },
  );

  app.get(
    '/internal/v1/api-keys/:hash',
    {
      schema: {
        params: Type.Object({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        response: {
          200: Type.Object({
            ref: Type.String(),
            keyId: Type.String(),
            type: Type.Union([Type.Literal('publishable'), Type.Literal('secret')]),
            role: Type.Union([Type.Literal('anon'), Type.Literal('service_role')]),
            status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const record = await findKeyByHash(ctx, request.params.hash);
      if (!record) throw notFound('api key');
      return record;
    },
  );
};
