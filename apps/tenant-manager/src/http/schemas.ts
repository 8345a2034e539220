import { type ObjectOptions, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import { LIMIT_RANGES } from '../lib/limits.js';
import { DB_EXTRA_SEARCH_PATH, POSTGREST_RANGES } from '../lib/project-settings.js';
import { API_PROJECT_STATUSES } from '../lib/projects.js';
import { HEALTH_SERVICES, MAX_HEALTH_TIMEOUT_MS } from '../lib/project-health.js';
import { MAX_USAGE_DAYS, MAX_USAGE_HOURS } from '../lib/usage.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/**
 * An integer or null as one schema (`nullable`), not a union: with Fastify's type coercion a union
 * would turn an out-of-range 0 into null instead of refusing it.
 */
const NullableInteger = (options: { minimum?: number; maximum?: number; description?: string } = {}) =>
  Type.Unsafe<number | null>({ type: 'integer', nullable: true, ...options });
/** The same for a string in a request: as a union, coercion would turn null into "". */
const NullableString = (options: { maxLength?: number; description?: string } = {}) =>
  Type.Unsafe<string | null>({ type: 'string', nullable: true, ...options });

/**
 * A request body object: a field it does not have is refused (400 naming it), never ignored, so a
 * typo (`reff`, `limit`) cannot pass for a request that changed nothing.
 */
export const Body = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  Type.Object(properties, { ...options, additionalProperties: false });

/** A body that may be left out (no body, or an empty one): the object, or nothing at all. */
const OptionalBody = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  Type.Union([Body(properties, options), Type.Null()]);

/** Whether a route's body schema lets the body be left out (none at all, or {@link OptionalBody}). */
export const takesNoBody = (schema: unknown): boolean =>
  schema === undefined ||
  ((schema as { anyOf?: { type?: string }[] }).anyOf ?? []).some((branch) => branch.type === 'null');

const ErrorBody = Type.Object(
  {
    message: Type.String(),
    code: Type.String({
      description:
        'Stable, machine-readable: e.g. not_found, validation_failed, invalid_status, a SQLSTATE from the SQL endpoint',
    }),
  },
  { $id: 'Error', description: 'Every 4xx/5xx answer' },
);
/** Shared error responses; 5xx bodies never carry internals. */
export const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

/** Supabase's project statuses (a paused project is INACTIVE). */
const ProjectStatus = Type.Union(API_PROJECT_STATUSES.map((s) => Type.Literal(s)));

const ProjectLimits = Type.Object({
  db_connections: Type.Integer({
    description: "CONNECTION LIMIT of the project's database on its worker cluster",
  }),
  requests_per_second: NullableInteger({ description: 'Enforced by the gateways; null: no limit' }),
  burst: NullableInteger({ description: 'Requests allowed above the rate at once; null without a rate' }),
  db_size_mb: NullableInteger({
    description: "MiB past which the project's database is made read-only; null: no limit",
  }),
});

/** Supabase's V1ProjectRefResponse: what a delete answers (an update adds the limits in force). */
export const ProjectRef = Type.Object({
  id: Type.Integer({ description: "Supabase's integer project id: given once, never reused" }),
  ref: Type.String(),
  name: Type.String(),
});
export const UpdatedProject = Type.Object({
  ...ProjectRef.properties,
  limits: ProjectLimits,
});

export const Project = Type.Object({
  id: Type.String({ description: "The project's ref, as Supabase's deprecated id is" }),
  ref: Type.String(),
  name: Type.String(),
  status: ProjectStatus,
  region: Type.String({
    description: "The cluster's region, or the one asked for until it is placed; '' when neither",
  }),
  cluster_id: Nullable(Type.String()),
  organization_id: Type.String({
    description: "The platform's one organization (ORGANIZATION_SLUG), as Supabase's",
  }),
  organization_slug: Type.String({ description: 'The same: an organization is named by its slug' }),
  created_at: Type.String({ format: 'date-time' }),
  endpoint: Type.String({ description: "The project's public URL" }),
  last_error: Nullable(
    Type.String({
      description:
        'Why provisioning is retrying (COMING_UP) or failed (INIT_FAILED), or why a pause, restore or delete has not finished yet (PAUSING, RESTORING, GOING_DOWN) or failed (PAUSE_FAILED, RESTORE_FAILED): an error message, never a secret; null otherwise',
    }),
  ),
  limits: ProjectLimits,
});

/** A project as Supabase's list and get answer it (V1ProjectWithDatabaseResponse): with its database. */
export const ProjectWithDatabase = Type.Object({
  ...Project.properties,
  database: Type.Object({
    host: Type.String({
      description: "Where to connect to the project's database: its worker cluster's host",
    }),
    version: Type.String({ description: "The cluster's Postgres version (server_version); '' until read" }),
    postgres_engine: Type.String({ description: 'Its major version' }),
    release_channel: Type.String({ description: 'Always ga' }),
  }),
});

/** Any subset; a rate without a burst gets burst = rate; `requests_per_second: null` removes the rate. */
const LimitsBody = Body({
  db_connections: Type.Optional(Type.Integer(LIMIT_RANGES.db_connections)),
  requests_per_second: Type.Optional(NullableInteger(LIMIT_RANGES.requests_per_second)),
  burst: Type.Optional(
    NullableInteger({ ...LIMIT_RANGES.burst, description: 'At least requests_per_second (default equal)' }),
  ),
  db_size_mb: Type.Optional(
    NullableInteger({ ...LIMIT_RANGES.db_size_mb, description: 'null removes the database size limit' }),
  ),
});

export const RefParams = Type.Object({ ref: Type.String({ maxLength: 100 }) });
/** A project's child resource (API key, signing key) by its uuid. */
export const IdParams = Type.Object({
  ref: Type.String({ maxLength: 100 }),
  id: Type.String({ format: 'uuid' }),
});

export const NewProjectBody = Body({
  name: Type.String({ maxLength: 1000 }),
  ref: Type.Optional(Type.String({ maxLength: 100, description: 'Default: 20 random lower-case letters' })),
  cluster_id: Type.Optional(Type.String({ format: 'uuid' })),
  region: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  limits: Type.Optional(LimitsBody),
  organization_slug: Type.Optional(
    Type.String({
      maxLength: 100,
      description: "Supabase's: the organization to create it in; here the platform's one (400 otherwise)",
    }),
  ),
  db_pass: Type.Optional(
    Type.String({
      maxLength: 1000,
      description:
        "Password of the project's owner role, for direct connections (8 to 128 printable ASCII characters); default: a random one nobody knows until set with PATCH …/database/password",
    }),
  ),
  organization_id: Type.Optional(
    Type.String({ maxLength: 100, description: "Supabase's deprecated name for organization_slug" }),
  ),
  region_selection: Type.Optional(
    Body(
      {
        type: Type.Union([Type.Literal('specific'), Type.Literal('smartGroup')]),
        code: Type.String({ minLength: 1, maxLength: 64 }),
      },
      {
        description:
          "Supabase's: {type: 'specific', code} is the region (not with region); smart groups are refused (unsupported_setting)",
      },
    ),
  ),
  desired_instance_size: Type.Optional(
    Type.String({
      maxLength: 100,
      description: "Supabase's: refused (unsupported_setting), no instance sizes here",
    }),
  ),
  template_url: Type.Optional(
    Type.String({
      maxLength: 2000,
      description: "Supabase's: refused (unsupported_setting), no templates here",
    }),
  ),
  plan: Type.Optional(
    Type.Union([Type.Literal('free'), Type.Literal('pro')], {
      description: "Supabase's, deprecated: ignored",
    }),
  ),
  kps_enabled: Type.Optional(Type.Boolean({ description: "Supabase's, deprecated: ignored" })),
});

export const ProjectPatchBody = Body(
  { name: Type.Optional(Type.String({ maxLength: 1000 })), limits: Type.Optional(LimitsBody) },
  { minProperties: 1 },
);

export const ListProjectsQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1000, description: 'Default: every project, as Supabase answers' }),
  ),
  // Bounded: past bigint an OFFSET is a database error, not an empty page.
  offset: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 }),
  status: Type.Optional(
    Type.Union([...ProjectStatus.anyOf, Type.Literal('PAUSED', { description: 'The old name of INACTIVE' })]),
  ),
});

