import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient } from '@supabase/supabase-js';
import { freePort, startPostgres } from '@supaplane/local-services';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import ws from 'ws';
import {
  describeStack,
  ensureDemoProject,
  ensurePortsFree,
  freeStackPorts,
  type Operator,
  operatorClient,
  loadOrCreateSecrets,
  startLocalStack,
  writeStackSummary,
} from '../scripts/local-stack.js';
import { admin, http, platform } from './support/clients.js';
import { deleteProject, sql } from './support/projects.js';

/** The password ensureDemoProject gives the projects it makes in these tests. */
const DEMO_DB_PASSWORD = 'demo-database-password';
const local = platform().local;
const exec = promisify(execFile);
const seededTasks = ['Start Supaplane', 'Query the demo project with supabase-js'];
const PORT_ENV = {
  pgPort: 'PG_PORT',
  gatewayPort: 'GATEWAY_PORT',
  tmPublicPort: 'TM_PUBLIC_PORT',
  tmInternalPort: 'TM_INTERNAL_PORT',
  lambdaPort: 'LAMBDA_PORT',
} as const;
const portFree = (port: number) =>
  freePort(port).then(
    () => true,
    () => false,
  );
const portEnv = (ports: Record<keyof typeof PORT_ENV, number>) =>
  Object.fromEntries(
    (Object.keys(PORT_ENV) as Array<keyof typeof PORT_ENV>).map((key) => [PORT_ENV[key], String(ports[key])]),
  );

/**
 * `bash scripts/up.sh`, once it printed where its summary went, in a process group of its own as a
 * terminal runs a command; `stop` is `kill -INT <pid>`, the stop the start-beside message names,
 * `interrupt` is a terminal's Ctrl-C (SIGINT to the whole group); both resolve with the exit code.
 */
async function upSh(env: NodeJS.ProcessEnv) {
  const upShPath = fileURLToPath(new URL('../scripts/up.sh', import.meta.url));
  const child = spawn('bash', [upShPath], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const closed = once(child, 'close').then(([code]) => code as number);
  const running = () => child.exitCode === null && child.signalCode === null;
  const started = {
    output: '',
    pid: child.pid!, // up.sh execs the stack: this is its process, and its group's id
    stop: () => {
      if (running()) child.kill('SIGINT');
      return closed;
    },
    interrupt: () => {
      if (running()) process.kill(-child.pid!, 'SIGINT');
      return closed;
    },
  };
  await new Promise<void>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      started.output += chunk.toString();
      if (started.output.includes('(also written to ')) resolve();
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void closed.then(() => reject(new Error(`up.sh exited before the banner: ${started.output}`)));
  });
  return started;
}

