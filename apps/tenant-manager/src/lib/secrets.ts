import type { Context } from './context.js';
import { sha256Hex } from './crypto.js';
import { badRequest, conflict } from './errors.js';
import {
  apiStatus,
  CLOSED_TO_CREDENTIALS,
  requireProjectForCredentials,
  requireProjectRow,
} from './projects.js';

/** A project secret as listed: its name and a digest of its value (never the value). */
interface ProjectSecret {
  name: string;
  value: string;
  updated_at: string;
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const MAX_VALUE_BYTES = 24 * 1024;
const aad = (projectId: string, name: string) => `secret:${projectId}:${name}`;

export async function listSecrets(ctx: Context, ref: string): Promise<ProjectSecret[]> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rows } = await ctx.db.query<{ name: string; digest: string; updated_at: Date }>(
    'SELECT name, digest, updated_at FROM tm.project_secrets WHERE project_id = $1 ORDER BY name',
    [project.id],
  );
  return rows.map((r) => ({ name: r.name, value: r.digest, updated_at: r.updated_at.toISOString() }));
}

/**
 * Creates or replaces secrets (Supabase's bulk shape: `[{name, value}]`), all or none; refused like
 * a new API key while the project is being deleted or never came up.
 */
export async function upsertSecrets(
  ctx: Context,
  ref: string,
  secrets: readonly { name: string; value: string }[],
): Promise<void> {
  for (const { name, value } of secrets) {
    if (!SECRET_NAME.test(name))
      throw badRequest(`invalid secret name: ${name.slice(0, 64)}`, 'invalid_name');
    if (name.toUpperCase().startsWith('SUPABASE_')) {
      throw badRequest('secret names must not start with SUPABASE_', 'invalid_name');
    }
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES)
      throw badRequest(`secret ${name} is too large`, 'too_large');
  }
  if (new Set(secrets.map((s) => s.name)).size !== secrets.length) {
    throw badRequest('duplicate secret names in one request', 'duplicate_name');
  }
  const project = await requireProjectForCredentials(ctx.db, ref);
  // One statement, so a request is stored whole or not at all. It looks at the status again under a
  // share lock on the project's row: a delete begun since the check above either waits for this
  // write (and its teardown removes what it stored) or is seen, and nothing is stored.
  const { rowCount } = await ctx.db.query(
    `WITH project AS (
       SELECT id FROM tm.projects
       WHERE id = $1 AND status <> ALL ($6::text[]) FOR SHARE
     )
     INSERT INTO tm.project_secrets (project_id, name, value_enc, digest, updated_at)
     SELECT project.id, s.name, s.value_enc, s.digest, $5
     FROM project, unnest($2::text[], $3::text[], $4::text[]) AS s(name, value_enc, digest)
     ON CONFLICT (project_id, name) DO UPDATE
       SET value_enc = excluded.value_enc, digest = excluded.digest, updated_at = excluded.updated_at`,
    [
      project.id,
      secrets.map((s) => s.name),
      secrets.map((s) => ctx.box.seal(s.value, aad(project.id, s.name))),
      secrets.map((s) => sha256Hex(s.value)),
      ctx.clock.now(),
      CLOSED_TO_CREDENTIALS,
    ],
  );
  if (!rowCount) {
    // The status changed in between: answer as the check would now (404 or 409).
    const now = await requireProjectForCredentials(ctx.db, ref);
    throw conflict(`project is ${apiStatus(now.status)}`, 'invalid_status');
  }
}

/** Deletes secrets by name; names that do not exist are ignored. Returns how many were deleted. */
export async function deleteSecrets(ctx: Context, ref: string, names: readonly string[]): Promise<number> {
  const project = await requireProjectRow(ctx.db, ref);
  const { rowCount } = await ctx.db.query(
    'DELETE FROM tm.project_secrets WHERE project_id = $1 AND name = ANY($2::text[])',
    [project.id, names],
  );
  return rowCount ?? 0;
}