const ApiUsageFields = {
  requests: Type.Integer(),
  by_service: Type.Record(Type.String(), Type.Integer(), {
    description: 'rest, auth, storage, functions, realtime, graphql, other (absent: none)',
  }),
  by_status: Type.Record(Type.String(), Type.Integer(), { description: '2xx, 3xx, 4xx, 5xx (absent: none)' }),
  rate_limited: Type.Integer({ description: "Refused by the project's rate limit (also in 4xx)" }),
  ingress_bytes: Type.Integer({ description: 'Request bodies forwarded to the project' }),
  egress_bytes: Type.Integer({ description: "Response bodies relayed from the project's services" }),
};

const UsageWindowFields = {
  hours: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_USAGE_HOURS,
      description: 'The last N UTC hours, the current one included (default 24)',
    }),
  ),
  days: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_USAGE_DAYS,
      description: 'Or the last N UTC days, today included (not with hours)',
    }),
  ),
};

export const UsageQuery = Type.Object(UsageWindowFields);

const UsageGranularity = Type.Union([Type.Literal('hour'), Type.Literal('day')]);

export const ProjectUsage = Type.Object({
  ref: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  granularity: UsageGranularity,
  api: Nullable(Type.Object(ApiUsageFields)),
  series: Nullable(
    Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), ...ApiUsageFields }), {
      description: 'The hours or days of the window that saw requests, oldest first',
    }),
  ),
  database: Nullable(
    Type.Object({
      size_bytes: Type.Integer(),
      connections: Type.Integer({ description: 'Open connections to the project database now' }),
      connection_limit: Type.Integer(),
      size_limit_bytes: Nullable(Type.Integer({ description: 'limits.db_size_mb in bytes; null: no limit' })),
      read_only: Type.Boolean({
        description: 'The platform made the database read-only because it outgrew its size limit',
      }),
    }),
  ),
  unavailable: Type.Array(Type.String(), {
    description: 'Sections left null because their source is down or not configured (api, database)',
  }),
});