const scratch = async (run: (dir: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), 'supaplane-demo-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

// What `pnpm start` prints, run as printed: the gateway URL (key-based routing on the bare local
// domain), the demo project's publishable key, and the one query of the example.
describe.skipIf(!local)('the demo project printed at start-up', () => {
  const demo = local!.demoProject;
  const client = (key: string) =>
    createClient(platform().gatewayUrl, key, {
      auth: { persistSession: false, autoRefreshToken: false },
      realtime: { transport: ws as never },
    });

  it('answers the printed supabase-js example with its seeded todos', async () => {
    const { data, error } = await client(demo.publishableKey).from('todos').select('*');
    expect(error).toBeNull();
    expect(data?.map(({ task, done }) => ({ task, done }))).toEqual([
      { task: 'Start Supaplane', done: true },
      { task: 'Query the demo project with supabase-js', done: false },
    ]);
  });

  it('prints a database URL that logs in as the project owner, for migrations and psql', async () => {
    const { gatewayUrl, tenantManagerUrl, adminKey, baseDomain } = platform();
    const banner = describeStack({ gatewayUrl, tenantManagerUrl, adminKey, baseDomain, ...local! });
    expect(banner).toContain(`  psql '${demo.databaseUrl}' -c 'select * from todos'`);
    const client = new pg.Client({ connectionString: demo.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query(
        'select current_user as me, (select count(*)::int from todos) as n',
      );
      expect(rows).toEqual([{ me: `owner_${demo.ref}`, n: 2 }]);
    } finally {
      await client.end();
    }
  });

  it('prints commands that work when pasted: the curls and the supabase-js snippet', async () => {
    const { gatewayUrl, tenantManagerUrl, adminKey, baseDomain } = platform();
    const banner = describeStack({ gatewayUrl, tenantManagerUrl, adminKey, baseDomain, ...local! });
    expect(banner).toContain(`Internal API              ${local!.internalUrl}`);
    const curls = banner.split('\n').filter((line) => line.startsWith('  curl '));
    expect(curls).toHaveLength(3);
    const [todos, ...operator] = await Promise.all(
      curls.map(async (line) => JSON.parse((await exec('sh', ['-c', line])).stdout)),
    );
    expect(todos.map((t: { task: string }) => t.task)).toEqual(seededTasks);
    expect(operator[0]).toContainEqual(expect.objectContaining({ ref: demo.ref, name: 'demo' }));
    expect(operator[1]).toMatchObject({ ref: demo.ref, api: expect.any(Object) });

    // The snippet as a module (top-level await), resolving its packages where the tests have them.
    const snippet = banner.slice(banner.indexOf('  import {'), banner.indexOf('\nOperator API'));
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', snippet], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    for (const task of seededTasks) expect(stdout).toContain(task);
  });

  it("runs the README's supabase-js snippet and operator commands as written (on this stack's ports)", async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const { gatewayUrl, tenantManagerUrl, adminKey, baseDomain } = platform();
    const onThisStack = (text: string) =>
      text
        .replaceAll('localhost:8000', new URL(gatewayUrl).host)
        .replaceAll('http://localhost:3001', tenantManagerUrl);
    const blocks = (lang: string) =>
      [...readme.matchAll(new RegExp(`\`\`\`${lang}\n(.*?)\`\`\``, 'gs'))].map((m) => m[1]!);

    const snippet = blocks('ts').find((block) => block.includes('createClient('));
    const { stdout: rows } = await exec(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        onThisStack(snippet!).replace("'sb_publishable_…'", `'${demo.publishableKey}'`),
      ],
      { cwd: fileURLToPath(new URL('.', import.meta.url)) },
    );
    for (const task of seededTasks) expect(rows).toContain(task);

    await scratch(async (dir) => {
      // The commands read the admin key from .data/local-stack.json of the directory they run in.
      await mkdir(join(dir, '.data'));
      await writeStackSummary(join(dir, '.data'), {
        gatewayUrl,
        tenantManagerUrl,
        adminKey,
        baseDomain,
        ...local!,
      });
      const operator = blocks('bash').filter((block) => block.includes('$TM'));
      expect(operator.length).toBeGreaterThan(0);
      const { stdout } = await exec('bash', ['-euo', 'pipefail', '-c', onThisStack(operator.join('\n'))], {
        cwd: dir,
      });
      const ref = stdout.split('\n')[0]!;
      expect(ref).toMatch(/^[a-z]{20}$/);
      try {
        // The table made through the SQL endpoint, written and read through the gateway.
        expect(stdout).toContain('\n[]\n[{"id":1,"body":"hello"}]\n');
        expect(stdout).toContain(`"ref":"${ref}","name":"shop","status":"ACTIVE_HEALTHY"`);
        expect(stdout).toContain(
          '"limits":{"db_connections":20,"requests_per_second":100,"burst":200,"db_size_mb":8192}',
        );
        expect(stdout).toContain(`{"ref":"${ref}","from":`);
        expect(stdout).toContain('"granularity":"day","projects":[');
        // Paused: closed at the gateway; restored and deleted.
        expect(stdout).toContain(`"ref":"${ref}","name":"shop","status":"INACTIVE"`);
        expect(stdout).toContain('{"message":"Project is paused"');
        // the delete answers Supabase's V1ProjectRefResponse
        expect(stdout).toMatch(new RegExp(`\\{"id":\\d+,"ref":"${ref}","name":"shop"\\}`));
      } finally {
        await admin('DELETE', `/v1/projects/${ref}`);
      }
    });
  });

  it('gives a demo project with no table (an older version made it, or a start stopped before seeding it) its todos again', async () => {
    const operator = operatorClient(platform().tenantManagerUrl, platform().adminKey);
    const name = `demo-seed-${Date.now()}`;
    const first = await ensureDemoProject(operator, () => {}, DEMO_DB_PASSWORD, name);
    try {
      expect(
        (await sql<{ task: string }>(first.ref, 'SELECT task FROM todos ORDER BY id')).map((r) => r.task),
      ).toEqual(seededTasks);
      await sql(first.ref, 'DROP TABLE todos');
      const again = await ensureDemoProject(operator, () => {}, DEMO_DB_PASSWORD, name);
      expect(again).toEqual(first);
      expect(await sql(first.ref, 'SELECT count(*)::int AS n FROM todos')).toEqual([{ n: 2 }]);

      // A project whose tables the developer changed is left as it is.
      await sql(first.ref, 'DROP TABLE todos; CREATE TABLE notes (id int)');
      await ensureDemoProject(operator, () => {}, DEMO_DB_PASSWORD, name);
      expect(await sql(first.ref, "SELECT to_regclass('public.todos') AS t")).toEqual([{ t: null }]);
    } finally {
      await deleteProject(first.ref);
    }
  });

  it('finds the demo project past the first page of the project list instead of creating another', async () => {
    const operator = operatorClient(platform().tenantManagerUrl, platform().adminKey);
    const name = `demo-paged-${Date.now()}`;
    const first = await ensureDemoProject(operator, () => {}, DEMO_DB_PASSWORD, name);
    // As on a platform with a full page of other projects in front: the list's first page is theirs,
    // the real list follows after it; everything else is the real API.
    const filler = Array.from({ length: 1000 }, (_, i) => ({
      ref: `filler${String(i).padStart(14, '0')}`,
      name: `other-${i}`,
      status: 'ACTIVE_HEALTHY',
    }));
    const crowded: Operator = async (method, path, body) => {
      const url = new URL(path, 'http://tm');
      if (method !== 'GET' || url.pathname !== '/v1/projects') return operator(method, path, body);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      if (offset < filler.length) return { status: 200, body: filler.slice(offset) };
      url.searchParams.set('offset', String(offset - filler.length));
      return operator(method, `${url.pathname}${url.search}`, body);
    };
    try {
      expect(await ensureDemoProject(crowded, () => {}, DEMO_DB_PASSWORD, name)).toEqual(first);
    } finally {
      await deleteProject(first.ref);
    }
  });

  it('replaces a demo project whose provisioning failed (INIT_FAILED) instead of waiting on it for ever', async () => {
    const operator = operatorClient(platform().tenantManagerUrl, platform().adminKey);
    const name = `demo-failed-${Date.now()}`;
    const failed = await ensureDemoProject(operator, () => {}, DEMO_DB_PASSWORD, name);
    // The tenant-manager reports this project as INIT_FAILED (a start whose provisioning gave up);
    // everything else, the delete and the new project included, is the real API.
    const reportsFailed: Operator = async (method, path, body) => {
      const res = await operator(method, path, body);
      const mark = (p: { ref?: string; status?: string }) =>
        p?.ref === failed.ref && p.status !== 'REMOVED' ? { ...p, status: 'INIT_FAILED' } : p;
      if (method === 'GET' && Array.isArray(res.body)) return { ...res, body: res.body.map(mark) };
      if (method === 'GET' && path === `/v1/projects/${failed.ref}`) return { ...res, body: mark(res.body) };
      return res;
    };
    const lines: string[] = [];
    const replaced = await ensureDemoProject(
      reportsFailed,
      (line) => lines.push(line),
      DEMO_DB_PASSWORD,
      name,
    );
    try {
      expect(replaced.ref).not.toBe(failed.ref);
      expect((await admin('GET', `/v1/projects/${failed.ref}`)).status).toBe(404);
      expect(lines.join('\n')).toContain(`removed project ${name} (${failed.ref})`);
      expect(await sql(replaced.ref, 'SELECT count(*)::int AS n FROM todos')).toEqual([{ n: 2 }]);
    } finally {
      await deleteProject(replaced.ref);
    }
  });

  it('keeps the todos read-only for the publishable key; the secret key writes', async () => {
    const refused = await client(demo.publishableKey).from('todos').insert({ task: 'sneaky' }).select();
    expect(refused.data).toBeNull();
    expect(refused.error?.code).toBe('42501');

    const service = client(demo.secretKey);
    const written = await service.from('todos').insert({ task: 'from the server' }).select('task, done');
    expect(written.error).toBeNull();
    expect(written.data).toEqual([{ task: 'from the server', done: false }]);
    const removed = await service.from('todos').delete().eq('task', 'from the server').select('task');
    expect(removed.data).toEqual([{ task: 'from the server' }]);
    const { data } = await client(demo.publishableKey).from('todos').select('task').eq('task', 'sneaky');
    expect(data).toEqual([]);
  });
});

