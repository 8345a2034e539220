/**
 * Provisioning benchmark: create → ACTIVE_HEALTHY and delete latency of the tenant-manager on a fresh
 * embedded PostgreSQL 16.
 *
 *   pnpm tsx scripts/bench/provision/index.ts [--projects 30] [--concurrency 1] [--ephemeral]
 *                                             [--spares 2] [--pause-ms 0]
 *
 * --spares: template copies kept ready per cluster (SPARE_DATABASES); --pause-ms: gap between two
 * creates of one worker (back to back by default, which drains the spares faster than they refill).
 *
 * The data-API function is hosted by an in-process provider (the Lambda emulator's own latency is
 * not part of this measure). Postgres runs with fsync on unless --ephemeral.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startPostgres } from '@supaplane/local-services';
import { buildApp, type Provider } from '@supaplane/tenant-manager';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    projects: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '1' },
    ephemeral: { type: 'boolean', default: false },
    spares: { type: 'string', default: '2' },
    'pause-ms': { type: 'string', default: '0' },
  },
});
const projects = Number(values.projects);
const concurrency = Number(values.concurrency);
const pauseMs = Number(values['pause-ms']);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const summary = (label: string, samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (n: number) => `${n.toFixed(1)} ms`;
  console.log(
    `${label.padEnd(28)} n=${sorted.length}  p50 ${fmt(percentile(sorted, 50))}  p95 ${fmt(percentile(sorted, 95))}  max ${fmt(sorted[sorted.length - 1]!)}`,
  );
};

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

const server = await startPostgres({ ephemeral: values.ephemeral });
const adminUrl = new URL(server.url);
const setup = new pg.Client({ connectionString: server.url });
await setup.connect();
await setup.query('CREATE DATABASE supaplane_bench');
await setup.end();
adminUrl.pathname = '/supaplane_bench';
const db = new pg.Pool({ connectionString: adminUrl.toString(), max: 20 });
db.on('error', () => {}); // idle clients see the server stop at the end

const provider: Provider = {
  name: 'local',
  functions: {
    ensureRestFunction: async ({ ref }) => ({
      name: `rest-${ref}`,
      url: `http://rest-${ref}.lambda-url.local.localhost:9000/`,
      region: 'local',
    }),
    deleteRestFunction: async () => {},
  },
};
const adminKey = randomBytes(24).toString('base64url');
// Per-step durations through the provisioning hooks (between "before" and "after" of each step).
const stepStarted = new Map<string, number>();
const stepMs = new Map<string, number[]>();
const tm = await buildApp({
  db,
  provider,
  faults: {
    beforeStep: (step, ref) => void stepStarted.set(`${ref}:${step}`, performance.now()),
    afterStep: (step, ref) => {
      const started = stepStarted.get(`${ref}:${step}`);
      if (started !== undefined) stepMs.set(step, [...(stepMs.get(step) ?? []), performance.now() - started]);
    },
  },
  config: {
    adminApiKey: adminKey,
    internalServiceToken: randomBytes(24).toString('base64url'),
    masterKey: randomBytes(32),
    publicUrlTemplate: 'http://{ref}.localhost:8000',
    internalBaseUrl: 'http://127.0.0.1:3002',
    provisionWaitMs: 10_000,
    provisionConcurrency: Math.max(4, concurrency),
    spareDatabases: Number(values.spares),
  },
});
const headers = { authorization: `Bearer ${adminKey}` };
const registered = await tm.publicApp.inject({
  method: 'POST',
  url: '/v1/clusters',
  headers,
  payload: {
    name: 'bench',
    host: server.host,
    port: server.port,
    admin_user: server.user,
    admin_password: server.password,
    capacity: 10_000,
  },
});
if (registered.statusCode !== 201) throw new Error(`cluster registration failed: ${registered.body}`);

async function waitActive(ref: string) {
  for (;;) {
    const r = await tm.publicApp.inject({ url: `/v1/projects/${ref}`, headers });
    const status = r.json().status;
    if (status === 'ACTIVE_HEALTHY') return;
    if (status !== 'COMING_UP') throw new Error(`${ref} ended ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// one warm-up project (template database, pools) not counted
const warm = await tm.publicApp.inject({
  method: 'POST',
  url: '/v1/projects',
  headers,
  payload: { name: 'warm-up' },
});
await tm.publicApp.inject({ method: 'DELETE', url: `/v1/projects/${warm.json().ref}`, headers });
// start with the spares ready, as a platform that has been idle for a moment would
const probe = new pg.Client({ connectionString: server.url });
await probe.connect();
for (let waited = 0; waited < 60_000; waited += 100) {
  const { rows } = await probe.query(
    `SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'supaplane\\_spare\\_%' AND shobj_description(oid, 'pg_database') IS NOT NULL`,
  );
  if (rows[0].n >= Number(values.spares)) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await probe.end();

stepMs.clear();
const createMs: number[] = [];
const refs: string[] = [];
const createStarted = performance.now();
await pool(
  Array.from({ length: projects }, (_, i) => i),
  concurrency,
  async (i) => {
    const started = performance.now();
    const response = await tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects',
      headers,
      payload: { name: `bench ${i}` },
    });
    if (response.statusCode !== 201) throw new Error(`create failed: ${response.body}`);
    const { ref, status } = response.json();
    if (status !== 'ACTIVE_HEALTHY') await waitActive(ref);
    createMs.push(performance.now() - started);
    refs.push(ref);
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  },
);
const createWall = performance.now() - createStarted;

const deleteMs: number[] = [];
await pool([...refs], concurrency, async (ref) => {
  const started = performance.now();
  const response = await tm.publicApp.inject({ method: 'DELETE', url: `/v1/projects/${ref}`, headers });
  if (response.statusCode !== 200) throw new Error(`delete failed: ${response.body}`);
  deleteMs.push(performance.now() - started);
});

console.log(
  `tenant-manager provisioning: ${projects} projects, concurrency ${concurrency}, spares ${values.spares}, ` +
    `pause ${pauseMs} ms, fsync ${values.ephemeral ? 'off' : 'on'}`,
);
summary('create → ACTIVE_HEALTHY', createMs);
summary('delete → REMOVED', deleteMs);
console.log(`throughput                   ${((projects / createWall) * 1000).toFixed(1)} creates/s`);
for (const [step, samples] of stepMs) summary(`  step ${step}`, samples);

await tm.close();
await db.end();
await server.stop();