export const PlatformUsageQuery = Type.Object({
  ...UsageWindowFields,
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
});

export const PlatformUsage = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  granularity: UsageGranularity,
  projects: Type.Array(
    Type.Object({ ref: Type.String(), name: Nullable(Type.String()), requests: Type.Integer() }),
    { description: 'The busiest projects of the window, most requests first' },
  ),
});

/** What `PATCH /postgrest` answers (no secret, as Supabase's). */
export const PostgrestSettings = Type.Object({
  db_schema: Type.String({ description: 'The exposed schemas, comma-separated; the first is the default' }),
  max_rows: Type.Integer({ description: 'Most rows one response returns (PostgREST db-max-rows)' }),
  db_extra_search_path: Type.String({
    description: "PostgREST's db-extra-search-path: fixed here, searched after the exposed schema",
  }),
  db_pool: NullableInteger({
    description:
      "Supabase's: null, the data API's pools are sized by the platform (limits.db_connections caps them)",
  }),
  db_aggregates_enabled: Type.Boolean({
    description: "Supaplane's extension: PostgREST's db-aggregates-enabled (count(), sum(), … in select)",
  }),
});

export const PostgrestConfig = Type.Object({ ...PostgrestSettings.properties, jwt_secret: Type.String() });

/** Any subset (at least one field); Supabase's PATCH /v1/projects/{ref}/postgrest plus the aggregates switch. */
export const PostgrestConfigPatchBody = Body(
  {
    db_schema: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: `Comma-separated, at most ${POSTGREST_RANGES.schemas} (duplicates dropped); not pg_*, information_schema, auth or supaplane`,
      }),
    ),
    max_rows: Type.Optional(Type.Integer(POSTGREST_RANGES.max_rows)),
    db_aggregates_enabled: Type.Optional(Type.Boolean({ description: 'Default false, as in PostgREST' })),
    db_extra_search_path: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: `Supabase's: taken when it is the data API's own, '${DB_EXTRA_SEARCH_PATH}' (400 unsupported_setting otherwise)`,
      }),
    ),
    db_pool: Type.Optional(
      NullableInteger({
        minimum: 0,
        maximum: 1000,
        description: "Supabase's: only null (automatic) is taken (400 unsupported_setting otherwise)",
      }),
    ),
  },
  { minProperties: 1 },
);