// `bash scripts/up.sh` a second time, or with a port or data dir that cannot work: a message that
// says what to do, before anything starts.
describe.skipIf(!local)('a local stack that cannot start', () => {
  it('names a port that is taken (here by the running stack) and its variable, and starts nothing', () =>
    scratch(async (dir) => {
      const gatewayPort = Number(new URL(platform().gatewayUrl).port);
      const dataDir = join(dir, 'data');
      await expect(
        startLocalStack({ dataDir, quiet: true, ...(await freeStackPorts()), gatewayPort }),
      ).rejects.toThrow(
        `port ${gatewayPort} (GATEWAY_PORT) is already in use, by another program or a local stack on another data dir: stop it, or start this one on other ports, e.g. GATEWAY_PORT=`,
      );
      expect(existsSync(dataDir)).toBe(false);
    }));

  it("suggests free ports for every port that is taken, none of them another of the stack's", () =>
    scratch(async (dir) => {
      const ports = await freeStackPorts();
      // The gateway's and the operator API's ports held, and the port after each too.
      const held = [ports.gatewayPort, ports.gatewayPort + 1, ports.tmPublicPort, ports.tmPublicPort + 1];
      const holders = await Promise.all(
        held.map(async (port) => {
          const server = createServer().listen(port, '127.0.0.1');
          await once(server, 'listening').catch(() => {});
          return server;
        }),
      );
      try {
        const error = await ensurePortsFree(ports, dir).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(error?.message).toContain(
          `port ${ports.gatewayPort} (GATEWAY_PORT), ${ports.tmPublicPort} (TM_PUBLIC_PORT) are already in use`,
        );
        const example = error?.message.match(
          /e\.g\. GATEWAY_PORT=(\d+) TM_PUBLIC_PORT=(\d+) bash scripts\/up\.sh/,
        );
        expect(example).not.toBeNull();
        const suggested = [Number(example![1]), Number(example![2])];
        expect(new Set(suggested).size).toBe(2);
        for (const port of suggested) {
          expect(Object.values(ports)).not.toContain(port);
          expect(await portFree(port)).toBe(true);
        }
      } finally {
        for (const server of holders) server.close();
      }
    }));

  it("leaves the PostgreSQL port to PostgreSQL's start when the data dir's own server holds it (a killed stack's, taken over there)", () =>
    scratch(async (dir) => {
      const ports = await freeStackPorts();
      const holder = createServer().listen(ports.pgPort, '127.0.0.1');
      await once(holder, 'listening');
      try {
        await expect(ensurePortsFree(ports, dir)).rejects.toThrow(
          `port ${ports.pgPort} (PG_PORT) is already in use`,
        );
        await mkdir(join(dir, 'pg'));
        await writeFile(
          join(dir, 'pg', 'postmaster.pid'),
          `4242\n${join(dir, 'pg')}\n1795400000\n${ports.pgPort}\n`,
        );
        await expect(ensurePortsFree(ports, dir)).resolves.toBeUndefined();
      } finally {
        holder.close();
      }
    }));

  it('bash scripts/up.sh stopped during start-up (kill, Ctrl-C) exits 128+signal, with no package-manager noise and no PostgreSQL or redis-server left', () =>
    scratch(async (dir) => {
      const ports = await freeStackPorts();
      const env = {
        ...process.env,
        SUPAPLANE_DATA_DIR: dir, // itself: as root, the postgres user cannot pass through a 0700 parent
        LOG_LEVEL: 'warn',
        ...portEnv(ports),
      };
      const upSh = fileURLToPath(new URL('../scripts/up.sh', import.meta.url));
      const child = spawn('bash', [upSh], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (/^redis /m.test(stdout)) resolve(); // PostgreSQL and redis-server are up
        });
        child.on('exit', () =>
          reject(new Error(`the stack exited before starting redis: ${stdout}${stderr}`)),
        );
      });
      child.kill('SIGTERM'); // up.sh has exec'd the stack: this is its process
      const [code] = await once(child, 'close');
      expect(code).toBe(143);
      expect(stdout + stderr).not.toContain('ELIFECYCLE');
      expect(stdout.trim().split('\n').at(-1)).toBe('SIGTERM during start-up: stopping…');

      const redisPid = Number(
        (await readFile(join(dir, 'redis-server.pid'), 'utf8').catch(() => '0')).split(' ')[0],
      );
      for (let i = 0; i < 100 && !(await portFree(ports.pgPort)); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(await portFree(ports.pgPort)).toBe(true);
      // Gone, or a zombie: dead, waiting for whatever adopted it (a container's init may never reap it).
      const state = await readFile(`/proc/${redisPid}/stat`, 'utf8').catch(() => 'gone');
      if (redisPid)
        expect(state === 'gone' || state.slice(state.lastIndexOf(')') + 2).startsWith('Z')).toBe(true);
    }));

  it(
    'bash scripts/up.sh as a newcomer runs it: a quiet start, SIGINT exits 0, a second start says it reuses the data dir, a start beside it names the running one',
    () =>
      scratch(async (dir) => {
        const ports = await freeStackPorts();
        const { LOG_LEVEL: _unset, ...inherited } = process.env;
        const env = { ...inherited, SUPAPLANE_DATA_DIR: dir, ...portEnv(ports) };
        const first = await upSh(env);
        try {
          const before = first.output.slice(0, first.output.indexOf('Supaplane is running.'));
          // The stack's own lines only (no JSON log lines of the services) up to the banner.
          expect(before.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
          expect(before).toContain(`data            ${dir} (new)`);
          expect(first.output).toContain('LOG_LEVEL=info bash scripts/up.sh');
        } finally {
          expect(await first.stop(), first.output).toBe(0);
        }
        expect(first.output).toContain('SIGINT: stopping…');
        const { demoProject } = JSON.parse(await readFile(join(dir, 'local-stack.json'), 'utf8'));

        const second = await upSh(env);
        try {
          expect(second.output).toContain(
            `data            ${dir} (kept from an earlier start: same keys and projects; remove it to start afresh)`,
          );
          expect(second.output).toContain(`Demo project ref          ${demoProject.ref}`);
          expect(second.output).toContain(`Publishable key           ${demoProject.publishableKey}`);
          // Started again beside it (from another terminal): the running stack named, nothing started.
          await expect(startLocalStack({ dataDir: dir, quiet: true, ...ports })).rejects.toThrow(
            `the local stack of ${dir} is already running (pid ${second.pid}): its URLs and keys are in ${join(dir, 'local-stack.json')}; use it, or stop it first (Ctrl-C in its terminal, or kill -INT ${second.pid})`,
          );
        } finally {
          expect(await second.stop(), second.output).toBe(0);
        }
      }),
    90_000,
  );

  it(
    'bash scripts/up.sh stopped by Ctrl-C in its terminal (SIGINT to its process group): the stack stops before Redis and PostgreSQL, exits 0 with no warning, leaves neither running and the data dir clean',
    () =>
      scratch(async (dir) => {
        const ports = await freeStackPorts();
        const env = { ...process.env, SUPAPLANE_DATA_DIR: dir, LOG_LEVEL: 'warn', ...portEnv(ports) };
        const stack = await upSh(env);
        const pidIn = async (file: string, separator: string) =>
          Number((await readFile(join(dir, file), 'utf8').catch(() => '0')).split(separator)[0]);
        const postgresPid = await pidIn('pg/postmaster.pid', '\n');
        const redisPid = await pidIn('redis-server.pid', ' ');
        const redisPort = Number(stack.output.match(/^redis +redis:\/\/127\.0\.0\.1:(\d+) /m)?.[1]);
        let code: number;
        try {
          // The demo read once (the data API's pool to the project database opened), then settled: a
          // Ctrl-C lands while the services hold idle connections to both servers.
          const { demoProject, gatewayUrl } = JSON.parse(
            await readFile(join(dir, 'local-stack.json'), 'utf8'),
          );
          const read = await fetch(`${gatewayUrl}/rest/v1/todos?select=task`, {
            headers: { apikey: demoProject.publishableKey },
          });
          expect([read.status, await read.json()]).toEqual([200, seededTasks.map((task) => ({ task }))]);
          await new Promise((r) => setTimeout(r, 1_000));
        } finally {
          code = await stack.interrupt();
        }
        expect(code, stack.output).toBe(0);
        expect(stack.output).toContain('SIGINT: stopping…');
        const afterSignal = stack.output.slice(stack.output.indexOf('SIGINT: stopping…'));
        expect(afterSignal.split('\n').filter((line) => /57P01|fail|error|warn|^\s+at /i.test(line))).toEqual(
          [],
        );

        expect(
          [postgresPid, redisPid, redisPort].every((n) => n > 0),
          stack.output,
        ).toBe(true);
        for (const port of [ports.pgPort, redisPort]) expect(await portFree(port)).toBe(true);
        for (const pid of [postgresPid, redisPid]) {
          // Gone, or a zombie: dead, waiting for whatever adopted it to reap it.
          const state = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => 'gone');
          expect(state === 'gone' || state.slice(state.lastIndexOf(')') + 2).startsWith('Z'), state).toBe(
            true,
          );
        }
        // A clean shutdown: no pid file left, and the next start needs no crash recovery.
        expect(existsSync(join(dir, 'pg', 'postmaster.pid'))).toBe(false);
        const lines: string[] = [];
        const again = await startPostgres({ dataDir: join(dir, 'pg'), onLog: (line) => lines.push(line) });
        await again.stop();
        expect(lines.join('')).not.toContain('not properly shut down');
      }),
    90_000,
  );

  it.runIf(process.getuid?.() === 0)(
    'as root, refuses a data dir the postgres user cannot reach, saying how to fix it',
    () =>
      scratch(async (dir) => {
        // mkdtemp makes `dir` 0700, like /root above a checkout there.
        await expect(
          startLocalStack({ dataDir: join(dir, 'data'), quiet: true, ...(await freeStackPorts()) }),
        ).rejects.toThrow(
          `cannot enter ${dir} (mode 700) above the data directory ${join(dir, 'data')}: set SUPAPLANE_DATA_DIR to a directory outside it, or allow passing through it (chmod o+x ${dir})`,
        );
      }),
  );
});

