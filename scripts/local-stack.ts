/**
 * The local platform on one machine: `pnpm start` (= `tsx scripts/local-stack.ts`), and the start-up
 * code the end-to-end suites share through {@link startLocalStack}.
 *
 * Services start in the order of {@link SERVICES} and stop in reverse:
 *   postgres        embedded PostgreSQL 16 (<dataDir>/pg): management database `supaplane` and the
 *                   local worker cluster on the same server
 *   redis           REDIS_URL if set, else a `redis-server` from PATH, else none (gateway on L1 alone)
 *   lambda          local Lambda Function URL emulator, runtime `rest` = @supaplane/rest
 *   tenant-manager  PROVIDER=local, functions registered in the emulator
 *   gateway         LOCAL_MODE, SigV4 to the emulator with the local static credentials
 * then the local worker cluster is registered and a project named `demo` created when missing, with a
 * `todos` table that the supabase-js example printed at start reads.
 *
 * Environment (read once, only when run directly):
 *   SUPAPLANE_DATA_DIR  data directory (default `.data`): Postgres files, `secrets.json` (0600: admin key,
 *                       internal service token, master key, local SigV4 credentials; generated on
 *                       first start and reused; a missing field is added, the rest kept),
 *                       `lambda/functions.json`, `local-stack.json`, `redis-server.pid` (while it runs)
 *   PG_PORT             embedded PostgreSQL (default 54329)
 *   GATEWAY_PORT        gateway, the URL apps use (default 8000)
 *   TM_PUBLIC_PORT      tenant-manager operator API (default 3001)
 *   TM_INTERNAL_PORT    tenant-manager internal API (default 3002)
 *   LAMBDA_PORT         Lambda Function URL emulator (default 9000); when it changes on an existing data
 *                       dir, the tenant-manager re-registers every function at start and stores the new URLs
 *   BASE_DOMAIN         projects answer at http://<ref>.<BASE_DOMAIN>:<GATEWAY_PORT> (default `localhost`)
 *   REDIS_URL           use this Redis instead of starting one
 *   LOG_LEVEL           services' log level (default `info`)
 *
 * Written on start: `<dataDir>/local-stack.json` = {gatewayUrl, tenantManagerUrl, internalUrl, adminKey,
 * baseDomain, demoProject: {ref, publishableKey, secretKey}}. SIGINT/SIGTERM/SIGHUP stop everything cleanly.
 */
import { writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunningPostgres } from '@supaplane/local-services';
import { loadOrCreateSecrets, prepareDataDir } from './local-stack/data-dir.js';
import { ensurePortsFree, portsFromEnv, type StackPorts, stackPorts } from './local-stack/ports.js';
import { LOCAL_REGION, type Settings, startServices } from './local-stack/services.js';

export { type LocalSecrets, loadOrCreateSecrets } from './local-stack/data-dir.js';
export { ensurePortsFree, freeStackPorts, type StackPorts } from './local-stack/ports.js';

/** Every port missing here is its default (PG_PORT and the others in the comment above). */
export interface LocalStackOptions extends Partial<StackPorts> {
  /** Default `.data`. */
  readonly dataDir?: string;
  /** Default `localhost`. */
  readonly baseDomain?: string;
  /** Use this Redis; otherwise one is started when `redis-server` is on PATH. */
  readonly redisUrl?: string;
  /** Only warnings and errors are printed. */
  readonly quiet?: boolean;
  /** Services' log level (default `info`, or `warn` when quiet). */
  readonly logLevel?: string;
  /** PostgreSQL with fsync off: for throw-away data directories (tests). Default false. */
  readonly fastPostgres?: boolean;
}

export interface DemoProject {
  readonly ref: string;
  readonly publishableKey: string;
  readonly secretKey: string;
}

export interface LocalStack {
  readonly gatewayUrl: string;
  readonly tenantManagerUrl: string;
  readonly internalUrl: string;
  readonly adminKey: string;
  readonly baseDomain: string;
  readonly demoProject: DemoProject;
  /** Superuser URL of the embedded cluster (tests' database-level checks). */
  readonly postgresUrl: string;
  /** Bearer token of the tenant-manager internal API and the emulator's control API. */
  readonly internalToken: string;
  readonly lambdaUrl: string;
  readonly redisUrl: string | null;
  stop(): Promise<void>;
}

/** What `pnpm start` prints and writes to `<dataDir>/local-stack.json`. */
export type StackSummary = Pick<
  LocalStack,
  'gatewayUrl' | 'tenantManagerUrl' | 'internalUrl' | 'adminKey' | 'baseDomain' | 'demoProject'
>;

/**
 * Writes `<dataDir>/local-stack.json` (0600), what scripts and operators read:
 * `{gatewayUrl, tenantManagerUrl, internalUrl, adminKey, baseDomain, demoProject}`. Returns its path.
 */