export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.Union([Type.Literal('publishable'), Type.Literal('secret')]),
  api_key: Type.String({ description: 'Secret keys are masked unless ?reveal=true' }),
  prefix: Type.String(),
  hash: Type.String({ description: 'Hex SHA-256 of the key (gateway lookup hash)' }),
  description: Nullable(Type.String()),
  inserted_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const RevealQuery = Type.Object({ reveal: Type.Boolean({ default: false }) });

/** Supabase's revoke query: `reveal`, and what the operator says about the key (logged). */
export const RevokeApiKeyQuery = Type.Object({
  reveal: Type.Boolean({ default: false }),
  was_compromised: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
});

export const NewApiKeyBody = Body({
  type: Type.Union([Type.Literal('publishable'), Type.Literal('secret')]),
  name: Type.String({ maxLength: 200 }),
  description: Type.Optional(NullableString({ maxLength: 1000 })),
});

export const ApiKeyPatchBody = Body(
  {
    name: Type.Optional(Type.String({ maxLength: 200 })),
    description: Type.Optional(NullableString({ maxLength: 1000 })),
  },
  { minProperties: 1 },
);

/** Supabase's `POST /v1/projects/{ref}/database/query` body. */
export const RunQueryBody = Body({
  query: Type.String({ minLength: 1 }),
  parameters: Type.Optional(
    Type.Array(Type.Unknown(), {
      maxItems: 65_535,
      description: 'Values of $1, $2, … (then the query is one statement, as Postgres prepares it)',
    }),
  ),
  read_only: Type.Optional(
    Type.Boolean({
      description:
        'One statement in a read-only transaction that is always rolled back: a write answers 400 25006, nothing it does is kept',
    }),
  ),
});