describe.skipIf(!local)('a local stack started again on its data dir', () => {
  it(
    'serves the demo project after PG_PORT changed (the registered worker cluster follows the server)',
    () =>
      scratch(async (dir) => {
        const ports = await freeStackPorts();
        const first = await startLocalStack({ dataDir: dir, quiet: true, fastPostgres: true, ...ports });
        await first.stop();
        const moved = (await freeStackPorts()).pgPort;
        expect(moved).not.toBe(ports.pgPort);
        const again = await startLocalStack({
          dataDir: dir,
          quiet: true,
          fastPostgres: true,
          ...ports,
          pgPort: moved,
        });
        try {
          // The same project, keys and password; its database URL names the new port.
          const url = new URL(first.demoProject.databaseUrl);
          url.port = String(moved);
          expect(again.demoProject).toEqual({ ...first.demoProject, databaseUrl: url.toString() });
          const res = await fetch(`${again.gatewayUrl}/rest/v1/todos?select=task`, {
            headers: { apikey: again.demoProject.publishableKey },
          });
          expect([res.status, await res.json()]).toEqual([200, seededTasks.map((task) => ({ task }))]);
        } finally {
          await again.stop();
        }
      }),
    120_000,
  );
});

describe('the data dir of an older version', () => {
  it('keeps the master key and admin key of a secrets.json that lacks a newer field, and adds the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'supaplane-secrets-'));
    try {
      const file = join(dir, 'secrets.json');
      const old = { adminKey: 'sp_admin_old', internalServiceToken: 'token-old', masterKey: 'bWFzdGVy' };
      await writeFile(file, JSON.stringify(old));
      const secrets = await loadOrCreateSecrets(dir);
      expect(secrets).toMatchObject(old);
      expect(secrets.aws.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
      expect(secrets.demoDbPassword).toMatch(/^[\w-]{24}$/);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(secrets);
      expect(await loadOrCreateSecrets(dir)).toEqual(secrets);

      await writeFile(file, '{"adminKey": "sp_admin_old", ');
      await expect(loadOrCreateSecrets(dir)).rejects.toThrow(`${file} is not valid JSON: restore it`);
      expect(await readFile(file, 'utf8')).toBe('{"adminKey": "sp_admin_old", ');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// The shapes docs/contracts.md gives for the internal API, beyond the bodies other suites read.
describe.skipIf(!local)('the internal API as docs/contracts.md describes it', () => {
  const get = (path: string, token?: string) =>
    http(`${local!.internalUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('answers refusals with the documented bodies, and /health and /metrics without a token', async () => {
    const { ref } = local!.demoProject;
    const token = local!.internalToken;
    const refused = await get(`/internal/v1/projects/${ref}/config`);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="internal"');
    expect(refused.json()).toEqual({
      message: 'missing or invalid internal bearer token',
      code: 'unauthorized',
    });

    const config = await get(`/internal/v1/projects/${ref}/config`, token);
    expect(Object.keys(config.json() as object).sort()).toEqual(
      ['jwks', 'jwtSecret', 'rateLimit', 'ref', 'sharedKeys', 'status', 'upstreams', 'version'].sort(),
    );
    for (const path of [
      '/internal/v1/projects/nosuchproject/config',
      '/internal/v1/projects/nosuchproject/rest-config',
    ]) {
      const missing = await get(path, token);
      expect([missing.status, missing.json()]).toEqual([
        404,
        { message: 'project not found', code: 'not_found' },
      ]);
    }
    const unknownKey = await get(`/internal/v1/api-keys/${'0'.repeat(64)}`, token);
    expect([unknownKey.status, unknownKey.json()]).toEqual([
      404,
      { message: 'api key not found', code: 'not_found' },
    ]);
    const badHash = await get('/internal/v1/api-keys/ABC', token);
    expect([badHash.status, (badHash.json() as { code: string }).code]).toEqual([400, 'validation_failed']);

    expect((await get('/health')).json()).toEqual({ status: 'ok' });
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
  });
});
