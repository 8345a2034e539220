import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Context } from './context.js';
import { AppError, badRequest, conflict, notFound } from './errors.js';
import {
  lockProjectForCredentials,
  requireProjectForCredentials,
  requireProjectRow,
  withProjectLock,
} from './projects.js';
import {
  generateKeyMaterial,
  importPrivateJwk,
  type KeyMaterial,
  type PublicJwk,
  type SigningAlgorithm,
} from './signing-key-material.js';
import { insertWithinCap, inTransaction } from './transaction.js';

/** Keys a project may hold that are not revoked (all of them are in its JWKS). */
export const MAX_SIGNING_KEYS = 10;

export type SigningKeyStatus = 'in_use' | 'standby' | 'previously_used' | 'revoked';

/**
 * A project's JWT signing key; the private half (or shared secret) stays encrypted here. An HS256
 * key has no public half (`public_jwk` null) and is never in a JWKS.
 */
interface SigningKey {
  id: string;
  algorithm: SigningAlgorithm;
  status: SigningKeyStatus;
  public_jwk: PublicJwk | null;
  created_at: string;
  updated_at: string;
}

interface SigningKeyRow {
  id: string;
  algorithm: SigningAlgorithm;
  status: SigningKeyStatus;
  public_jwk: PublicJwk | null;
  /** The project's JWT secret set up as a signing key (`POST …/signing-keys/legacy`). */
  legacy: boolean;
  created_at: Date;
  updated_at: Date;
}

const aad = (id: string) => `signing-key:${id}`;

function toSigningKey(row: SigningKeyRow): SigningKey {
  return {
    id: row.id,
    algorithm: row.algorithm,
    status: row.status,
    public_jwk: row.public_jwk,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export async function listSigningKeys(ctx: Context, ref: string): Promise<SigningKey[]> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<SigningKeyRow>(
    'SELECT * FROM tm.signing_keys WHERE project_id = $1 ORDER BY created_at, id',
    [project.id],
  );
  return rows.map(toSigningKey);
}

interface NewSigningKey {
  readonly algorithm?: SigningAlgorithm;
  readonly status?: 'standby' | 'in_use';
  /** A key to import (Supabase's `private_jwk`) instead of one made here. */
  readonly privateJwk?: Record<string, unknown>;
}

/**
 * A new key in `standby` (an asymmetric one is published in the JWKS at once, not yet used to sign),
 * or put in use at once (`in_use`, as Supabase's create takes it): the key in use before becomes
 * `previously_used`. Made here (ES256 by default) or imported from `privateJwk`: a bad one is a 400
 * naming what is wrong, and its `kid` (if any) is the key's id.
 */
export async function createSigningKey(
  ctx: Context,
  ref: string,
  { algorithm = 'ES256', status = 'standby', privateJwk }: NewSigningKey = {},
): Promise<SigningKey> {
  const project = await requireProjectForCredentials(ctx.db, ref);
  let id: string = randomUUID();
  let material: KeyMaterial;
  if (privateJwk) {
    const imported = importPrivateJwk(algorithm, privateJwk);
    if (!imported.ok) throw badRequest(imported.reason, 'validation_failed');
    ({ kid: id, material } = imported);
  } else {
    material = generateKeyMaterial(algorithm, id);
  }
  // Put in use in the insert's own transaction: a new key is standby, which may always go in use.
  const row = await insertSigningKey(
    ctx,
    project.id,
    { id, algorithm, material, legacy: false },
    status === 'in_use' ? (db) => setKeyStatus(db, project.id, id, 'in_use', ctx.clock.now()) : undefined,
  );
  // A standby key is already in the JWKS: gateways must see it before anyone signs with it.
  await bumpAndInvalidate(ctx, project.id, ref);
  return toSigningKey(row);
}

async function insertSigningKey(
  ctx: Context,
  projectId: string,
  key: { id: string; algorithm: SigningAlgorithm; material: KeyMaterial; legacy: boolean },
  then?: (db: pg.ClientBase, row: SigningKeyRow) => Promise<SigningKeyRow>,
): Promise<SigningKeyRow> {
  const { id, algorithm, material, legacy } = key;
  const sealed = ctx.box.seal(JSON.stringify(material.privateJwk), aad(id));
  return insertWithinCap(ctx, projectId, SIGNING_KEY_CAP, async (db) => {
    await lockProjectForCredentials(db, projectId);
    const taken = await db.query('SELECT 1 FROM tm.signing_keys WHERE id = $1', [id]);
    if (taken.rowCount) {
      throw conflict(
        'a signing key with this kid already exists: import it with another uuid as kid, or without one',
        'signing_key_exists',
      );
    }
    const now = ctx.clock.now();
    const publicJwk = material.publicJwk ? JSON.stringify(material.publicJwk) : null;
    const { rows } = await db.query<SigningKeyRow>(
      `INSERT INTO tm.signing_keys (id, project_id, algorithm, status, public_jwk, private_jwk_enc, legacy, created_at, updated_at)
       VALUES ($1, $2, $3, 'standby', $4, $5, $6, $7, $7) RETURNING *`,
      [id, projectId, algorithm, publicJwk, sealed, legacy, now],
    );
    return then ? then(db, rows[0]!) : rows[0]!;
  });
}

/** `GET …/config/auth/signing-keys/legacy`: the project's JWT secret as a signing key; 404 until set up. */
export async function getLegacySigningKey(ctx: Context, ref: string): Promise<SigningKey> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<SigningKeyRow>(
    'SELECT * FROM tm.signing_keys WHERE project_id = $1 AND legacy',
    [project.id],
  );
  if (!rows[0]) throw notFound('legacy signing key');
  return toSigningKey(rows[0]);
}

