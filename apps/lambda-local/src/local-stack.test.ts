import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freeStackPorts,
  type LocalStack,
  type StackPorts,
  startLocalStack,
} from '../../../scripts/local-stack.js';
import { callFunction, send } from './test-support.js';

// Smoke test of the one-command local platform (scripts/local-stack.ts): every service up, the demo
// project answering through gateway → SigV4 → emulator → rest, and a restart reusing the data dir.
describe('local stack', () => {
  let dataDir: string;
  let ports: StackPorts;
  let stack: LocalStack | undefined;
  const start = () => startLocalStack({ dataDir, ...ports, quiet: true, fastPostgres: true });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'supaplane-stack-'));
    ports = await freeStackPorts();
    stack = await start();
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  const viaGateway = (path: string, key: string) =>
    send(ports.gatewayPort, {
      method: 'GET',
      path,
      headers: { host: `localhost:${ports.gatewayPort}`, apikey: key },
    });

  it('serves the demo project through the gateway and the rest function', async () => {
    const s = stack!;
    expect(s.gatewayUrl).toBe(`http://localhost:${ports.gatewayPort}`);
    expect(s.demoProject.publishableKey).toMatch(/^sb_publishable_/);
    expect(s.demoProject.secretKey).toMatch(/^sb_secret_/);
    const sql = await fetch(`${s.tenantManagerUrl}/v1/projects/${s.demoProject.ref}/database/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          "create table tasks (id int primary key, title text); insert into tasks values (1, 'ship it'); " +
          'grant select on tasks to anon, service_role;',
      }),
    });
    expect(sql.status, await sql.text()).toBe(201);
    const res = await viaGateway('/rest/v1/tasks?select=id,title', s.demoProject.publishableKey);
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ id: 1, title: 'ship it' }]);
    const bad = await viaGateway(
      '/rest/v1/tasks',
      `${s.demoProject.publishableKey.slice(0, -1)}${s.demoProject.publishableKey.endsWith('x') ? 'y' : 'x'}`,
    );
    expect(bad.status).toBe(401);
  });

  it("the gateway's SigV4 agrees with the emulator on PostgREST query syntax", async () => {
    const key = stack!.demoProject.publishableKey;
    const queries = [
      'select=*&id=eq.1',
      'select=id,title&title=eq.ship+it',
      'select=id&title=eq.ship%20it',
      "or=(id.eq.1,title.like.*'s*)&select=title",
      'title=not.is.null&id=gt.0&id=lt.5&order=id.desc',
      'title=eq.%C3%A9t%C3%A9&select=id',
      'select=%2A&id=in.(1,2,3)',
    ];
    for (const query of queries) {
      const res = await viaGateway(`/rest/v1/tasks?${query}`, key);
      expect(res.status, `${query}: ${res.text}`).toBe(200);
    }
  });

  it('keeps the emulator closed to unsigned callers and the tenant-manager to non-admins', async () => {
    const s = stack!;
    const direct = await send(ports.lambdaPort, {
      method: 'GET',
      path: '/rest/v1/',
      headers: { host: `rest-${s.demoProject.ref}.lambda-url.local.localhost:${ports.lambdaPort}` },
    });
    expect([direct.status, direct.json()]).toEqual([403, { Message: 'Forbidden' }]);
    const operator = await fetch(`${s.tenantManagerUrl}/v1/projects`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(operator.status).toBe(401);
  });

  it('restarts on the same data dir with the same secrets and demo project', async () => {
    const before = stack!;
    await before.stop();
    stack = undefined;
    stack = await start();
    expect(stack.adminKey).toBe(before.adminKey);
    expect(stack.demoProject).toEqual(before.demoProject);
    expect(((await stat(join(dataDir, 'secrets.json'))).mode & 0o777).toString(8)).toBe('600');
    const res = await viaGateway('/rest/v1/tasks?select=title', stack.demoProject.publishableKey);
    expect([res.status, res.text]).toEqual([200, '[{"title":"ship it"}]']);
  }, 120_000);

  it("a paused project's function stays stopped through a restart and its start-up reconcile, refused as a stopped Lambda's; the restore serves it again", async () => {
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${stack!.tenantManagerUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${stack!.adminKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await res.json()) as { status?: string };
    };
    const { aws } = JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8'));
    /** A signed request straight to the function URL, as the gateway sends them. */
    const direct = () =>
      callFunction(ports.lambdaPort, 'rest-napper', { rawPath: '/rest/v1/', credentials: aws });
    const listed = async () => {
      const res = await send(ports.lambdaPort, {
        method: 'GET',
        path: '/functions',
        headers: { authorization: `Bearer ${stack!.internalToken}` },
      });
      return (res.json().functions as { name: string; state: string }[]).find(
        (f) => f.name === 'rest-napper',
      );
    };

    expect((await admin('POST', '/v1/projects', { name: 'napper', ref: 'napper' })).status).toBe(
      'ACTIVE_HEALTHY',
    );
    expect((await direct()).headers['x-amzn-errortype']).toBeUndefined(); // served by the function
    expect((await admin('POST', '/v1/projects/napper/pause')).status).toBe('INACTIVE');
    expect((await direct()).status).toBe(429);
    expect((await listed())?.state).toBe('stopped');

    // Requests keep coming while the stack restarts and re-ensures every function, the paused one's too.
    await stack!.stop();
    stack = undefined;
    const statuses = new Set<number>();
    let started = false;
    const sampling = (async () => {
      for (let after = 0; after < 40; after += started ? 1 : 0) {
        const res = await direct().catch(() => undefined); // refused while the emulator is down
        if (res) statuses.add(res.status);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    stack = await start();
    started = true;
    await sampling;
    expect([...statuses]).toEqual([429]);
    expect((await listed())?.state).toBe('stopped');

    expect((await admin('POST', '/v1/projects/napper/restore')).status).toBe('ACTIVE_HEALTHY');
    const served = await direct();
    expect([served.status === 429, served.headers['x-amzn-errortype']]).toEqual([false, undefined]);
  }, 120_000);
});
