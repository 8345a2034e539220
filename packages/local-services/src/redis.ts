import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { freePort } from './ports.js';
import { recordedServer } from './processes.js';

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL when `hard`), for fault tests. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port after {@link stop}. */
  restart(): Promise<void>;
}

/** True when a `redis-server` binary is on PATH. */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

interface RedisOptions {
  /** Default: a free port. */
  readonly port?: number;
  /**
   * Where the server's pid and its owner's are kept while it runs. A server that a killed owner left
   * running (recorded there, owner gone) is stopped first, so crashes do not pile up servers.
   */
  readonly pidFile?: string;
  /** What start-up did about such a server (default: console.warn). */
  readonly onNotice?: (line: string) => void;
}

/**
 * Stops the redis-server recorded in `pidFile` when the process that started it is gone, by
 * {@link recordedServer}'s rule; one that cannot be inspected is left alone, said in a notice (this
 * start does not need its port, so it goes on).
 */
async function stopLeftOver(pidFile: string, notice: (line: string) => void): Promise<void> {
  const [pid = 0, owner = 0] = (await readFile(pidFile, 'utf8').catch(() => ''))
    .trim()
    .split(' ')
    .map(Number);
  const found = await recordedServer(pid, owner, 'redis-server');
  if (found === 'unknown') {
    notice(
      `left pid ${pid} (recorded in ${pidFile}) running: it may be a redis-server a stopped stack left behind, but it cannot be inspected (no readable /proc)`,
    );
  } else if (found === 'orphan') {
    notice(`stopping redis-server (pid ${pid}) left running by a process that exited without stopping it`);
    process.kill(pid, 'SIGKILL'); // it holds nothing worth saving (no persistence)
  }
}

/** Starts a real `redis-server` on a free loopback port, with no persistence. */
export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  if (!hasRedisServer()) throw new Error('redis-server is not on PATH (apt-get install redis-server)');
  if (options.pidFile)
    await stopLeftOver(options.pidFile, options.onNotice ?? ((line) => console.warn(line)));
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;

  const spawnServer = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--protected-mode',
          'no',
        ],
        // A session of its own: a terminal's Ctrl-C reaches the process that started it, which stops
        // its clients before it, not this server at the same moment.
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      );
      child = proc;
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
      proc.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      });
    });

  const stop = async (hard = false) => {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null) {
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
      });
    }
    if (options.pidFile) await rm(options.pidFile, { force: true });
  };
  /** Starts the server and, with a pidFile, records its pid and ours (on every start, restarts too). */
  const launch = async () => {
    await spawnServer();
    if (options.pidFile) await writeFile(options.pidFile, `${child?.pid} ${process.pid}\n`);
  };

  // Registered before the first start: in a session of its own, nothing else stops a server whose
  // owner exits while it starts.
  process.once('exit', () => child?.kill('SIGKILL'));
  await launch();
  return { port, url: `redis://127.0.0.1:${port}`, stop, restart: launch };
}
