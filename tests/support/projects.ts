import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { admin } from './clients.js';

export interface TestProject {
  readonly ref: string;
  readonly name: string;
  readonly publishableKey: string;
  readonly secretKey: string;
  readonly jwtSecret: string;
}

interface ApiKey {
  id: string;
  type: string;
  api_key: string;
}

/** A unique project name for this run. */
export const uniqueName = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;

/** Creates a project through the operator API and waits until it is ACTIVE_HEALTHY. */
export async function createProject(label: string): Promise<TestProject> {
  const name = uniqueName(label);
  const created = await admin('POST', '/v1/projects', { name });
  expect(created.status, created.text).toBe(201);
  const { ref } = created.json() as { ref: string };
  await waitForStatus(ref, 'ACTIVE_HEALTHY');
  return { ref, name, ...(await projectCredentials(ref)) };
}

export async function projectCredentials(ref: string) {
  const keys = await admin('GET', `/v1/projects/${ref}/api-keys?reveal=true`);
  expect(keys.status, keys.text).toBe(200);
  const list = keys.json() as ApiKey[];
  const publishableKey = list.find((k) => k.type === 'publishable')?.api_key;
  const secretKey = list.find((k) => k.type === 'secret')?.api_key;
  const settings = await admin('GET', `/v1/projects/${ref}/postgrest`);
  expect(settings.status, settings.text).toBe(200);
  const { jwt_secret: jwtSecret } = settings.json() as { jwt_secret: string };
  if (!publishableKey || !secretKey || !jwtSecret) throw new Error(`project ${ref} has no default keys`);
  return { publishableKey, secretKey, jwtSecret };
}

export async function waitForStatus(ref: string, status: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const res = await admin('GET', `/v1/projects/${ref}`);
    last = res.status === 200 ? (res.json() as { status: string }).status : `HTTP ${res.status}`;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`project ${ref} did not reach ${status} (last: ${last})`);
}

/** Runs SQL through the operator SQL endpoint (as the project's owner role). */
export async function sql<T = Record<string, unknown>>(ref: string, query: string): Promise<T[]> {
  const res = await admin('POST', `/v1/projects/${ref}/database/query`, { query });
  expect([200, 201], res.text).toContain(res.status);
  return res.json() as T[];
}

export async function deleteProject(ref: string): Promise<void> {
  await admin('DELETE', `/v1/projects/${ref}`);
}
