import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from '@sinclair/typebox';
import {
  createApiKey,
  getApiKey,
  listApiKeys,
  MAX_ACTIVE_API_KEYS,
  revokeApiKey,
  updateApiKey,
} from '../../lib/api-keys.js';
import type { Context } from '../../lib/context.js';
import { AppError } from '../../lib/errors.js';
import { deleteSecrets, listSecrets, upsertSecrets } from '../../lib/secrets.js';
import {
  createSigningKey,
  getLegacySigningKey,
  getSigningKey,
  listSigningKeys,
  MAX_SIGNING_KEYS,
  projectJwks,
  removeSigningKey,
  revokeSigningKey,
  rotateSigningKeys,
  setUpLegacySigningKey,
  updateSigningKeyStatus,
} from '../../lib/signing-keys.js';
import { requireProjectRow } from '../../lib/projects.js';
import {
  ApiKey,
  ApiKeyPatchBody,
  CreateSigningKeyBody,
  IdParams,
  Jwks,
  DeleteSecretsBody,
  errors,
  NewApiKeyBody,
  NewSecretsBody,
  NewSigningKeyBody,
  RefParams,
  RevealQuery,
  RevokeApiKeyQuery,
  SecretItem,
  SigningKey,
  UpdateSigningKeyBody,
} from '../schemas.js';