/**
 * `POST …/config/auth/signing-keys/legacy`, Supabase's migration to signing keys: the project's JWT
 * secret becomes an HS256 signing key in use (the key in use before, if any, becomes
 * `previously_used`), and, as on Supabase, an ES256 key is made in standby to rotate to when the
 * project has none. Once only: a second call is 409 `legacy_signing_key_exists`.
 */
export async function setUpLegacySigningKey(ctx: Context, ref: string): Promise<SigningKey> {
  const project = await requireProjectForCredentials(ctx.db, ref);
  const id = randomUUID();
  // No copy of the secret: the key's `k` is the project's JWT secret as it is at any time, read
  // where the records are made (verificationKeys), so a rotated secret leaves no stale copy.
  const material: KeyMaterial = { publicJwk: null, privateJwk: { kty: 'oct', kid: id, alg: 'HS256' } };
  const row = await insertSigningKey(
    ctx,
    project.id,
    { id, algorithm: 'HS256', material, legacy: true },
    (db) => setKeyStatus(db, project.id, id, 'in_use', ctx.clock.now()),
  ).catch((error: unknown) => {
    if ((error as { constraint?: string }).constraint !== 'signing_keys_one_legacy') throw error;
    throw conflict(
      'the JWT secret is already set up as a signing key (GET …/signing-keys/legacy)',
      'legacy_signing_key_exists',
    );
  });
  const standby = await ctx.db.query(
    `SELECT 1 FROM tm.signing_keys WHERE project_id = $1 AND status = 'standby'`,
    [project.id],
  );
  if (!standby.rowCount) {
    // The cap may be full: the migration stands without the standby key then.
    await createSigningKey(ctx, ref).catch((error: unknown) => {
      if (!(error instanceof AppError) || error.statusCode !== 409) throw error;
    });
  }
  await bumpAndInvalidate(ctx, project.id, ref);
  return toSigningKey(row);
}

/** The legacy key is what gateways mint key-only tokens with: it is never revoked or removed. */
function refuseLegacy(row: SigningKeyRow, action: string): void {
  if (!row.legacy) return;
  throw new AppError(
    409,
    `the legacy JWT secret cannot be ${action} here: gateways sign key-only requests with it and verify HS256 user tokens against it`,
    'legacy_signing_key',
  );
}

const SIGNING_KEY_CAP = {
  name: 'signing-keys',
  countSql: `SELECT count(*)::int AS n FROM tm.signing_keys WHERE project_id = $1 AND status <> 'revoked'`,
  max: MAX_SIGNING_KEYS,
  code: 'too_many_signing_keys',
  message: `the project already has ${MAX_SIGNING_KEYS} signing keys that are not revoked; revoke one first`,
};

/** One signing key of the project, whatever its status; unknown → 404. */
export async function getSigningKey(ctx: Context, ref: string, id: string): Promise<SigningKey> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<SigningKeyRow>(
    'SELECT * FROM tm.signing_keys WHERE id::text = lower($1) AND project_id = $2',
    [id, project.id],
  );
  if (!rows[0]) throw notFound('signing key');
  return toSigningKey(rows[0]);
}

/**
 * Revokes a standby or previously used key: it leaves the JWKS, so tokens it signed stop verifying
 * once gateways evict. The key in use cannot be revoked (rotate first: 409); a revoked one is 404.
 */
