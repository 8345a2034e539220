import { freePort } from '@supaplane/local-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  eventually,
  type Harness,
  type InvalidationListener,
  internal,
  startHarness,
  startInvalidationListener,
} from '../test/harness.js';
import { createTenantManagerMetrics } from './lib/metrics.js';

// The tenant-manager's Prometheus metrics, scraped from its internal port after real work: projects
// provisioned (one after a failed step, one rolled back), API calls, invalidations published.

let redis: InvalidationListener;
let h: Harness;
let clusterId: string;
const failures = new Map<string, number>([['metrics-flaky', 1]]);

beforeAll(async () => {
  redis = await startInvalidationListener();
  h = await startHarness({
    redis: redis.publisher,
    faults: {
      beforeStep(step, ref) {
        if (ref === 'metrics-doomed' && step === 'create_database') throw new Error('disk full');
        const left = failures.get(ref) ?? 0;
        if (step === 'create_roles' && left > 0) {
          failures.set(ref, left - 1);
          throw new Error('cluster hiccup');
        }
      },
    },
  });
  clusterId = await h.registerCluster('metrics', 5);
  // metrics-flaky's configure_database also does its work once without being recorded (a sequence
  // outlives the refused UPDATE's rollback): one failed attempt, not a done one as well.
  await h.db.query(`
CREATE SEQUENCE tm.metrics_unrecorded;
CREATE FUNCTION tm.metrics_refuse_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.ref = 'metrics-flaky' AND OLD.step = 'configure_database' AND NEW.step <> OLD.step
     AND nextval('tm.metrics_unrecorded') = 1 THEN
    RAISE EXCEPTION 'step not recorded';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER metrics_refuse_record BEFORE UPDATE ON tm.projects
  FOR EACH ROW EXECUTE FUNCTION tm.metrics_refuse_record();`);
  for (const ref of ['metrics-ok', 'metrics-flaky']) {
    const created = await h.createProject(ref);
    expect(created.statusCode, created.body).toBe(201);
  }
  await h.createProject('metrics-doomed');
  await eventually(async () => {
    const res = await h.tm.publicApp.inject({ url: '/v1/projects/metrics-doomed', headers: admin });
    return res.statusCode === 404 || res.json().status === 'INIT_FAILED' ? true : undefined;
  });
  await h.tm.publicApp.inject({ url: '/v1/projects', headers: {} });
  await h.tm.publicApp.inject({ url: '/v1/nowhere', headers: admin });
});

afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

async function scrape(): Promise<string> {
  const res = await h.tm.internalApp.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

/** The value of one series, by its exact name and labels as rendered. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('tenant-manager /metrics (internal port)', () => {
  it('reports projects by status and each cluster’s load, read from the management database', async () => {
    const text = await scrape();
    expect(value(text, 'tenant_manager_management_db_up')).toBe(1);
    expect(value(text, 'tenant_manager_projects{status="ACTIVE_HEALTHY"}')).toBe(2);
    expect(value(text, 'tenant_manager_projects{status="INIT_FAILED"}')).toBe(1);
    const labels = `cluster="${clusterId}",name="metrics",status="active"`;
    expect(value(text, `tenant_manager_cluster_projects{${labels}}`)).toBe(2);
    expect(value(text, `tenant_manager_cluster_capacity{${labels}}`)).toBe(5);
  });

  it('times every provisioning step, counts failed attempts and how provisioning ended', async () => {
    const text = await scrape();
    const steps = (step: string, outcome: string) =>
      value(
        text,
        `tenant_manager_provisioning_step_duration_seconds_count{step="${step}",outcome="${outcome}"}`,
      );
    for (const step of ['allocate_cluster', 'create_roles', 'configure_database', 'activate']) {
      expect(steps(step, 'done'), step).toBe(step === 'allocate_cluster' || step === 'create_roles' ? 3 : 2);
    }
    expect(steps('create_roles', 'failed')).toBe(1);
    expect(steps('configure_database', 'failed')).toBe(1);
    expect(steps('create_database', 'failed')).toBe(3);
    expect(value(text, 'tenant_manager_projects_provisioned_total{result="active"}')).toBe(2);
    expect(value(text, 'tenant_manager_projects_provisioned_total{result="init_failed"}')).toBe(1);
    expect(value(text, 'tenant_manager_invalidations_total{result="published"}')).toBeGreaterThanOrEqual(2);
  });

  it('counts API requests by route pattern and status, unknown routes as unmatched', async () => {
    const text = await scrape();
    const series = (app: string, method: string, route: string, status: number) =>
      value(
        text,
        `tenant_manager_http_requests_total{app="${app}",method="${method}",route="${route}",status="${status}"}`,
      );
    expect(series('public', 'POST', '/v1/projects', 201)).toBe(3);
    expect(series('public', 'GET', '/v1/projects', 401)).toBe(1);
    expect(series('public', 'GET', 'unmatched', 404)).toBe(1);
    expect(series('public', 'GET', '/v1/projects/:ref', 200)).toBeGreaterThanOrEqual(1);
    // A project ref never becomes a label: routes are their patterns.
    expect(text).not.toContain('metrics-ok');
    expect(series('internal', 'GET', '/metrics', 200)).toBeGreaterThanOrEqual(1);
  });

  it('keeps the internal API behind its token while /metrics needs none', async () => {
    expect(
      (await h.tm.internalApp.inject({ url: '/internal/v1/projects/metrics-ok/config' })).statusCode,
    ).toBe(401);
    expect(
      (await h.tm.internalApp.inject({ url: '/internal/v1/projects/metrics-ok/config', headers: internal }))
        .statusCode,
    ).toBe(200);
  });

  it('says the management database is down instead of failing the scrape', async () => {
    const dead = new pg.Pool({ port: await freePort(), host: '127.0.0.1', connectionTimeoutMillis: 500 });
    dead.on('error', () => {});
    const metrics = createTenantManagerMetrics(dead);
    const text = await metrics.registry.metrics();
    expect(value(text, 'tenant_manager_management_db_up')).toBe(0);
    expect(text).not.toContain('tenant_manager_projects{');
    await dead.end();
  });

  it('never lets a hung management database hold a scrape or pile up queries', async () => {
    const pending: Array<(rows: object[]) => void> = [];
    const hung = {
      query: (text: string) =>
        new Promise((resolve) =>
          pending.push((rows) => resolve({ rows: text.includes('GROUP BY status') ? rows : [] })),
        ),
    } as unknown as pg.Pool;
    const metrics = createTenantManagerMetrics(hung, { snapshotTimeoutMs: 100 });
    const first = await metrics.registry.metrics();
    expect(value(first, 'tenant_manager_management_db_up')).toBe(0);
    expect(pending).toHaveLength(2); // one read: its two queries
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(value(await metrics.registry.metrics(), 'tenant_manager_management_db_up')).toBe(0);
    expect(pending).toHaveLength(2); // still out: no second read behind it
    for (const answer of pending) answer([{ status: 'ACTIVE_HEALTHY', count: 3 }]);
    await new Promise((resolve) => setImmediate(resolve));
    const after = await metrics.registry.metrics();
    expect(value(after, 'tenant_manager_management_db_up')).toBe(1);
    expect(value(after, 'tenant_manager_projects{status="ACTIVE_HEALTHY"}')).toBe(3);
  });
});
