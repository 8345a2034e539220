import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  pgUrl,
  clusterObjects,
  eventually,
  freshManagementDb,
  type Harness,
  internal,
  startClusterProxy,
  startHarness,
} from '../../test/harness.js';
import { PROVISIONING_STEPS, type ProvisioningStep } from './context.js';
import { AppError } from './errors.js';
import { MIGRATIONS, migrate } from './migrations.js';
import { insertProject, secretAad } from './projects.js';
import { retryDelay } from './background.js';

type Plan = { when: 'before' | 'after'; step: ProvisioningStep; times: number };
const plans = new Map<string, Plan>();
const fire = (when: Plan['when'], step: ProvisioningStep, ref: string) => {
  const plan = plans.get(ref);
  if (plan && plan.when === when && plan.step === step && plan.times > 0) {
    plan.times--;
    throw new Error(`injected fault ${when} ${step}`);
  }
};

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    faults: {
      beforeStep: (step, ref) => fire('before', step, ref),
      afterStep: (step, ref) => fire('after', step, ref),
    },
    provisioning: { backoffMs: 10, maxAttempts: 3, spareDatabases: 0 },
  });
  await h.registerCluster('faults', 100);
});
afterAll(() => h?.close());

async function status(harness: Harness, ref: string): Promise<string> {
  const { rows } = await harness.db.query(
    `SELECT status FROM tm.projects WHERE ref = $1 ORDER BY created_at DESC LIMIT 1`,
    [ref],
  );
  return rows[0]?.status;
}

describe('retryDelay', () => {
  it('doubles from backoffMs and never exceeds maxBackoffMs', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => retryDelay(attempt, 200, 30_000))).toEqual([
      200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000,
    ]);
    expect(retryDelay(2_000, 200, 30_000)).toBe(30_000); // a days-long outage still retries every 30 s
    expect(retryDelay(2_000, 0, 30_000)).toBe(0);
  });
});