export async function revokeSigningKey(ctx: Context, ref: string, id: string): Promise<SigningKey> {
  const project = await requireProjectRow(ctx.db, ref);
  const revoked = await withProjectLock(ctx, project.id, async (db) => {
    const { rows } = await db.query<SigningKeyRow>(
      `SELECT * FROM tm.signing_keys WHERE id::text = lower($1) AND project_id = $2 AND status <> 'revoked'`,
      [id, project.id],
    );
    const row = rows[0];
    if (!row) throw notFound('signing key');
    refuseLegacy(row, 'revoked');
    if (row.status === 'in_use') {
      throw conflict(
        'the signing key in use cannot be revoked; rotate to another key first',
        'signing_key_in_use',
      );
    }
    const updated = await db.query<SigningKeyRow>(
      `UPDATE tm.signing_keys SET status = 'revoked', updated_at = $2 WHERE id = $1 RETURNING *`,
      [row.id, ctx.clock.now()],
    );
    return updated.rows[0]!;
  });
  await bumpAndInvalidate(ctx, project.id, ref);
  return toSigningKey(revoked!);
}

/**
 * `PATCH …/config/auth/signing-keys/:id {status}`, Supabase's one way to move a key: `in_use` puts a
 * standby or previously used key in use (the key in use before becomes `previously_used`);
 * `standby` takes a previously used key back to standby; `revoked` revokes a standby or previously
 * used key (out of the JWKS). The key in use leaves that status only when another takes its place
 * (409 `signing_key_in_use`), a revoked key stays revoked (409 `signing_key_revoked`), and a key is
 * only ever made `previously_used` by that (409 `invalid_signing_key_status`). Asking for the status
 * a key has changes nothing.
 */
export async function updateSigningKeyStatus(
  ctx: Context,
  ref: string,
  id: string,
  status: SigningKeyStatus,
): Promise<SigningKey> {
  const project = await requireProjectRow(ctx.db, ref);
  let changed = false;
  const updated = await withProjectLock(ctx, project.id, (db) =>
    inTransaction(db, async () => {
      const { rows } = await db.query<SigningKeyRow>(
        'SELECT * FROM tm.signing_keys WHERE id::text = lower($1) AND project_id = $2 FOR UPDATE',
        [id, project.id],
      );
      const row = rows[0];
      if (!row) throw notFound('signing key');
      if (row.status === status) return row;
      if (status === 'revoked') refuseLegacy(row, 'revoked');
      if (row.status === 'revoked') {
        throw conflict('a revoked signing key cannot be used again', 'signing_key_revoked');
      }
      if (row.status === 'in_use') {
        throw conflict(
          'the signing key in use keeps its status until another key is put in use',
          'signing_key_in_use',
        );
      }
      if (status === 'previously_used' || (status === 'standby' && row.status !== 'previously_used')) {
        throw conflict(
          `a ${row.status} signing key cannot be made ${status}: a key becomes previously_used when another is put in use`,
          'invalid_signing_key_status',
        );
      }
      changed = true;
      return setKeyStatus(db, project.id, row.id, status, ctx.clock.now());
    }),
  );
  if (changed) await bumpAndInvalidate(ctx, project.id, ref);
  return toSigningKey(updated!);
}

/**
 * `DELETE …/config/auth/signing-keys/:id` (Supabase's remove): a standby or revoked key is deleted
 * (answered as it was); a previously used key must be revoked first, as tokens it signed may still
 * be in use (409 `signing_key_not_revoked`), and the key in use cannot go (409 `signing_key_in_use`).
 */
export async function removeSigningKey(ctx: Context, ref: string, id: string): Promise<SigningKey> {
  const project = await requireProjectRow(ctx.db, ref);
  const removed = await withProjectLock(ctx, project.id, async (db) => {
    const { rows } = await db.query<SigningKeyRow>(
      'SELECT * FROM tm.signing_keys WHERE id::text = lower($1) AND project_id = $2',
      [id, project.id],
    );
    const row = rows[0];
    if (!row) throw notFound('signing key');
    refuseLegacy(row, 'removed');
    if (row.status === 'in_use') {
      throw conflict(
        'the signing key in use cannot be removed; put another key in use first',
        'signing_key_in_use',
      );
    }
    if (row.status === 'previously_used') {
      throw conflict(
        'a previously used signing key may still verify live tokens: revoke it first (PATCH status revoked)',
        'signing_key_not_revoked',
      );
    }
    await db.query('DELETE FROM tm.signing_keys WHERE id = $1', [row.id]);
    return row;
  });
  await bumpAndInvalidate(ctx, project.id, ref);
  return toSigningKey(removed!);
}

/**
 * Rotation: the newest standby key (created if there is none) becomes `in_use`, the previous
 * `in_use` key becomes `previously_used` (still verifiable). Publishes `signing-keys-rotated`.
 */