export async function writeStackSummary(dataDir: string, stack: StackSummary): Promise<string> {
  const { gatewayUrl, tenantManagerUrl, internalUrl, adminKey, baseDomain, demoProject } = stack;
  const file = join(dataDir, 'local-stack.json');
  const summary = { gatewayUrl, tenantManagerUrl, internalUrl, adminKey, baseDomain, demoProject };
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Starts every service, registers the local worker cluster and the `demo` project when missing. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const dataDir = resolve(options.dataDir ?? '.data');
  const ports = stackPorts((name) => options[name]);
  await ensurePortsFree(ports, dataDir);
  await prepareDataDir(dataDir);
  const quiet = options.quiet ?? false;
  const settings: Settings = {
    dataDir,
    ...ports,
    baseDomain: (options.baseDomain ?? 'localhost').toLowerCase(),
    redisUrl: options.redisUrl,
    logLevel: options.logLevel ?? (quiet ? 'warn' : 'info'),
    fastPostgres: options.fastPostgres ?? false,
    secrets: await loadOrCreateSecrets(dataDir),
    log: quiet ? () => {} : (line) => console.log(line),
    warn: (line) => console.warn(line),
  };

  const { running, stopAll } = await startServices(settings);
  try {
    const tenantManagerUrl = running.tenantManager!.publicUrl;
    const operator = operatorClient(tenantManagerUrl, settings.secrets.adminKey);
    await ensureWorkerCluster(operator, running.postgres!, settings);
    const demoProject = await ensureDemoProject(operator, settings.log);
    return {
      gatewayUrl: running.gatewayUrl!,
      tenantManagerUrl,
      internalUrl: running.tenantManager!.internalUrl,
      adminKey: settings.secrets.adminKey,
      baseDomain: settings.baseDomain,
      demoProject,
      postgresUrl: running.postgres!.url,
      internalToken: settings.secrets.internalServiceToken,
      lambdaUrl: running.lambdaUrl!,
      redisUrl: running.redisUrl ?? null,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: operator API replies are read field by field and checked
type Json = any;
export type Operator = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Json }>;

/** Calls the tenant-manager's operator API with the admin key; bodies parsed when JSON. */
export function operatorClient(baseUrl: string, adminKey: string): Operator {
  return async (method, path, body) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, body: parsed };
  };
}

function expectOk(what: string, res: { status: number; body: unknown }, ...ok: number[]) {
  if (!ok.includes(res.status)) {
    const detail = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
    throw new Error(`${what}: HTTP ${res.status} ${detail?.slice(0, 300)}`);
  }
}

/** The embedded server doubles as the one local worker cluster. */
async function ensureWorkerCluster(
  operator: Operator,
  postgres: RunningPostgres,
  s: Settings,
): Promise<void> {
  const list = await operator('GET', '/v1/clusters');
  expectOk('listing clusters', list, 200);
  const clusters: unknown[] = Array.isArray(list.body) ? list.body : (list.body?.clusters ?? []);
  if (clusters.length > 0) return;
  const created = await operator('POST', '/v1/clusters', {
    name: 'local',
    host: postgres.host,
    port: postgres.port,
    admin_user: postgres.user,
    admin_password: postgres.password,
    admin_database: 'postgres',
    ssl: false,
    capacity: 1000,
    region: LOCAL_REGION,
  });
  expectOk('registering the local worker cluster', created, 200, 201);
  s.log('registered worker cluster `local` (the embedded PostgreSQL)');
}

/**
 * The demo project's one table, run as its owner through the operator's SQL endpoint: readable by
 * anyone holding the publishable key (row-level security on, one SELECT policy), written only with
 * the secret key (service_role bypasses RLS) or by a policy the developer adds.
 */
const DEMO_SCHEMA = `
CREATE TABLE public.todos (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  task text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  inserted_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY "todos are readable by anyone" ON public.todos FOR SELECT USING (true);
INSERT INTO public.todos (task, done) VALUES
  ('Start Supaplane', true),
  ('Query the demo project with supabase-js', false);
`;

/**
 * The project named `name` (default `demo`), created when missing, with the `todos` table whenever its
 * `public` schema has no table at all: a project made by a version before the table existed, or by a
 * start stopped between creating it and seeding it, gets it too; one whose tables the developer has
 * changed is left as it is.
 */
