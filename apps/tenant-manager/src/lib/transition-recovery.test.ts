import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  eventually,
  freshManagementDb,
  type Harness,
  loginAs,
  type InvalidationListener,
  queryOnce,
  startClusterProxy,
  startHarness,
  startInvalidationListener,
} from '../../test/harness.js';
import { type Faults, TRANSITION_STEPS, type TransitionStep } from './context.js';
import { projectCacheKey } from './invalidation.js';
import type { ProjectRow } from './projects.js';

let redis: InvalidationListener;
beforeAll(async () => {
  redis = await startInvalidationListener();
});
afterAll(() => redis?.stop());

/**
 * Where each project's pause or restore "loses power": every attempt of the process holding these
 * faults stops there (its background retries too) until the test clears the cut with that process gone.
 */
const cuts = new Map<string, TransitionStep>();
const powerCut: Faults = {
  beforeTransitionStep: (step, ref) => {
    if (cuts.get(ref) !== step) return;
    throw new Error(`power cut before ${step}`);
  },
};

const call = (h: Harness, method: 'GET' | 'POST' | 'DELETE', url: string) =>
  h.tm.publicApp.inject({ method, url, headers: admin });

async function row(h: Harness, ref: string): Promise<ProjectRow> {
  const { rows } = await h.db.query<ProjectRow>(`SELECT * FROM tm.projects WHERE ref = $1`, [ref]);
  return rows[0]!;
}

const statusIs = (h: Harness, ref: string, status: string) =>
  eventually(async () => ((await row(h, ref)).status === status ? true : undefined));