describe('provisioning state machine', () => {
  it.each(PROVISIONING_STEPS)(
    'a failure at %s is retried to ACTIVE_HEALTHY or rolled back to a clean INIT_FAILED',
    async (step) => {
      const tag = step.replaceAll('_', '-');
      const [before, after, broken] = [`fb-${tag}`, `fa-${tag}`, `fx-${tag}`];
      plans.set(before, { when: 'before', step, times: 1 });
      plans.set(after, { when: 'after', step, times: 1 }); // the step ran, then "crashed": re-running must be harmless
      plans.set(broken, { when: 'before', step, times: Number.POSITIVE_INFINITY });
      const responses = await Promise.all([
        h.createProject(before),
        h.createProject(after),
        h.createProject(broken),
      ]);
      expect(responses.map((r) => r.statusCode)).toEqual([201, 201, 201]);

      for (const ref of [before, after]) {
        expect(
          await eventually(async () => ((await status(h, ref)) === 'ACTIVE_HEALTHY' ? true : undefined)),
        ).toBe(true);
        expect(plans.get(ref)!.times).toBe(0);
        expect(await clusterObjects(ref)).toEqual([
          `db:proj_${ref}`,
          `role:authenticator_${ref}`,
          `role:owner_${ref}`,
        ]);
        const keys = await h.db.query(
          `SELECT type FROM tm.api_keys k JOIN tm.projects p ON p.id = k.project_id WHERE p.ref = $1 ORDER BY type`,
          [ref],
        );
        expect(keys.rows.map((r) => r.type)).toEqual(['publishable', 'secret']);
        expect(h.functions.live.has(ref)).toBe(true);
      }

      expect(
        await eventually(async () => ((await status(h, broken)) === 'INIT_FAILED' ? true : undefined)),
      ).toBe(true);
      expect(await clusterObjects(broken)).toEqual([]);
      expect(h.functions.live.has(broken)).toBe(false);
      const row = await h.db.query(
        `SELECT last_error, (SELECT count(*)::int FROM tm.api_keys k WHERE k.project_id = p.id) AS keys FROM tm.projects p WHERE ref = $1`,
        [broken],
      );
      expect(row.rows[0]).toEqual({ last_error: `injected fault before ${step}`, keys: 0 });
      const shown = await h.tm.publicApp.inject({ url: `/v1/projects/${broken}`, headers: admin });
      expect(shown.json()).toMatchObject({
        status: 'INIT_FAILED',
        last_error: `injected fault before ${step}`,
      });
      // an INIT_FAILED project can be paused by nobody, and deleted like any other
      const pause = await h.tm.publicApp.inject({
        method: 'POST',
        url: `/v1/projects/${broken}/pause`,
        headers: admin,
      });
      expect(pause.statusCode).toBe(409);
      const deleted = await h.tm.publicApp.inject({
        method: 'DELETE',
        url: `/v1/projects/${broken}`,
        headers: admin,
      });
      expect(deleted.statusCode).toBe(200);
      expect(deleted.json().ref).toBe(broken);
    },
  );

  it('a restarted tenant-manager resumes a project left half-provisioned', async () => {
    const managementUrl = await freshManagementDb();
    let crash = true;
    const first = await startHarness({
      managementUrl,
      faults: {
        beforeStep: (step) => {
          if (crash && step === 'create_database') throw new Error('power cut');
        },
      },
      provisioning: { backoffMs: 60_000, maxAttempts: 100 },
    });
    await first.registerCluster('restart', 10);
    const row = await insertProject(first.tm.ctx, { name: 'resume me', ref: 'resume-me' });
    void first.tm.provisioner.start(row.id);
    await eventually(async () => {
      const { rows } = await first.db.query('SELECT attempts FROM tm.projects WHERE id = $1', [row.id]);
      return rows[0].attempts >= 1 ? true : undefined;
    });
    await first.close(); // the process dies while waiting to retry
    crash = false;
    const { rows } = await first.db.query('SELECT 1').catch(() => ({ rows: [] }));
    expect(rows).toEqual([]); // its pool is really closed
    expect(await clusterObjects('resume-me')).toEqual([
      'role:authenticator_resume-me',
      'role:owner_resume-me',
    ]);

    const second = await startHarness({ managementUrl });
    try {
      expect(
        await eventually(async () =>
          (await status(second, 'resume-me')) === 'ACTIVE_HEALTHY' ? true : undefined,
        ),
      ).toBe(true);
      expect(await clusterObjects('resume-me')).toContain('db:proj_resume-me');
      const { rows: steps } = await second.db.query(
        `SELECT step, attempts, last_error FROM tm.projects WHERE ref = 'resume-me'`,
      );
      expect(steps[0]).toEqual({ step: 'activate', attempts: 0, last_error: null });
    } finally {
      await second.close();
    }
  });

  it('two replicas resuming the same projects run every step exactly once', async () => {
    const managementUrl = await freshManagementDb();
    const runs: string[] = [];
    const faults = {
      beforeStep: async (step: ProvisioningStep, ref: string) => {
        runs.push(`${ref}:${step}`);
        await new Promise((r) => setTimeout(r, 2)); // widen the race window
      },
    };
    const x = await startHarness({ managementUrl, resume: false, faults });
    const y = await startHarness({ managementUrl, resume: false, faults, functions: x.functions });
    try {
      await x.registerCluster('replicas', 20);
      const refs = ['rep-one', 'rep-two', 'rep-three', 'rep-four'];
      for (const ref of refs) await insertProject(x.tm.ctx, { name: ref, ref });
      await Promise.all([x.tm.provisioner.resumeAll(), y.tm.provisioner.resumeAll()]);
      for (const ref of refs) {
        await eventually(async () => ((await status(x, ref)) === 'ACTIVE_HEALTHY' ? true : undefined));
      }
      for (const ref of refs) {
        expect(runs.filter((r) => r.startsWith(`${ref}:`))).toEqual(
          PROVISIONING_STEPS.map((s) => `${ref}:${s}`),
        );
        expect(x.functions.calls.filter((c) => c === `ensure:${ref}`)).toHaveLength(1);
      }
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  it('20 concurrent creates on a cluster with capacity 10 place exactly 10 there; draining clusters get none', async () => {
    const c = await startHarness({ provisioning: { backoffMs: 10 } });
    try {
      const full = await c.registerCluster('cap-ten', 10);
      const drained = await c.registerCluster('drained', 100);
      expect(
        (
          await c.tm.publicApp.inject({
            method: 'POST',
            url: `/v1/clusters/${drained}/drain`,
            headers: admin,
          })
        ).json().status,
      ).toBe('draining');
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          c.tm.publicApp.inject({
            method: 'POST',
            url: '/v1/projects',
            headers: admin,
            payload: { name: `cap ${i}` },
          }),
        ),
      );
      for (const r of responses) expect([201, 503]).toContain(r.statusCode);
      const created = responses.filter((r) => r.statusCode === 201).map((r) => r.json().ref as string);
      const settled = async () => {
        const { rows } = await c.db.query(
          `SELECT status, count(*)::int AS n FROM tm.projects GROUP BY status ORDER BY status`,
        );
        return rows.some((r) => r.status === 'COMING_UP') ? undefined : rows;
      };
      const byStatus = await eventually(settled, 30_000);
      const active = byStatus.find((r) => r.status === 'ACTIVE_HEALTHY')?.n;
      expect(active).toBe(10);
      expect(
        byStatus.filter((r) => r.status !== 'ACTIVE_HEALTHY').every((r) => r.status === 'INIT_FAILED'),
      ).toBe(true);
      expect(created.length - 10).toBe(byStatus.find((r) => r.status === 'INIT_FAILED')?.n ?? 0);
      const clusters = (await c.tm.publicApp.inject({ url: '/v1/clusters', headers: admin })).json();
      expect(clusters.find((x: { id: string }) => x.id === full).project_count).toBe(10);
      expect(clusters.find((x: { id: string }) => x.id === drained).project_count).toBe(0);
      for (const r of responses.filter((r) => r.statusCode === 503)) {
        expect(r.json()).toEqual({
          message: 'no worker cluster has room for a new project',
          code: 'no_capacity',
        });
      }
      // freeing a slot makes room again
      const { rows } = await c.db.query(
        `SELECT ref FROM tm.projects WHERE status = 'ACTIVE_HEALTHY' LIMIT 1`,
      );
      await c.tm.publicApp.inject({ method: 'DELETE', url: `/v1/projects/${rows[0].ref}`, headers: admin });
      const again = await c.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: admin,
        payload: { name: 'one more' },
      });
      expect(again.json()).toMatchObject({ status: 'ACTIVE_HEALTHY', cluster_id: full });
    } finally {
      await c.close();
    }
  });

  it('keeps spare databases ready and hands one to a new project, even when the step is re-run', async () => {
    const server = new pg.Pool({ connectionString: pgUrl() });
    const s = await startHarness({
      faults: { afterStep: (step, ref) => fire('after', step, ref) },
      provisioning: { backoffMs: 10, spareDatabases: 2 },
    });
    const ready = async () =>
      (
        await server.query(
          `SELECT datname FROM pg_database WHERE datname LIKE 'supaplane\\_spare\\_%' AND shobj_description(oid, 'pg_database') IS NOT NULL`,
        )
      ).rows.map((r) => r.datname as string);
    try {
      await s.registerCluster('spares', 10);
      const before = await eventually(async () => ((await ready()).length >= 2 ? await ready() : undefined));
      // No role can open a session in a spare (it becomes some project's database).
      const open = await server.query(
        `SELECT datname FROM pg_database WHERE datname LIKE 'supaplane\\_spare\\_%' AND datallowconn`,
      );
      expect(open.rows).toEqual([]);
      plans.set('spare-one', { when: 'after', step: 'create_database', times: 1 });
      const created = await s.createProject('spare-one');
      expect(created.json().status).toBe('ACTIVE_HEALTHY');
      expect(plans.get('spare-one')!.times).toBe(0);
      const after = await ready();
      expect(before.filter((name) => !after.includes(name))).toHaveLength(1); // one spare was renamed
      const { rows } = await server.query(
        `SELECT pg_get_userbyid(datdba) AS owner, datallowconn FROM pg_database WHERE datname = 'proj_spare-one'`,
      );
      expect(rows).toEqual([{ owner: 'owner_spare-one', datallowconn: true }]);
      const sql = await s.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects/spare-one/database/query',
        headers: admin,
        payload: { query: 'create table t (id int); select auth.role() as role' },
      });
      expect(sql.json()).toEqual([{ role: null }]);
      await eventually(async () => ((await ready()).length >= 2 ? true : undefined)); // refilled
    } finally {
      await s.close();
      await server.end();
    }
  });

  it("a database being made takes no connection before it is closed to every role but the project's own", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const atConfigure = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const s = await startHarness({
      faults: {
        beforeStep: async (step, ref) => {
          if (ref !== 'early-held' || step !== 'configure_database') return;
          reached();
          await held;
        },
      },
    });
    let creating: Promise<unknown> = Promise.resolve();
    try {
      await s.registerCluster('early', 10);
      expect((await s.createProject('early-other')).json().status).toBe('ACTIVE_HEALTHY');
      const other = (
        await s.tm.internalApp.inject({
          url: '/internal/v1/projects/early-other/rest-config',
          headers: internal,
        })
      ).json().db;
      creating = s.createProject('early-held');
      await atConfigure;
      // Another project's login role, between create_database and configure_database.
      const intruder = new pg.Client({
        host: other.host,
        port: other.port,
        user: other.user,
        password: other.password,
        database: 'proj_early-held',
      });
      intruder.on('error', () => {});
      const connected = await intruder.connect().then(
        () => true,
        () => false,
      );
      await intruder.end().catch(() => {});
      expect(connected).toBe(false);
    } finally {
      release();
      await creating;
      await s.close();
    }
  });

  it.each([
    { how: 'attempts are exhausted', runs: 3, error: () => new Error('function quota exceeded') },
    { how: 'the error is permanent', runs: 1, error: () => new AppError(503, 'function quota exceeded') },
  ])(
    'a rollback failing while the cluster is down is retried, capped, until INIT_FAILED without a restart ($how)',
    async ({ how, runs, error }) => {
      const ref = `rollback-${how.split(' ').at(-1)}`;
      const proxy = await startClusterProxy();
      const server = new pg.Client({ connectionString: pgUrl() });
      const user = `tm_admin_${randomBytes(4).toString('hex')}`;
      const password = randomBytes(18).toString('hex');
      const lines: string[] = [];
      let calls = 0;
      const r = await startHarness({
        logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
        faults: {
          beforeStep: (step) => {
            if (step !== 'create_function') return;
            if (++calls === runs) proxy.down(); // the cluster goes away just before the rollback
            throw error();
          },
        },
        // Uncapped, the 10 rollback attempts awaited below would take over 10 s.
        provisioning: { backoffMs: 10, maxBackoffMs: 50, maxAttempts: 3, spareDatabases: 0 },
      });
      try {
        await server.connect();
        await server.query(`CREATE ROLE ${user} SUPERUSER LOGIN PASSWORD '${password}'`);
        await r.registerCluster(`outage-${how.split(' ').at(-1)}`, 10, {
          host: '127.0.0.1',
          port: proxy.port,
          admin_user: user,
          admin_password: password,
        });
        const row = await insertProject(r.tm.ctx, { name: ref, ref });
        let settled = false;
        const run = r.tm.provisioner.start(row.id).then(() => {
          settled = true;
        });
        const project = async () => {
          const { rows } = await r.db.query('SELECT status, last_error FROM tm.projects WHERE id = $1', [
            row.id,
          ]);
          // The operator sees what the row says.
          const api = await r.tm.publicApp.inject({ url: `/v1/projects/${ref}`, headers: admin });
          expect({ status: api.json().status, last_error: api.json().last_error }).toEqual(rows[0]);
          return rows[0] as { status: string; last_error: string };
        };

        await eventually(async () => (proxy.refused() >= 10 ? true : undefined), 5_000);
        expect(await project()).toEqual({
          status: 'COMING_UP',
          last_error: expect.stringMatching(
            /^rollback failed: .+; provisioning failed: function quota exceeded$/,
          ),
        });
        expect(settled).toBe(false);
        expect(await clusterObjects(ref)).toEqual([
          `db:proj_${ref}`,
          `role:authenticator_${ref}`,
          `role:owner_${ref}`,
        ]);

        proxy.up();
        await run; // the same driver finishes the rollback: no restart, no resumeAll
        expect(await project()).toEqual({ status: 'INIT_FAILED', last_error: 'function quota exceeded' });
        expect(await clusterObjects(ref)).toEqual([]);
        expect(calls).toBe(runs); // the failed step is not re-run while rolling back

        const failures = lines
          .map((line) => JSON.parse(line))
          .filter((l) => l.msg === 'rollback failed; will retry');
        expect(failures.length).toBeGreaterThanOrEqual(10);
        expect(failures.every((l) => l.ref === ref && typeof l.err === 'string')).toBe(true);
        const secrets = [
          password,
          r.tm.ctx.box.open(row.owner_password_enc, secretAad.ownerPassword(row.id)),
          r.tm.ctx.box.open(row.authenticator_password_enc, secretAad.authenticatorPassword(row.id)),
        ];
        for (const secret of secrets) expect(lines.filter((line) => line.includes(secret))).toEqual([]);
      } finally {
        await r.close();
        await proxy.close();
        await server.end();
      }
    },
  );

  it('migrations started by two replicas at once apply each version once', async () => {
    const url = await freshManagementDb();
    const pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      const versions = MIGRATIONS.map((m) => m.version);
      expect(versions.length).toBeGreaterThan(1);
      expect(results.flat().sort()).toEqual(versions);
      const { rows } = await pools[0]!.query('SELECT version FROM tm.schema_migrations ORDER BY version');
      expect(rows).toEqual(versions.map((version) => ({ version })));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });
});
