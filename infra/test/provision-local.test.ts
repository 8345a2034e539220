// The provisioning script's --local mode against the real local platform (the same start-up code as
// `pnpm start`): a real tenant-manager registers the cluster and provisions the project, and the keys the
// script prints are then used through the real gateway.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../scripts/local-stack.js';

const repo = new URL('../../', import.meta.url).pathname;

function runScript(args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'bash',
      ['scripts/provision-worker-and-create-project.sh', ...args],
      { cwd: repo, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** GET through the gateway with the project's Host header (no DNS for *.localhost needed). */
function viaGateway(gatewayUrl: string, host: string, path: string, apikey: string) {
  const { port } = new URL(gatewayUrl);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, apikey } }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('provision-worker-and-create-project.sh --local against the local platform', () => {
  let stack: LocalStack;
  let dataDir: string;

  beforeAll(async () => {
    const { freeStackPorts, startLocalStack, writeStackSummary } = await import(
      '../../scripts/local-stack.js'
    );
    dataDir = mkdtempSync(join(tmpdir(), 'supaplane-provision-'));
    stack = await startLocalStack({ dataDir, ...(await freeStackPorts()), quiet: true, fastPostgres: true });
    await writeStackSummary(dataDir, stack); // what `pnpm start` writes for the script
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers a worker cluster, creates a project and prints keys that work through the gateway', async () => {
    const { code, stdout, stderr } = await runScript([
      '--local',
      '--data-dir',
      dataDir,
      '--project',
      'provisioned',
      '--cluster-name',
      'second',
      '--worker-url',
      stack.postgresUrl,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/worker cluster: registered second \([0-9a-f-]{36}\)/);
    const ref = /ref:\s+(\S+)/.exec(stdout)![1]!;
    const url = /URL:\s+(\S+)/.exec(stdout)![1]!;
    const publishable = /publishable key: (sb_publishable_\S+)/.exec(stdout)![1]!;
    const secret = /secret key:\s+(sb_secret_\S+)/.exec(stdout)![1]!;
    expect(url).toContain(`${ref}.${stack.baseDomain}`);
    expect(publishable).toHaveLength(46);
    expect(secret).toHaveLength(41);

    const host = new URL(url).host;
    const ok = await viaGateway(stack.gatewayUrl, host, '/rest/v1/', secret);
    expect(ok.status).toBe(200);
    const refused = await viaGateway(
      stack.gatewayUrl,
      host,
      '/rest/v1/',
      `${publishable.slice(0, -1)}${publishable.endsWith('x') ? 'y' : 'x'}`,
    );
    expect(refused.status).toBe(401);

    // A second run finds the cluster registered and still creates a working project.
    const again = await runScript([
      '--local',
      '--data-dir',
      dataDir,
      '--project',
      'provisioned-2',
      '--cluster-name',
      'second',
      '--worker-url',
      stack.postgresUrl,
    ]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('worker cluster: second already registered');
    expect(again.stdout).toContain('is ACTIVE_HEALTHY');
  });
});
