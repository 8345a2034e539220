import { afterEach, describe, expect, it } from 'vitest';
import {
  admin,
  clusterOnTestServer,
  eventually,
  freshManagementDb,
  type Harness,
  RecordingFunctions,
  startHarness,
} from '../../test/harness.js';
import type { WorkerClusterProvider } from '../providers/types.js';

/**
 * A worker-cluster provider over the shared test server (see clusterOnTestServer) whose every
 * `deleteCluster` call waits until the test settles it, so each step of a deletion is observed
 * through the API before the next one happens.
 */
class GatedClusters implements WorkerClusterProvider {
  readonly calls: { externalId: string; settle: (error?: Error) => void }[] = [];

  owns(externalId: string): boolean {
    return externalId.startsWith('aurora-');
  }

  async createCluster(input: { name: string }) {
    return clusterOnTestServer(input.name);
  }

  deleteCluster(externalId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push({ externalId, settle: (error) => (error ? reject(error) : resolve()) });
    });
  }

  /** Waits for call number `n` (from 1) and returns it. */
  call(n: number) {
    return eventually(async () => this.calls[n - 1]);
  }
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function start(clusters: WorkerClusterProvider, managementUrl?: string): Promise<Harness> {
  const h = await startHarness({
    ...(managementUrl ? { managementUrl } : {}),
    provider: { name: 'aws', functions: new RecordingFunctions(), clusters },
    clusterDeletion: { backoffMs: 5, maxBackoffMs: 20 },
  });
  harnesses.push(h);
  return h;
}

const api = (h: Harness) => (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  h.tm.publicApp.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });

/** A drained cluster made through the provider; returns its id. */
async function drainedCluster(h: Harness, name: string): Promise<string> {
  const call = api(h);
  const made = await call('POST', '/v1/clusters/provision', { name, capacity: 2, ssl: false });
  expect(made.statusCode).toBe(201);
  const { id } = made.json();
  expect((await call('POST', `/v1/clusters/${id}/drain`)).json().status).toBe('draining');
  return id;
}

describe('retiring provider-created worker clusters', () => {
  it('deletes the cluster at the provider, retrying until it is gone, and refuses changes meanwhile', async () => {
    const clusters = new GatedClusters();
    const h = await start(clusters);
    const call = api(h);
    const id = await drainedCluster(h, 'retire-me');

    const accepted = await call('DELETE', `/v1/clusters/${id}`);
    expect(accepted.statusCode).toBe(202);
    expect(accepted.json()).toMatchObject({ id, status: 'deleting', last_error: null });
    const first = await clusters.call(1);
    expect(first.externalId).toBe('aurora-retire-me');

    // While it is being deleted: listed as such, never changed, and a repeated DELETE is the same answer.
    expect((await call('GET', '/v1/clusters')).json()).toEqual([
      expect.objectContaining({ id, status: 'deleting' }),
    ]);
    const refused = [
      await call('PATCH', `/v1/clusters/${id}`, { status: 'active' }),
      await call('POST', `/v1/clusters/${id}/drain`),
    ];
    expect(refused.map((r) => [r.statusCode, r.json().code])).toEqual([
      [409, 'cluster_deleting'],
      [409, 'cluster_deleting'],
    ]);
    expect((await call('PATCH', `/v1/clusters/${id}`, { status: 'deleting' })).statusCode).toBe(400);
    const again = await call('DELETE', `/v1/clusters/${id}`);
    expect([again.statusCode, again.json().status]).toEqual([202, 'deleting']);
    const project = await call('POST', '/v1/projects', { name: 'late', ref: 'late-project', cluster_id: id });
    expect([project.statusCode, project.json().code]).toEqual([400, 'invalid_cluster']);

    // A failure is shown to the operator and retried.
    first.settle(new Error('Throttling: Rate exceeded'));
    const second = await clusters.call(2);
    expect((await call('GET', `/v1/clusters/${id}`)).json()).toMatchObject({
      status: 'deleting',
      last_error: 'Throttling: Rate exceeded',
    });

    second.settle();
    await eventually(async () =>
      (await call('GET', `/v1/clusters/${id}`)).statusCode === 404 ? true : undefined,
    );
    expect(clusters.calls.map((c) => c.externalId)).toEqual(['aurora-retire-me', 'aurora-retire-me']);
    expect((await call('DELETE', `/v1/clusters/${id}`)).statusCode).toBe(404);
  });

  it('only deregisters with keep_server=true, or a cluster the provider does not own', async () => {
    const clusters = new GatedClusters();
    const h = await start(clusters);
    const call = api(h);
    const kept = await drainedCluster(h, 'keep-me');
    const foreign = await h.registerCluster('hand-registered', 2, {
      external_id: 'legacy-rds-cluster',
      status: 'draining',
    });

    for (const url of [`/v1/clusters/${kept}?keep_server=true`, `/v1/clusters/${foreign}`]) {
      const response = await call('DELETE', url);
      expect([response.statusCode, response.body]).toEqual([204, '']);
    }
    expect((await call('GET', '/v1/clusters')).json()).toEqual([]);
    expect(clusters.calls).toEqual([]);
  });

  it('resumes an unfinished deletion after a restart, on one replica only', async () => {
    const managementUrl = await freshManagementDb();
    const before = new GatedClusters();
    const first = await start(before, managementUrl);
    const id = await drainedCluster(first, 'outlives-a-restart');
    expect((await api(first)('DELETE', `/v1/clusters/${id}`)).statusCode).toBe(202);
    (await before.call(1)).settle(new Error('connection reset'));
    await before.call(2); // retrying when the process goes away
    const closing = first.close();
    (await before.call(2)).settle(new Error('shutting down'));
    await closing;
    harnesses.splice(harnesses.indexOf(first), 1);

    // Two replicas start on the same management database: both resume, one deletes.
    const [a, b] = [new GatedClusters(), new GatedClusters()];
    const replicas = await Promise.all([start(a, managementUrl), start(b, managementUrl)]);
    const resumed = await eventually(async () => a.calls[0] ?? b.calls[0]);
    expect(resumed.externalId).toBe('aurora-outlives-a-restart');
    expect((await api(replicas[0]!)('GET', `/v1/clusters/${id}`)).json()).toMatchObject({
      status: 'deleting',
      last_error: 'shutting down',
    });
    await new Promise((r) => setTimeout(r, 100)); // the other replica's retries find the lock held
    expect(a.calls.length + b.calls.length).toBe(1);

    resumed.settle();
    await eventually(async () =>
      (await api(replicas[1]!)('GET', `/v1/clusters/${id}`)).statusCode === 404 ? true : undefined,
    );
  });
});
