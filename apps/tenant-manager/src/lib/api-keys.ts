import { API_KEY_ROLE, type ApiKeyType, generateApiKey, hashApiKey, maskApiKey } from '@supaplane/keys';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Context } from './context.js';
import { badRequest, conflict, notFound } from './errors.js';
import { lockProjectForCredentials, requireProjectForCredentials, requireProjectRow } from './projects.js';
import { insertWithinCap } from './transaction.js';

/** An API key in the shape of Supabase's Management API. */
interface ApiKey {
  id: string;
  name: string;
  type: ApiKeyType;
  /** Secret keys are masked unless revealed; publishable keys are public by design. */
  api_key: string;
  prefix: string;
  hash: string;
  description: string | null;
  inserted_at: string;
  updated_at: string;
}

/** What the gateway needs to know about a key, by its hash (docs/contracts.md). */
interface ApiKeyRecord {
  ref: string;
  keyId: string;
  type: ApiKeyType;
  role: 'anon' | 'service_role';
  status: 'active' | 'revoked';
}

const KEY_NAME = /^[a-z_][a-z0-9_]{0,63}$/;
/** Active keys (both types together) a project may hold; revoked keys do not count. */
export const MAX_ACTIVE_API_KEYS = 50;
const keyAad = (id: string) => `api-key:${id}`;

interface KeyRow {
  id: string;
  name: string;
  type: ApiKeyType;
  hash: string;
  prefix: string;
  key_enc: string;
  description: string | null;
  inserted_at: Date;
  updated_at: Date;
}

function toApiKey(ctx: Context, row: KeyRow, reveal: boolean): ApiKey {
  const key = ctx.box.open(row.key_enc, keyAad(row.id));
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    api_key: reveal || row.type === 'publishable' ? key : maskApiKey(key),
    prefix: row.prefix,
    hash: row.hash,
    description: row.description,
    inserted_at: row.inserted_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

async function insertKey(
  ctx: Context,
  db: pg.ClientBase | pg.Pool,
  project: { id: string; ref: string },
  input: { type: ApiKeyType; name: string; description?: string | null },
  onConflict: 'fail' | 'ignore',
): Promise<KeyRow | null> {
  const id = randomUUID();
  const key = generateApiKey(project.ref, input.type);
  const prefix = key.slice(0, key.indexOf('_', 3) + 1 + 4);
  const now = ctx.clock.now();
  try {
    const { rows } = await db.query<KeyRow>(
      `INSERT INTO tm.api_keys (id, project_id, name, description, type, hash, prefix, key_enc, status, inserted_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)
       ${onConflict === 'ignore' ? `ON CONFLICT (project_id, type, name) WHERE status = 'active' DO NOTHING` : ''}
       RETURNING *`,
      [
        id,
        project.id,
        input.name,
        input.description ?? null,
        input.type,
        hashApiKey(key),
        prefix,
        ctx.box.seal(key, keyAad(id)),
        now,
      ],
    );
    return rows[0] ?? null;
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw conflict(`an active ${input.type} key named ${input.name} already exists`, 'duplicate_key_name');
    }
    throw error;
  }
}

/** The default publishable and secret keys of a new project (idempotent provisioning step). */
export async function ensureDefaultKeys(
  ctx: Context,
  db: pg.ClientBase,
  project: { id: string; ref: string },
) {
  for (const type of ['publishable', 'secret'] as const) {
    await insertKey(ctx, db, project, { type, name: 'default' }, 'ignore');
  }
}

export async function listApiKeys(ctx: Context, ref: string, reveal: boolean): Promise<ApiKey[]> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<KeyRow>(
    `SELECT * FROM tm.api_keys WHERE project_id = $1 AND status = 'active' ORDER BY inserted_at, type, name`,
    [project.id],
  );
  return rows.map((row) => toApiKey(ctx, row, reveal));
}

export async function createApiKey(
  ctx: Context,
  ref: string,
  input: { type: ApiKeyType; name: string; description?: string | null },
  reveal: boolean,
): Promise<ApiKey> {
  validKeyName(input.name);
  const project = await requireProjectForCredentials(ctx.db, ref);
  const row = await insertWithinCap(ctx, project.id, API_KEY_CAP, async (db) => {
    await lockProjectForCredentials(db, project.id);
    return insertKey(ctx, db, project, input, 'fail');
  });
  // With 'fail', insertKey answers a row or throws.
  return toApiKey(ctx, row!, reveal);
}