describe('a pause or restore cut off by a crash', () => {
  it('is finished by the next tenant-manager on the same management database, whatever step it reached', async () => {
    const managementUrl = await freshManagementDb();
    const first = await startHarness({ managementUrl, redis: redis.publisher, faults: powerCut });
    const pauses = TRANSITION_STEPS.map((step) => `cut-pause-${step}`);
    const restores = TRANSITION_STEPS.map((step) => `cut-restore-${step}`);
    try {
      await first.registerCluster('cut', 20);
      for (const ref of [...pauses, ...restores]) {
        expect((await first.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
      }
      for (const ref of restores) {
        expect((await call(first, 'POST', `/v1/projects/${ref}/pause`)).json().status).toBe('INACTIVE');
      }
      for (const [i, step] of TRANSITION_STEPS.entries()) {
        cuts.set(pauses[i]!, step);
        cuts.set(restores[i]!, step);
        expect((await call(first, 'POST', `/v1/projects/${pauses[i]}/pause`)).statusCode).toBe(503);
        expect((await call(first, 'POST', `/v1/projects/${restores[i]}/restore`)).statusCode).toBe(503);
      }
      // Left half-way: the database is closed (or opened) only from the `settle` cut on.
      for (const [i, step] of TRANSITION_STEPS.entries()) {
        expect((await row(first, pauses[i]!)).status).toBe('PAUSING');
        expect((await row(first, restores[i]!)).status).toBe('RESTORING');
        expect(await loginAs(first, pauses[i]!, 'authenticator')).toBe(
          step === 'settle' ? '28000' : 'connected',
        );
        expect(await loginAs(first, restores[i]!, 'authenticator')).toBe(
          step === 'settle' ? 'connected' : '28000',
        );
      }
    } finally {
      await first.close(); // the process is gone; nothing of it finishes anything
      cuts.clear();
    }
    // Gateways' cached entries, which the finished transitions must remove (and announce).
    for (const ref of [...pauses, ...restores]) await redis.publisher.set(projectCacheKey(ref), '{}');
    redis.messages.length = 0;

    const second = await startHarness({ managementUrl, redis: redis.publisher, functions: first.functions });
    try {
      for (const ref of pauses) await statusIs(second, ref, 'PAUSED');
      for (const ref of restores) await statusIs(second, ref, 'ACTIVE_HEALTHY');
      for (const ref of pauses) {
        expect(await loginAs(second, ref, 'authenticator')).toBe('28000'); // not permitted to log in
        expect((await call(second, 'GET', `/v1/projects/${ref}`)).json().status).toBe('INACTIVE');
        expect(redis.messages).toContainEqual(
          expect.objectContaining({ kind: 'project', ref, reason: 'paused' }),
        );
      }
      for (const ref of restores) {
        expect(await loginAs(second, ref, 'authenticator')).toBe('connected');
        expect((await call(second, 'GET', `/v1/projects/${ref}`)).json().status).toBe('ACTIVE_HEALTHY');
        expect(redis.messages).toContainEqual(
          expect.objectContaining({ kind: 'project', ref, reason: 'restored' }),
        );
        // re-ensured before serving again, with the project's own token
        expect(second.functions.live.get(ref)?.SUPAPLANE_INTERNAL_TOKEN).toBe(
          second.tm.ctx.functionTokens.mint(ref, (await row(second, ref)).id),
        );
      }
      for (const ref of [...pauses, ...restores]) {
        expect(await redis.publisher.exists(projectCacheKey(ref))).toBe(0);
      }
      // and the projects go on as usual
      const again = await call(second, 'POST', `/v1/projects/${pauses[0]}/restore`);
      expect(again.json().status).toBe('ACTIVE_HEALTHY');
      expect(await loginAs(second, pauses[0]!, 'authenticator')).toBe('connected');
    } finally {
      await second.close();
    }
  });

  it('two replicas and an API call finish it once: the call waits for the project lock', async () => {
    const managementUrl = await freshManagementDb();
    const first = await startHarness({ managementUrl, faults: powerCut });
    try {
      await first.registerCluster('twins', 10);
      expect((await first.createProject('cut-twin')).json().status).toBe('ACTIVE_HEALTHY');
      cuts.set('cut-twin', 'connections');
      expect((await call(first, 'POST', '/v1/projects/cut-twin/pause')).statusCode).toBe(503);
    } finally {
      await first.close();
      cuts.clear();
    }

    const runs: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const atConnections = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const faults: Faults = {
      beforeTransitionStep: async (step, ref) => {
        runs.push(`${ref}:${step}`);
        if (step !== 'connections') return;
        reached();
        await held;
      },
    };
    const provisioning = { backoffMs: 10, maxBackoffMs: 50, spareDatabases: 0 };
    const [x, y] = await Promise.all([
      startHarness({ managementUrl, faults, provisioning, functions: first.functions }),
      startHarness({ managementUrl, faults, provisioning, functions: first.functions }),
    ]);
    try {
      // One replica holds the lock, its database not yet closed.
      await Promise.race([
        atConnections,
        new Promise((_, reject) => setTimeout(() => reject(new Error('nothing resumed the pause')), 15_000)),
      ]);
      let answered = false;
      const pause = call(y, 'POST', '/v1/projects/cut-twin/pause').then((response) => {
        answered = true;
        return response;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(answered).toBe(false);
      expect(runs).toEqual(['cut-twin:prepare', 'cut-twin:connections']);
      expect((await row(x, 'cut-twin')).status).toBe('PAUSING');
      release();
      const response = await pause;
      expect(response.statusCode).toBe(200);
      expect(response.json().status).toBe('INACTIVE');
      // Joins each replica's run (or starts one that finds nothing left to do).
      const { id } = await row(x, 'cut-twin');
      await Promise.all([x.tm.provisioner.finishTransition(id), y.tm.provisioner.finishTransition(id)]);
      expect(runs).toEqual(['cut-twin:prepare', 'cut-twin:connections', 'cut-twin:settle']);
      expect(await loginAs(x, 'cut-twin', 'authenticator')).toBe('28000');
    } finally {
      release();
      await Promise.all([x.close(), y.close()]);
    }
  });
});

describe('a pause or restore whose step fails during the call', () => {
  it('answers 503 saying so, shows why, and finishes in the background once the cluster is back', async () => {
    const proxy = await startClusterProxy();
    const h = await startHarness({ provisioning: { backoffMs: 10, maxBackoffMs: 50, spareDatabases: 0 } });
    try {
      await h.registerCluster('flaky-link', 10, { host: '127.0.0.1', port: proxy.port });
      for (const ref of ['link-pause', 'link-restore']) {
        expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
      }
      expect((await call(h, 'POST', '/v1/projects/link-restore/pause')).json().status).toBe('INACTIVE');

      proxy.down(); // the worker cluster is briefly unreachable
      for (const [ref, action, via] of [
        ['link-pause', 'pause', 'PAUSING'],
        ['link-restore', 'restore', 'RESTORING'],
      ] as const) {
        const response = await call(h, 'POST', `/v1/projects/${ref}/${action}`);
        expect(response.statusCode).toBe(503);
        expect(response.json()).toEqual({
          message: `the ${action} did not finish (see the project's last_error); the project stays ${via} and is retried in the background`,
          code: 'transition_incomplete',
        });
        const seen = (await call(h, 'GET', `/v1/projects/${ref}`)).json();
        expect(seen.status).toBe(via);
        expect(seen.last_error).toEqual(expect.any(String));
      }
      await eventually(async () => (proxy.refused() >= 4 ? true : undefined), 5_000); // retried meanwhile

      proxy.up(); // no call, no restart
      await statusIs(h, 'link-pause', 'PAUSED');
      await statusIs(h, 'link-restore', 'ACTIVE_HEALTHY');
      expect((await call(h, 'GET', '/v1/projects/link-pause')).json().last_error).toBeNull();
      expect((await call(h, 'GET', '/v1/projects/link-restore')).json().last_error).toBeNull();
      expect(await loginAs(h, 'link-pause', 'authenticator')).toBe('28000');
      expect(await loginAs(h, 'link-restore', 'authenticator')).toBe('connected');
    } finally {
      proxy.up();
      await h.close();
      await proxy.close();
    }
  });

  it('gives up after its attempts: PAUSE_FAILED / RESTORE_FAILED, no more retries, and a call starts afresh', async () => {
    const proxy = await startClusterProxy();
    const managementUrl = await freshManagementDb();
    const provisioning = { backoffMs: 10, maxBackoffMs: 50, spareDatabases: 0, transitionAttempts: 3 };
    let h = await startHarness({ managementUrl, redis: redis.publisher, provisioning });
    try {
      await h.registerCluster('gives-up', 10, { host: '127.0.0.1', port: proxy.port });
      for (const ref of ['give-pause', 'give-restore']) {
        expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
      }
      expect((await call(h, 'POST', '/v1/projects/give-restore/pause')).json().status).toBe('INACTIVE');

      proxy.down(); // and it stays down past every attempt
      expect((await call(h, 'POST', '/v1/projects/give-pause/pause')).statusCode).toBe(503);
      expect((await call(h, 'POST', '/v1/projects/give-restore/restore')).statusCode).toBe(503);
      await statusIs(h, 'give-pause', 'PAUSE_FAILED');
      await statusIs(h, 'give-restore', 'RESTORE_FAILED');
      for (const [ref, status, reason] of [
        ['give-pause', 'PAUSE_FAILED', 'pause-failed'],
        ['give-restore', 'RESTORE_FAILED', 'restore-failed'],
      ] as const) {
        const seen = (await call(h, 'GET', `/v1/projects/${ref}`)).json();
        expect(seen.status).toBe(status);
        expect(seen.last_error).toEqual(expect.any(String));
        expect((await row(h, ref)).attempts).toBe(3);
        expect(redis.messages).toContainEqual(expect.objectContaining({ kind: 'project', ref, reason }));
        // Nothing is retried any more: a run started now finds nothing to do.
        const refused = proxy.refused();
        await h.tm.provisioner.finishTransition((await row(h, ref)).id);
        expect(proxy.refused()).toBe(refused);
      }
      // Nor after a restart.
      await h.close();
      h = await startHarness({ managementUrl, provisioning: { ...provisioning, transitionAttempts: 1 } });
      const refused = proxy.refused();
      for (const ref of ['give-pause', 'give-restore']) {
        await h.tm.provisioner.finishTransition((await row(h, ref)).id);
      }
      expect(proxy.refused()).toBe(refused);
      expect((await row(h, 'give-pause')).status).toBe('PAUSE_FAILED');
      // A call whose own attempt is the last one says so.
      const last = await call(h, 'POST', '/v1/projects/give-pause/pause');
      expect(last.statusCode).toBe(503);
      expect(last.json()).toEqual({
        message:
          "the pause failed and is not retried any more (see the project's last_error); the project is PAUSE_FAILED: pause, restore or delete it again to retry",
        code: 'transition_failed',
      });
      expect((await row(h, 'give-pause')).status).toBe('PAUSE_FAILED');

      // The operator retries once the cluster is back, or undoes the failed one.
      proxy.up();
      const paused = await call(h, 'POST', '/v1/projects/give-pause/pause');
      expect(paused.json()).toMatchObject({ status: 'INACTIVE', last_error: null });
      expect(await loginAs(h, 'give-pause', 'authenticator')).toBe('28000');
      const undone = await call(h, 'POST', '/v1/projects/give-restore/pause');
      expect(undone.json()).toMatchObject({ status: 'INACTIVE', last_error: null });
      expect((await call(h, 'POST', '/v1/projects/give-restore/restore')).json().status).toBe(
        'ACTIVE_HEALTHY',
      );
      expect(await loginAs(h, 'give-restore', 'authenticator')).toBe('connected');
      expect((await row(h, 'give-restore')).attempts).toBe(0);
    } finally {
      proxy.up();
      await h.close();
      await proxy.close();
    }
  });

  it('a delete is retried until done, and the removed project keeps no stale last_error', async () => {
    const proxy = await startClusterProxy();
    const h = await startHarness({ provisioning: { backoffMs: 10, maxBackoffMs: 50, spareDatabases: 0 } });
    try {
      await h.registerCluster('flaky-delete', 10, { host: '127.0.0.1', port: proxy.port });
      expect((await h.createProject('link-delete')).json().status).toBe('ACTIVE_HEALTHY');
      proxy.down();
      const response = await call(h, 'DELETE', '/v1/projects/link-delete');
      expect(response.statusCode).toBe(503);
      expect(response.json().code).toBe('delete_incomplete');
      expect((await call(h, 'GET', '/v1/projects/link-delete')).json()).toMatchObject({
        status: 'GOING_DOWN',
        last_error: expect.any(String),
      });
      proxy.up();
      await statusIs(h, 'link-delete', 'REMOVED');
      const removed = (await call(h, 'GET', '/v1/projects?status=REMOVED')).json();
      expect(removed).toEqual([expect.objectContaining({ ref: 'link-delete', last_error: null })]);
    } finally {
      proxy.up();
      await h.close();
      await proxy.close();
    }
  });

  it('resumed after a restart while the cluster is down, says why until it finishes', async () => {
    const proxy = await startClusterProxy();
    const managementUrl = await freshManagementDb();
    let first: Harness | undefined = await startHarness({ managementUrl });
    let second: Harness | undefined;
    try {
      await first.registerCluster('flaky-restart', 10, { host: '127.0.0.1', port: proxy.port });
      expect((await first.createProject('link-resumed')).json().status).toBe('ACTIVE_HEALTHY');
      await first.close(); // a pause was under way when the process died
      first = undefined;
      await queryOnce(managementUrl, `UPDATE tm.projects SET status = 'PAUSING' WHERE ref = 'link-resumed'`);
      proxy.down();
      second = await startHarness({ managementUrl, provisioning: { backoffMs: 10, maxBackoffMs: 50 } });
      const h = second;
      const lastError = async () => (await call(h, 'GET', '/v1/projects/link-resumed')).json().last_error;
      expect(await eventually(async () => (await lastError()) ?? undefined, 5_000)).toEqual(
        expect.any(String),
      );
      proxy.up();
      await statusIs(h, 'link-resumed', 'PAUSED');
      expect(await lastError()).toBeNull();
    } finally {
      proxy.up();
      await first?.close();
      await second?.close();
      await proxy.close();
    }
  });
});