/** API keys, function secrets and JWT signing keys of a project. */
export const projectCredentialRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    '/v1/projects/:ref/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'List active API keys (secret keys masked unless reveal=true)',
        params: RefParams,
        querystring: RevealQuery,
        response: { 200: Type.Array(ApiKey), ...errors },
      },
    },
    (request) => listApiKeys(ctx, request.params.ref, request.query.reveal),
  );

  app.post(
    '/v1/projects/:ref/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: `Create an API key (at most ${MAX_ACTIVE_API_KEYS} active per project; names unique per type among active keys)`,
        params: RefParams,
        querystring: RevealQuery,
        body: NewApiKeyBody,
        response: { 201: ApiKey, ...errors },
      },
    },
    async (request, reply) => {
      const key = await createApiKey(ctx, request.params.ref, request.body, request.query.reveal);
      return reply
        .status(201)
        .header('location', `/v1/projects/${request.params.ref}/api-keys/${key.id}`)
        .send(key);
    },
  );

  // Supabase's switch for its JWT-based anon/service_role keys. This platform never had them (only
  // sb_publishable_/sb_secret_ keys), so they are always off, and cannot be turned on.
  const LegacyApiKeys = Type.Object({ enabled: Type.Boolean() });
  app.get(
    '/v1/projects/:ref/api-keys/legacy',
    {
      schema: {
        tags: ['api-keys'],
        summary: "Supabase's legacy JWT keys (anon, service_role): always off here",
        params: RefParams,
        response: { 200: LegacyApiKeys, ...errors },
      },
    },
    async (request) => {
      await requireProjectRow(ctx.db, request.params.ref);
      return { enabled: false };
    },
  );

  app.put(
    '/v1/projects/:ref/api-keys/legacy',
    {
      schema: {
        tags: ['api-keys'],
        summary: "Supabase's switch for legacy JWT keys: enabled=false is what they are; true is 400",
        params: RefParams,
        querystring: Type.Object({ enabled: Type.Boolean() }),
        response: { 200: LegacyApiKeys, ...errors },
      },
    },
    async (request) => {
      await requireProjectRow(ctx.db, request.params.ref);
      if (request.query.enabled) {
        throw new AppError(
          400,
          'legacy JWT API keys (anon, service_role) are not offered here; use the sb_publishable_/sb_secret_ keys of POST /v1/projects/:ref/api-keys',
          'unsupported_setting',
        );
      }
      return { enabled: false };
    },
  );

  app.get(
    '/v1/projects/:ref/api-keys/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Get an active API key (a secret key masked unless reveal=true; revoked keys are 404)',
        params: IdParams,
        querystring: RevealQuery,
        response: { 200: ApiKey, ...errors },
      },
    },
    (request) => getApiKey(ctx, request.params.ref, request.params.id, request.query.reveal),
  );

  app.patch(
    '/v1/projects/:ref/api-keys/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: "Change an active API key's name and/or description (the key itself stays)",
        params: IdParams,
        querystring: RevealQuery,
        body: ApiKeyPatchBody,
        response: { 200: ApiKey, ...errors },
      },
    },
    (request) => updateApiKey(ctx, request.params.ref, request.params.id, request.body, request.query.reveal),
  );

  app.delete(
    '/v1/projects/:ref/api-keys/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key (gateways are told at once); answers it, masked unless reveal=true',
        params: IdParams,
        querystring: RevokeApiKeyQuery,
        response: { 200: ApiKey, ...errors },
      },
    },
    (request) => {
      const { reveal, was_compromised, reason } = request.query;
      return revokeApiKey(ctx, request.params.ref, request.params.id, {
        reveal,
        wasCompromised: was_compromised,
        reason,
      });
    },
  );

  app.get(
    '/v1/projects/:ref/secrets',
    {
      schema: {
        tags: ['secrets'],
        summary: 'List function secrets (names and value digests)',
        params: RefParams,
        response: { 200: Type.Array(SecretItem), ...errors },
      },
    },
    (request) => listSecrets(ctx, request.params.ref),
  );

  app.post(
    '/v1/projects/:ref/secrets',
    {
      schema: {
        tags: ['secrets'],
        summary: 'Create or replace function secrets',
        params: RefParams,
        body: NewSecretsBody,
        response: { 201: Type.Object({ message: Type.String() }), ...errors },
      },
    },
    async (request, reply) => {
      await upsertSecrets(ctx, request.params.ref, request.body);
      return reply.status(201).send({ message: `${request.body.length} secret(s) stored` });
    },
  );

  app.delete(
    '/v1/projects/:ref/secrets',
    {
      schema: {
        tags: ['secrets'],
        summary: 'Delete function secrets by name',
        params: RefParams,
        body: DeleteSecretsBody,
        response: { 200: Type.Object({ message: Type.String(), deleted: Type.Integer() }), ...errors },
      },
      // Without a body: refused first, with a message that says what the body must be (Ajv's own
      // would be only 'body must be array').
      preValidation: async (request) => {
        if (request.body === undefined) {
          throw new AppError(400, 'body must be an array of secret names', 'validation_failed');
        }
      },
    },
    async (request) => {
      const deleted = await deleteSecrets(ctx, request.params.ref, request.body);
      return { message: `${deleted} secret(s) deleted`, deleted };
    },
  );

  // Supabase's paths and bodies (its Management API's auth config). The older `/signing-keys`
  // routes below stay as they were: tests/jwt-rotation.test.ts (e2e) drives them, rotate included.
  const supabaseKeys = '/v1/projects/:ref/config/auth/signing-keys';
  const supabaseTags = ['signing-keys'];

  app.get(
    supabaseKeys,
    {
      schema: {
        tags: supabaseTags,
        summary: 'List JWT signing keys (public halves), as Supabase',
        params: RefParams,
        response: { 200: Type.Object({ keys: Type.Array(SigningKey) }), ...errors },
      },
    },
    async (request) => ({ keys: await listSigningKeys(ctx, request.params.ref) }),
  );

  app.post(
    supabaseKeys,
    {
      schema: {
        tags: supabaseTags,
        summary: `Create (ES256, RS256, EdDSA, HS256) or import (private_jwk) a signing key, in standby or at once in use, as Supabase (at most ${MAX_SIGNING_KEYS} that are not revoked)`,
        params: RefParams,
        body: CreateSigningKeyBody,
        response: { 201: SigningKey, ...errors },
      },
    },
    async (request, reply) => {
      const { algorithm, status, private_jwk } = request.body;
      const key = await createSigningKey(ctx, request.params.ref, {
        algorithm,
        status,
        ...(private_jwk ? { privateJwk: private_jwk } : {}),
      });
      return reply
        .status(201)
        .header('location', `/v1/projects/${request.params.ref}/config/auth/signing-keys/${key.id}`)
        .send(key);
    },
  );

  // Before the `/:id` routes: `legacy` is not a key id.
  app.get(
    `${supabaseKeys}/legacy`,
    {
      schema: {
        tags: supabaseTags,
        summary: "The project's JWT secret as a signing key (HS256, no public half); 404 until set up",
        params: RefParams,
        response: { 200: SigningKey, ...errors },
      },
    },
    (request) => getLegacySigningKey(ctx, request.params.ref),
  );

  app.post(
    `${supabaseKeys}/legacy`,
    {
      schema: {
        tags: supabaseTags,
        summary:
          "Set up the project's JWT secret as an in_use HS256 signing key (and an ES256 standby key to rotate to), once: again is 409",
        params: RefParams,
        response: { 201: SigningKey, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await setUpLegacySigningKey(ctx, request.params.ref)),
  );

  app.get(
    `${supabaseKeys}/:id`,
    {
      schema: {
        tags: supabaseTags,
        summary: 'Get a JWT signing key (public half), whatever its status',
        params: IdParams,
        response: { 200: SigningKey, ...errors },
      },
    },
    (request) => getSigningKey(ctx, request.params.ref, request.params.id),
  );

  app.patch(
    `${supabaseKeys}/:id`,
    {
      schema: {
        tags: supabaseTags,
        summary:
          "Change a signing key's status: in_use (the key in use becomes previously_used), standby (from previously_used), revoked (out of the JWKS; not the key in use)",
        params: IdParams,
        body: UpdateSigningKeyBody,
        response: { 200: SigningKey, ...errors },
      },
    },
    (request) => updateSigningKeyStatus(ctx, request.params.ref, request.params.id, request.body.status),
  );

  app.delete(
    `${supabaseKeys}/:id`,
    {
      schema: {
        tags: supabaseTags,
        summary:
          'Remove a standby or revoked signing key (409 for the key in use, or a previously used one not yet revoked)',
        params: IdParams,
        response: { 200: SigningKey, ...errors },
      },
    },
    (request) => removeSigningKey(ctx, request.params.ref, request.params.id),
  );

  app.get(
    '/v1/projects/:ref/signing-keys',
    {
      schema: {
        tags: ['signing-keys'],
        summary: 'List JWT signing keys (public halves)',
        params: RefParams,
        response: { 200: Type.Object({ keys: Type.Array(SigningKey) }), ...errors },
      },
    },
    async (request) => ({ keys: await listSigningKeys(ctx, request.params.ref) }),
  );

  app.post(
    '/v1/projects/:ref/signing-keys',
    {
      schema: {
        tags: ['signing-keys'],
        summary: `Create an ES256 signing key in standby (at most ${MAX_SIGNING_KEYS} that are not revoked)`,
        params: RefParams,
        body: NewSigningKeyBody,
        response: { 201: SigningKey, ...errors },
      },
    },
    async (request, reply) => {
      const key = await createSigningKey(ctx, request.params.ref);
      return reply
        .status(201)
        .header('location', `/v1/projects/${request.params.ref}/signing-keys/${key.id}`)
        .send(key);
    },
  );

  app.get(
    '/v1/projects/:ref/signing-keys/:id',
    {
      schema: {
        tags: ['signing-keys'],
        summary: 'Get a JWT signing key (public half), whatever its status',
        params: IdParams,
        response: { 200: SigningKey, ...errors },
      },
    },
    (request) => getSigningKey(ctx, request.params.ref, request.params.id),
  );

  app.delete(
    '/v1/projects/:ref/signing-keys/:id',
    {
      schema: {
        tags: ['signing-keys'],
        summary:
          'Revoke a standby or previously used signing key: it leaves the JWKS (409 for the key in use, 404 once revoked)',
        params: IdParams,
        response: { 200: SigningKey, ...errors },
      },
    },
    (request) => revokeSigningKey(ctx, request.params.ref, request.params.id),
  );

  app.get(
    '/v1/projects/:ref/jwks',
    {
      schema: {
        tags: ['signing-keys'],
        summary:
          "The project's JWKS: public halves of every signing key that is not revoked (what gateways verify user tokens with)",
        params: RefParams,
        response: { 200: Jwks, ...errors },
      },
    },
    async (request) => {
      const project = await requireProjectRow(ctx.db, request.params.ref);
      // Stored public JWKs; the response schema lets only the public members through.
      return (await projectJwks(ctx, project.id)) as Static<typeof Jwks>;
    },
  );

  app.post(
    '/v1/projects/:ref/signing-keys/rotate',
    {
      schema: {
        tags: ['signing-keys'],
        summary: 'Promote the standby key (created if missing) to in_use',
        params: RefParams,
        response: { 200: Type.Object({ keys: Type.Array(SigningKey) }), ...errors },
      },
    },
    async (request) => ({ keys: await rotateSigningKeys(ctx, request.params.ref) }),
  );
};