const API_KEY_CAP = {
  name: 'api-keys',
  countSql: `SELECT count(*)::int AS n FROM tm.api_keys WHERE project_id = $1 AND status = 'active'`,
  max: MAX_ACTIVE_API_KEYS,
  code: 'too_many_api_keys',
  message: `the project already has ${MAX_ACTIVE_API_KEYS} active API keys; revoke one first`,
};

const validKeyName = (name: string) => {
  if (!KEY_NAME.test(name)) {
    throw badRequest('invalid key name: lower-case letters, digits and _, at most 64', 'invalid_name');
  }
  return name;
};

/**
 * `PATCH …/api-keys/:id`: a new name and/or description of an active key (as Supabase's Management
 * API; the key itself never changes, so gateways need not be told). Unknown or revoked → 404; a name
 * another active key of the type has → 409 `duplicate_key_name`.
 */
export async function updateApiKey(
  ctx: Context,
  ref: string,
  id: string,
  patch: { name?: string; description?: string | null },
  reveal: boolean,
): Promise<ApiKey> {
  const name = patch.name === undefined ? null : validKeyName(patch.name);
  const project = await requireProjectRow(ctx.db, ref);
  try {
    const { rows } = await ctx.db.query<KeyRow>(
      `UPDATE tm.api_keys SET name = COALESCE($3, name),
         description = CASE WHEN $4 THEN $5 ELSE description END, updated_at = $6
       WHERE id::text = lower($1) AND project_id = $2 AND status = 'active' RETURNING *`,
      [id, project.id, name, patch.description !== undefined, patch.description ?? null, ctx.clock.now()],
    );
    if (!rows[0]) throw notFound('api key');
    return toApiKey(ctx, rows[0], reveal);
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw conflict(`an active key of this type named ${name} already exists`, 'duplicate_key_name');
    }
    throw error;
  }
}

/** One active key of the project; unknown or revoked → 404. */
export async function getApiKey(ctx: Context, ref: string, id: string, reveal: boolean): Promise<ApiKey> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<KeyRow>(
    `SELECT * FROM tm.api_keys WHERE id::text = lower($1) AND project_id = $2 AND status = 'active'`,
    [id, project.id],
  );
  if (!rows[0]) throw notFound('api key');
  return toApiKey(ctx, rows[0], reveal);
}

/**
 * Revokes a key; gateways are told at once. Unknown or already revoked → 404. What the operator says
 * about it (`wasCompromised`, `reason`) is logged with the key's id.
 */
export async function revokeApiKey(
  ctx: Context,
  ref: string,
  id: string,
  options: { reveal?: boolean; wasCompromised?: boolean; reason?: string } = {},
): Promise<ApiKey> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<KeyRow>(
    `UPDATE tm.api_keys SET status = 'revoked', updated_at = $3
     WHERE id::text = lower($1) AND project_id = $2 AND status = 'active' RETURNING *`,
    [id, project.id, ctx.clock.now()],
  );
  const row = rows[0];
  if (!row) throw notFound('api key');
  await ctx.invalidator.apiKey(ref, row.hash);
  ctx.log.info(
    { ref, keyId: row.id, wasCompromised: options.wasCompromised, reason: options.reason },
    'api key revoked',
  );
  return toApiKey(ctx, row, options.reveal === true);
}

export async function findKeyByHash(ctx: Context, hash: string): Promise<ApiKeyRecord | null> {
  const { rows } = await ctx.db.query<{
    ref: string;
    id: string;
    type: ApiKeyType;
    status: 'active' | 'revoked';
  }>(
    `SELECT p.ref, k.id, k.type, k.status FROM tm.api_keys k JOIN tm.projects p ON p.id = k.project_id
     WHERE k.hash = $1 AND p.status <> 'REMOVED'`,
    [hash],
  );
  const row = rows[0];
  if (!row) return null;
  return { ref: row.ref, keyId: row.id, type: row.type, role: API_KEY_ROLE[row.type], status: row.status };
}