export async function ensureDemoProject(
  operator: Operator,
  log: (line: string) => void,
  name = 'demo',
): Promise<DemoProject> {
  const list = await operator('GET', '/v1/projects');
  expectOk('listing projects', list, 200);
  const projects: Array<{ ref: string; name: string; status: string }> = Array.isArray(list.body)
    ? list.body
    : (list.body?.projects ?? []);
  let demo = projects.find((p) => p.name === name && p.status !== 'REMOVED');
  if (demo?.status === 'INIT_FAILED') {
    // Its provisioning gave up and was rolled back: nothing in it to keep, and it never comes up.
    const removed = await operator('DELETE', `/v1/projects/${demo.ref}`);
    expectOk(`removing the failed ${name} project`, removed, 200, 204);
    log(`removed project ${name} (${demo.ref}): its provisioning had failed; creating it again`);
    demo = undefined;
  }
  if (!demo) {
    const created = await operator('POST', '/v1/projects', { name });
    expectOk(`creating the ${name} project`, created, 200, 201);
    demo = created.body;
    log(`created project ${name} (${demo!.ref})`);
  }
  const ref = demo!.ref;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await operator('GET', `/v1/projects/${ref}`);
    expectOk('reading the demo project', res, 200);
    if (res.body.status === 'ACTIVE_HEALTHY') break;
    if (res.body.status === 'INIT_FAILED' || Date.now() > deadline) {
      throw new Error(`demo project ${ref} is ${res.body.status}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const tables = await operator('POST', `/v1/projects/${ref}/database/query`, {
    query: "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'",
  });
  expectOk(`reading the ${name} project's tables`, tables, 200, 201);
  if (tables.body?.[0]?.n === 0) {
    // The table the printed supabase-js example reads.
    const seeded = await operator('POST', `/v1/projects/${ref}/database/query`, { query: DEMO_SCHEMA });
    expectOk(`creating the ${name} todos table`, seeded, 200, 201);
  }
  const keys = await operator('GET', `/v1/projects/${ref}/api-keys?reveal=true`);
  expectOk('reading the demo keys', keys, 200);
  const list2: Array<{ type: string; api_key: string }> = Array.isArray(keys.body) ? keys.body : [];
  const publishableKey = list2.find((k) => k.type === 'publishable')?.api_key;
  const secretKey = list2.find((k) => k.type === 'secret')?.api_key;
  if (!publishableKey || !secretKey) throw new Error('the demo project has no publishable/secret key pair');
  return { ref, publishableKey, secretKey };
}

/** The banner `pnpm start` prints: every command in it works when pasted. */
export function describeStack(stack: StackSummary): string {
  const gateway = new URL(stack.gatewayUrl);
  const projectUrl = `${gateway.protocol}//${stack.demoProject.ref}.${stack.baseDomain}:${gateway.port}`;
  const { ref, publishableKey, secretKey } = stack.demoProject;
  return `
Supaplane is running.

  Gateway (apps use this)   ${stack.gatewayUrl}
  Demo project URL          ${projectUrl}   (browsers and curl resolve *.localhost; Node: use the gateway URL)
  Tenant-manager API        ${stack.tenantManagerUrl}   (OpenAPI at ${stack.tenantManagerUrl}/docs)
  Internal API              ${stack.internalUrl}   (gateway and functions only, never apps)
  Admin key                 ${stack.adminKey}

  Demo project ref          ${ref}
  Publishable key           ${publishableKey}
  Secret key                ${secretKey}

Data API (the demo's todos table, readable with the publishable key):

  curl '${stack.gatewayUrl}/rest/v1/todos?select=*' -H 'apikey: ${publishableKey}'

supabase-js (Node 20: npm i @supabase/supabase-js ws; save as demo.mjs and run node demo.mjs):

  import { createClient } from '@supabase/supabase-js';
  import ws from 'ws';

  const supabase = createClient('${stack.gatewayUrl}', '${publishableKey}', {
    realtime: { transport: ws },
  });
  const { data, error } = await supabase.from('todos').select('*');
  console.log(error ?? data);

Operator API:

  curl -H 'Authorization: Bearer ${stack.adminKey}' ${stack.tenantManagerUrl}/v1/projects
  curl -H 'Authorization: Bearer ${stack.adminKey}' ${stack.tenantManagerUrl}/v1/projects/${ref}/usage

Ctrl-C stops everything.
`;
}

async function main(): Promise<void> {
  const env = process.env;
  const ports = portsFromEnv(env);
  // Signals (Ctrl-C, a closed terminal, kill) stop the stack: during start-up at once, with the exit
  // hooks that shut down PostgreSQL and redis-server (Node's default death runs none of them and
  // leaves both running); once it runs, in order, every service drained.
  let stack: LocalStack | undefined;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const code = 128 + (osConstants.signals[signal] ?? 0);
    if (!stack) {
      console.log(`\n${signal} during start-up: stopping…`);
      process.exit(code);
    }
    console.log(`\n${signal}: stopping…`);
    stack.stop().then(
      () => process.exit(0),
      (error: Error) => {
        console.error(`stopping failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));

  stack = await startLocalStack({
    dataDir: env['SUPAPLANE_DATA_DIR'] || '.data',
    ...ports,
    baseDomain: env['BASE_DOMAIN'] || undefined,
    redisUrl: env['REDIS_URL'] || undefined,
    logLevel: env['LOG_LEVEL'] || undefined,
  });
  const file = await writeStackSummary(resolve(env['SUPAPLANE_DATA_DIR'] || '.data'), stack);
  console.log(describeStack(stack));
  console.log(`(also written to ${file})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: Error) => {
    console.error(`local stack failed to start: ${error.message}`);
    process.exit(1);
  });
}
