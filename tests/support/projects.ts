import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import pg from 'pg';
import { admin, type HttpResult, platform } from './clients.js';

export interface TestProject {
  readonly ref: string;
  readonly name: string;
  readonly publishableKey: string;
  readonly secretKey: string;
  readonly jwtSecret: string;
}

export interface ApiKey {
  id: string;
  name: string;
  type: 'publishable' | 'secret' | string;
  api_key: string;
}

/** A unique project name for this run. */
export const uniqueName = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;

/** The ref of a Management-API project object (Supabase answers `id` = ref; some shapes add `ref`). */
export const refOf = (project: { ref?: string; id?: string }) => (project.ref ?? project.id) as string;

/** Creates a project through the operator API and waits until it is ACTIVE_HEALTHY. */
export async function createProject(label: string): Promise<TestProject> {
  const name = uniqueName(label);
  const created = await admin('POST', '/v1/projects', { name });
  expect(created.status, created.text).toBe(201);
  const ref = refOf(created.json() as { ref?: string; id?: string });
  await waitForStatus(ref, 'ACTIVE_HEALTHY');
  return { ref, name, ...(await projectCredentials(ref)) };
}

/** Several projects at once (fixtures need two tenants; creating them in parallel keeps the run short). */
export function createProjects<const L extends readonly string[]>(
  ...labels: L
): Promise<{ -readonly [K in keyof L]: TestProject }> {
  return Promise.all(labels.map((label) => createProject(label))) as Promise<{
    -readonly [K in keyof L]: TestProject;
  }>;
}

export async function listApiKeys(ref: string): Promise<ApiKey[]> {
  const keys = await admin('GET', `/v1/projects/${ref}/api-keys?reveal=true`);
  expect(keys.status, keys.text).toBe(200);
  return keys.json() as ApiKey[];
}

export async function projectCredentials(ref: string) {
  const list = await listApiKeys(ref);
  const publishableKey = list.find((k) => k.type === 'publishable')?.api_key;
  const secretKey = list.find((k) => k.type === 'secret')?.api_key;
  const settings = await admin('GET', `/v1/projects/${ref}/postgrest`);
  expect(settings.status, settings.text).toBe(200);
  const { jwt_secret: jwtSecret } = settings.json() as { jwt_secret: string };
  if (!publishableKey || !secretKey || !jwtSecret) throw new Error(`project ${ref} has no default keys`);
  return { publishableKey, secretKey, jwtSecret };
}

/** Adds an API key and returns it revealed. */
export async function addApiKey(ref: string, type: 'publishable' | 'secret', name: string): Promise<ApiKey> {
  const res = await admin('POST', `/v1/projects/${ref}/api-keys?reveal=true`, { type, name });
  expect([200, 201], res.text).toContain(res.status);
  const key = res.json() as ApiKey;
  expect(key.api_key, res.text).toMatch(type === 'secret' ? /^sb_secret_/ : /^sb_publishable_/);
  return key;
}

export async function revokeApiKey(ref: string, id: string): Promise<void> {
  const res = await admin('DELETE', `/v1/projects/${ref}/api-keys/${id}`);
  expect([200, 204], res.text).toContain(res.status);
}

export async function waitForStatus(ref: string, status: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const res = await admin('GET', `/v1/projects/${ref}`);
    last = res.status === 200 ? (res.json() as { status: string }).status : `HTTP ${res.status}`;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`project ${ref} did not reach ${status} (last: ${last})`);
}

/** The raw answer of the operator SQL endpoint (runs as the project's owner role). */
export function sqlRequest(ref: string, query: string): Promise<HttpResult> {
  return admin('POST', `/v1/projects/${ref}/database/query`, { query });
}

/** Runs SQL through the operator SQL endpoint and returns the rows of the last statement. */
export async function sql<T = Record<string, unknown>>(ref: string, query: string): Promise<T[]> {
  const res = await sqlRequest(ref, query);
  expect([200, 201], res.text).toContain(res.status);
  return res.json() as T[];
}

/** Deletes a project; tolerant of one already gone, so afterAll hooks can always call it. */
export async function deleteProject(ref: string): Promise<void> {
  const res = await admin('DELETE', `/v1/projects/${ref}`);
  expect([200, 202, 204, 404], res.text).toContain(res.status);
}

/** Retries `probe` until it returns true or `timeoutMs` passes; returns the elapsed milliseconds. */
export async function eventually(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  stepMs = 25,
): Promise<number> {
  const started = Date.now();
  while (!(await probe())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return Date.now() - started;
}

/**
 * Waits until a `pg_sleep` the project's SQL endpoint runs is active in its database: on the local
 * cluster it is seen in pg_stat_activity; against a deployed platform there is no such view, so the
 * wait is a generous one.
 */
export async function untilSleeping(ref: string): Promise<void> {
  const local = platform().local;
  if (!local) {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    return;
  }
  const superuser = new pg.Client({ connectionString: local.postgresUrl });
  await superuser.connect();
  try {
    await eventually(async () => {
      const { rows } = await superuser.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`,
        [`proj_${ref}`],
      );
      return rows.length === 1;
    }, 5_000);
  } finally {
    await superuser.end();
  }
}