export const SecretItem = Type.Object({
  name: Type.String(),
  value: Type.String({ description: 'SHA-256 digest of the value; the value is never returned' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const NewSecretsBody = Type.Array(
  Body({ name: Type.String({ maxLength: 256 }), value: Type.String() }),
  { minItems: 1, maxItems: 100 },
);
export const DeleteSecretsBody = Type.Array(Type.String({ maxLength: 256 }), { minItems: 1, maxItems: 100 });

/**
 * The public half of a signing key, as a JWKS carries it: EC P-256 (x, y), RSA (n, e) or OKP Ed25519
 * (x). Only these members are serialised, so a private part can never be answered.
 */
const PublicJwk = Type.Object(
  {
    kty: Type.Union([Type.Literal('EC'), Type.Literal('RSA'), Type.Literal('OKP')]),
    crv: Type.Optional(Type.Union([Type.Literal('P-256'), Type.Literal('Ed25519')])),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
    kid: Type.String(),
    alg: Type.Union([Type.Literal('ES256'), Type.Literal('RS256'), Type.Literal('EdDSA')]),
    use: Type.Literal('sig'),
  },
  { additionalProperties: false, description: 'A public JWK: never a private part' },
);

const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'RS256', 'HS256'] as const;

export const SigningKey = Type.Object({
  id: Type.String(),
  algorithm: Type.Union(SIGNING_ALGORITHMS.map((a) => Type.Literal(a))),
  status: Type.Union(['in_use', 'standby', 'previously_used', 'revoked'].map((s) => Type.Literal(s))),
  public_jwk: Type.Union([PublicJwk, Type.Null()], {
    description: 'null for an HS256 key (a shared secret has no public half)',
  }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

/** Supabase's create body, as far as it is honoured here: ES256 keys, made in standby. */
export const NewSigningKeyBody = OptionalBody({
  algorithm: Type.Optional(Type.Literal('ES256')),
  status: Type.Optional(Type.Literal('standby', { description: 'Rotate to put it in use' })),
});

const SIGNING_KEY_STATUSES = ['in_use', 'previously_used', 'revoked', 'standby'] as const;

/**
 * Supabase's CreateSigningKeyBody at `/config/auth/signing-keys`: `algorithm` required; a key of it
 * is made here (RSA 2048, P-256, Ed25519, a 256-bit secret) unless `private_jwk` brings one to import.
 */
export const CreateSigningKeyBody = Body({
  algorithm: Type.Union(SIGNING_ALGORITHMS.map((a) => Type.Literal(a))),
  status: Type.Optional(
    Type.Union([Type.Literal('standby'), Type.Literal('in_use')], {
      description: 'Default standby; in_use puts it in use at once (the key in use becomes previously_used)',
    }),
  ),
  private_jwk: Type.Optional(
    Type.Object(
      {},
      {
        additionalProperties: true,
        description:
          "A private JWK to import, of the algorithm's kty (RSA, EC P-256, OKP Ed25519, oct) with every private member; its kid (a uuid) becomes the key's id. Never answered back.",
      },
    ),
  ),
});

/** Supabase's UpdateSigningKeyBody. */
export const UpdateSigningKeyBody = Body({
  status: Type.Union(SIGNING_KEY_STATUSES.map((s) => Type.Literal(s))),
});

export const Jwks = Type.Object(
  { keys: Type.Array(PublicJwk) },
  { description: 'RFC 7517 JWK Set, as served at /auth/v1/.well-known/jwks.json by hosted Supabase' },
);

/** What an operator may set; `deleting` is only ever the platform's. */
const SettableClusterStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('draining'),
  Type.Literal('offline'),
]);
const ClusterStatus = Type.Union([...SettableClusterStatus.anyOf, Type.Literal('deleting')]);

export const Cluster = Type.Object({
  id: Type.String(),
  name: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  admin_user: Type.String(),
  admin_database: Type.String(),
  ssl: Type.Boolean(),
  capacity: Type.Integer(),
  weight: Type.Integer(),
  region: Type.String(),
  status: ClusterStatus,
  project_count: Type.Integer(),
  external_id: Nullable(Type.String()),
  last_error: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const NewClusterBody = Body({
  name: Type.String({ maxLength: 100 }),
  host: Type.String({ minLength: 1, maxLength: 255 }),
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 5432 }),
  admin_user: Type.String({ minLength: 1, maxLength: 63 }),
  admin_password: Type.String({ minLength: 1, maxLength: 1000 }),
  admin_database: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  ssl: Type.Optional(Type.Boolean()),
  capacity: Type.Integer({ minimum: 0, maximum: 100_000 }),
  weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  region: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  status: Type.Optional(SettableClusterStatus),
  external_id: Type.Optional(Type.String({ maxLength: 255 })),
});

export const ClusterPatchBody = Body({
  capacity: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
  weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  region: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  status: Type.Optional(SettableClusterStatus),
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  admin_user: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  admin_password: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
});

export const ClusterParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const HealthQuery = Type.Object({
  services: Type.Array(Type.String({ maxLength: 200 }), {
    minItems: 1,
    maxItems: 32,
    description: `Required, as Supabase's: repeated or comma-separated, of ${HEALTH_SERVICES.join(', ')}`,
  }),
  timeout_ms: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_HEALTH_TIMEOUT_MS,
      description: 'How long each check may take (default 2000)',
    }),
  ),
});

export const ServiceHealth = Type.Object({
  name: Type.Union(HEALTH_SERVICES.map((s) => Type.Literal(s))),
  healthy: Type.Boolean({ description: "Deprecated (Supabase's): status is ACTIVE_HEALTHY" }),
  status: Type.Union([Type.Literal('COMING_UP'), Type.Literal('ACTIVE_HEALTHY'), Type.Literal('UNHEALTHY')]),
  info: Type.Optional(Type.Object({ db_schema: Type.String() })),
  error: Type.Optional(Type.String({ description: 'Why the service is not ACTIVE_HEALTHY' })),
});

export const SlugParams = Type.Object({
  slug: Type.String({ maxLength: 100, pattern: '^[a-z0-9][a-z0-9-]*$', description: 'Lower-case' }),
});

export const OrganizationSummary = Type.Object({
  id: Type.String({ description: 'The slug, as Supabase answers it' }),
  slug: Type.String(),
  name: Type.String(),
});

export const OrganizationDetail = Type.Object({
  ...OrganizationSummary.properties,
  plan: Type.Literal('free', {
    description: 'No billing: an operator-only platform charges nothing per project',
  }),
  opt_in_tags: Type.Array(Type.String()),
  allowed_release_channels: Type.Array(Type.String()),
});

/** Supabase's Edge Function object; the list is always empty here (no Edge Functions are hosted). */
export const EdgeFunction = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  status: Type.String(),
  version: Type.Integer(),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
});