export async function rotateSigningKeys(ctx: Context, ref: string): Promise<SigningKey[]> {
  const project = await requireProjectRow(ctx.db, ref);
  const standby = await ctx.db.query<{ id: string }>(
    `SELECT id FROM tm.signing_keys WHERE project_id = $1 AND status = 'standby' ORDER BY created_at DESC LIMIT 1`,
    [project.id],
  );
  const nextId = standby.rows[0]?.id ?? (await createSigningKey(ctx, ref)).id;
  // Two rotations at once would both promote: the project lock makes them take turns.
  await withProjectLock(ctx, project.id, (client) =>
    inTransaction(client, async () => {
      const still = await client.query(
        `SELECT 1 FROM tm.signing_keys WHERE id = $1 AND status = 'standby' FOR UPDATE`,
        [nextId],
      );
      if (still.rowCount) await setKeyStatus(client, project.id, nextId, 'in_use', ctx.clock.now());
    }),
  );
  await bumpAndInvalidate(ctx, project.id, ref);
  return listSigningKeys(ctx, ref);
}

/**
 * Sets a key's status, under the project's lock in a transaction. A project has one key in use: the
 * one in use before a key is put in use becomes `previously_used`.
 */
async function setKeyStatus(
  db: pg.ClientBase,
  projectId: string,
  keyId: string,
  status: SigningKeyStatus,
  now: Date,
): Promise<SigningKeyRow> {
  if (status === 'in_use') {
    await db.query(
      `UPDATE tm.signing_keys SET status = 'previously_used', updated_at = $2 WHERE project_id = $1 AND status = 'in_use'`,
      [projectId, now],
    );
  }
  const { rows } = await db.query<SigningKeyRow>(
    'UPDATE tm.signing_keys SET status = $2, updated_at = $3 WHERE id = $1 RETURNING *',
    [keyId, status, now],
  );
  return rows[0]!;
}

async function bumpAndInvalidate(ctx: Context, projectId: string, ref: string) {
  await ctx.db.query('UPDATE tm.projects SET version = version + 1 WHERE id = $1', [projectId]);
  await ctx.invalidator.project(ref, 'signing-keys-rotated');
}

/** A key that is not revoked, as verifiers hold it. */
interface LiveKeyRow {
  id: string;
  algorithm: SigningAlgorithm;
  public_jwk: PublicJwk | null;
  private_jwk_enc: string;
  legacy: boolean;
}

/** Every key of the project that is not revoked, oldest first. */
async function liveKeys(ctx: Context, projectId: string): Promise<LiveKeyRow[]> {
  const { rows } = await ctx.db.query<LiveKeyRow>(
    `SELECT id, algorithm, public_jwk, private_jwk_enc, legacy FROM tm.signing_keys
     WHERE project_id = $1 AND status <> 'revoked' ORDER BY created_at`,
    [projectId],
  );
  return rows;
}

/** The public halves of asymmetric keys (an HS256 key has none, so it is never in a JWKS). */
const jwksOf = (rows: readonly LiveKeyRow[]) => ({
  keys: rows.flatMap((r) => (r.public_jwk ? [r.public_jwk as Record<string, unknown>] : [])),
});

/** The JWKS gateways verify user tokens with: every asymmetric key that is not revoked (never HS256). */
export async function projectJwks(
  ctx: Context,
  projectId: string,
): Promise<{ keys: Record<string, unknown>[] }> {
  return jwksOf(await liveKeys(ctx, projectId));
}

/**
 * What gateways and rest functions verify user tokens with (the internal records): `jwks`, and
 * `sharedKeys`, every HS256 key that is not revoked as an `oct` JWK's `kid` and `k`, which no public
 * route or JWKS carries. `jwtSecret` is the project's secret as the caller opened it: the legacy key is
 * that secret as it stands (setUpLegacySigningKey keeps no copy), so a rotated secret leaves no way in
 * for tokens the old one signed.
 */
export async function verificationKeys(
  ctx: Context,
  projectId: string,
  jwtSecret: string,
): Promise<{ jwks: { keys: Record<string, unknown>[] }; sharedKeys: { kid: string; k: string }[] }> {
  const rows = await liveKeys(ctx, projectId);
  const sharedKeys = rows
    .filter((row) => row.algorithm === 'HS256')
    .map((row) => ({
      kid: row.id,
      k: row.legacy
        ? Buffer.from(jwtSecret).toString('base64url')
        : (JSON.parse(ctx.box.open(row.private_jwk_enc, aad(row.id))) as { k: string }).k,
    }));
  return { jwks: jwksOf(rows), sharedKeys };
}
