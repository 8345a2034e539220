/**
 * The local platform on one machine: `pnpm start` (= `tsx scripts/local-stack.ts`), and the start-up
 * code the end-to-end suites share through {@link startLocalStack}.
 *
 * Services start in the order of SERVICES (local-stack/services.ts) and stop in reverse:
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
 *   LOG_LEVEL           services' log level (default `warn`: `info` logs every request)
 *
 * Written on start: `<dataDir>/local-stack.json` = {gatewayUrl, tenantManagerUrl, internalUrl, adminKey,
 * baseDomain, demoProject: {ref, publishableKey, secretKey, databaseUrl}, pid}. SIGINT/SIGTERM/SIGHUP stop everything
 * cleanly, in reverse order: PostgreSQL and redis-server run in sessions of their own, so a terminal's
 * Ctrl-C reaches the stack alone and they stop after their clients. A start on a data dir whose stack
 * still runs (that pid) stops at once, naming it.
 */
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadOrCreateSecrets, prepareDataDir } from './local-stack/data-dir.js';
import { ensureDemoProject, ensureWorkerCluster, operatorClient } from './local-stack/operator-setup.js';
import { ensurePortsFree, portsFromEnv, type StackPorts, stackPorts } from './local-stack/ports.js';
import { LOCAL_REGION, type Settings, startServices } from './local-stack/services.js';
import { describeStack, type StackSummary, writeStackSummary } from './local-stack/summary.js';

export { loadOrCreateSecrets } from './local-stack/data-dir.js';
export { ensureDemoProject, type Operator, operatorClient } from './local-stack/operator-setup.js';
export { ensurePortsFree, freeStackPorts, type StackPorts } from './local-stack/ports.js';
export { describeStack, writeStackSummary } from './local-stack/summary.js';

/** Every port missing here is its default (PG_PORT and the others in the comment above). */
interface LocalStackOptions extends Partial<StackPorts> {
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

export interface LocalStack extends StackSummary {
  /** Superuser URL of the embedded cluster (tests' database-level checks). */
  readonly postgresUrl: string;
  /** Bearer token of the tenant-manager internal API and the emulator's control API. */
  readonly internalToken: string;
  readonly lambdaUrl: string;
  readonly redisUrl: string | null;
  stop(): Promise<void>;
}

/** Starts every service, registers the local worker cluster and the `demo` project when missing. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const dataDir = resolve(options.dataDir ?? '.data');
  const ports = stackPorts((name) => options[name]);
  await ensurePortsFree(ports, dataDir);
  await prepareDataDir(dataDir);
  const quiet = options.quiet ?? false;
  const kept = existsSync(join(dataDir, 'secrets.json'));
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

  settings.log(
    `data            ${dataDir} ${kept ? '(kept from an earlier start: same keys and projects; remove it to start afresh)' : '(new)'}`,
  );
  const { running, stopAll } = await startServices(settings);
  try {
    const tenantManagerUrl = running.tenantManager.publicUrl;
    const operator = operatorClient(tenantManagerUrl, settings.secrets.adminKey);
    await ensureWorkerCluster(operator, running.postgres, LOCAL_REGION, settings.log);
    const demoProject = await ensureDemoProject(operator, settings.log, settings.secrets.demoDbPassword);
    return {
      gatewayUrl: running.gatewayUrl,
      tenantManagerUrl,
      internalUrl: running.tenantManager.internalUrl,
      adminKey: settings.secrets.adminKey,
      baseDomain: settings.baseDomain,
      demoProject,
      postgresUrl: running.postgres.url,
      internalToken: settings.secrets.internalServiceToken,
      lambdaUrl: running.lambdaUrl,
      redisUrl: running.redisUrl,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const ports = portsFromEnv(env);
  let stack: LocalStack | undefined;
  stopOnSignals(() => stack);

  const dataDir = resolve(env['SUPAPLANE_DATA_DIR'] || '.data');
  stack = await startLocalStack({
    dataDir,
    ...ports,
    baseDomain: env['BASE_DOMAIN'] || undefined,
    redisUrl: env['REDIS_URL'] || undefined,
    // The services' request and provisioning logs would bury the banner: on request only.
    logLevel: env['LOG_LEVEL'] || 'warn',
  });
  const file = await writeStackSummary(dataDir, stack);
  console.log(describeStack(stack));
  if (!env['LOG_LEVEL'])
    console.log(
      'Services log warnings and errors only; LOG_LEVEL=info bash scripts/up.sh logs every request.',
    );
  console.log(`(also written to ${file})`);
}

/**
 * Signals (Ctrl-C, a closed terminal, kill) stop the stack: during start-up at once, with the exit
 * hooks that shut down PostgreSQL and redis-server (Node's default death runs none of them and
 * leaves both running); once it runs, in order, every service drained.
 */
function stopOnSignals(started: () => LocalStack | undefined): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const code = 128 + (osConstants.signals[signal] ?? 0);
    const stack = started();
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
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: Error) => {
    console.error(`local stack failed to start: ${error.message}`);
    process.exit(1);
  });
}
