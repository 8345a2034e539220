import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = new URL('../../', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: repo, env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A bin directory whose `docker`, `aws` and `curl` log their arguments to `calls.log`, with scripted answers. */
function fakeTools(answers: { aws?: string; docker?: string; curl?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fake-tools-'));
  const log = join(dir, 'calls.log');
  const tool = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${log}"\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  tool('docker', answers.docker ?? 'exit 1');
  tool('aws', answers.aws ?? 'exit 1');
  if (answers.curl !== undefined) tool('curl', answers.curl);
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  return { path: `${dir}:${process.env['PATH']}`, calls, dir };
}

const ecrEnv = {
  AWS_ACCOUNT_ID: '123456789012',
  AWS_REGION: 'eu-central-1',
  NAME_PREFIX: 'sp',
  STACK_NAME: 'SpStack',
};
const registry = '123456789012.dkr.ecr.eu-central-1.amazonaws.com';

describe('build-and-push.sh', () => {
  const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();

  it('--dry-run prints every step for all services and touches neither Docker nor AWS', async () => {
    const tools = fakeTools();
    const { code, stdout } = await run('bash', ['build-and-push.sh', 'all', '--dry-run'], {
      ...ecrEnv,
      PATH: tools.path,
    });
    expect(code).toBe(0);
    expect(tools.calls()).toEqual([]);
    const steps = stdout.split('\n').filter((l) => l.startsWith('+ '));
    const tag = new RegExp(`^${sha}(-dirty)?$`);
    const [, tagUsed] = /tag=(\S+)/.exec(stdout)!;
    expect(tagUsed).toMatch(tag);
    expect(steps).toContain(
      `+ aws ecr get-login-password --region eu-central-1 | docker login --username AWS --password-stdin ${registry}`,
    );
    for (const [service, dockerfile] of [
      ['gateway', 'gateway/Dockerfile'],
      ['tenant-manager', 'apps/tenant-manager/Dockerfile'],
    ]) {
      const repository = `${registry}/sp/${service}`;
      expect(steps).toContain(
        `+ docker build --platform linux/amd64 -f ${dockerfile} -t ${repository}:${tagUsed} -t ${repository}:latest .`,
      );
      expect(steps).toContain(`+ docker push ${repository}:${tagUsed}`);
      expect(steps).toContain(`+ docker push ${repository}:latest`);
      expect(stdout).toContain(`  ${service} ${repository}@sha256:`);
    }
    expect(steps).toContain('+ npx tsx scripts/package-rest-lambda.ts --out dist');
    expect(steps.some((s) => s.includes('--stack-name SpStack') && s.includes('RestArtifactBucket'))).toBe(
      true,
    );
    // Login comes before the first build, each push after its build.
    const index = (prefix: string) => steps.findIndex((s) => s.startsWith(prefix));
    expect(index('+ aws ecr get-login-password')).toBeLessThan(index('+ docker build'));
    expect(index('+ docker build --platform linux/amd64 -f gateway')).toBeLessThan(
      index(`+ docker push ${registry}/sp/gateway`),
    );
    // The closing hint is a command that works: the app has two stacks, so a bare `cdk deploy`
    // refuses to pick one, and the CDK CLI is run as aws-cdk@2 (docs/aws.md).
    expect(stdout).toContain('cd infra && npx aws-cdk@2 deploy SpStack');
    expect(stdout).not.toMatch(/npx cdk /);
  });

  it('builds only the named service, and rejects unknown ones', async () => {
    const tools = fakeTools();
    const one = await run('bash', ['build-and-push.sh', 'gateway', '--dry-run'], {
      ...ecrEnv,
      PATH: tools.path,
    });
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('/sp/gateway:latest');
    expect(one.stdout).not.toContain('tenant-manager');
    expect(one.stdout).not.toContain('rest-lambda');
    const bad = await run('bash', ['build-and-push.sh', 'auth', '--dry-run'], {
      ...ecrEnv,
      PATH: tools.path,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown argument: auth');
    expect(bad.stderr).toContain('usage:');
  });

  it('without --dry-run runs login, build, push, and prints the pushed digest', async () => {
    // A real certificate, so fetch-rds-ca.sh's checks pass without the network.
    const certDir = mkdtempSync(join(tmpdir(), 'ca-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=test-rds-ca',
        '-days',
        '1',
        '-keyout',
        join(certDir, 'k.pem'),
        '-out',
        join(certDir, 'ca.pem'),
      ],
      { stdio: 'ignore' },
    );
    const tools = fakeTools({
      aws: 'echo ecr-password',
      docker: `if [[ "$1" == inspect ]]; then echo "${registry}/sp/gateway@sha256:abc123"; elif [[ "$1" == login ]]; then cat >/dev/null; fi`,
      curl: `out=""; while [[ $# -gt 0 ]]; do [[ "$1" == -o ]] && out="$2"; shift; done; cp "${join(certDir, 'ca.pem')}" "$out"`,
    });
    const bundle = join(repo, 'certs/rds-global-bundle.pem');
    const hadBundle = existsSync(bundle);
    let result: Run;
    try {
      result = await run('bash', ['build-and-push.sh', 'gateway'], {
        ...ecrEnv,
        PATH: tools.path,
        IMAGE_TAG: 'v1',
      });
      // fetch-rds-ca.sh ran (through the fake curl) and installed the certificate it downloaded.
      if (!hadBundle) expect(readFileSync(bundle, 'utf8')).toContain('BEGIN CERTIFICATE');
    } finally {
      // Never leave the test CA where an image build would pick it up.
      if (!hadBundle) rmSync(bundle, { force: true });
    }
    const { code, stdout, stderr } = result;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const calls = tools.calls();
    if (!hadBundle) {
      expect(calls[0]).toMatch(
        /^curl .*https:\/\/truststore\.pki\.rds\.amazonaws\.com\/global\/global-bundle\.pem/,
      );
    }
    const steps = calls.filter((c) => !c.startsWith('curl'));
    // Both sides of the login pipe start together; their log order is not fixed.
    expect(steps.slice(0, 2).sort()).toEqual([
      'aws ecr get-login-password --region eu-central-1',
      `docker login --username AWS --password-stdin ${registry}`,
    ]);
    expect(steps.slice(2)).toEqual([
      `docker build --platform linux/amd64 -f gateway/Dockerfile -t ${registry}/sp/gateway:v1 -t ${registry}/sp/gateway:latest .`,
      `docker push ${registry}/sp/gateway:v1`,
      `docker push ${registry}/sp/gateway:latest`,
      `docker inspect --format {{index .RepoDigests 0}} ${registry}/sp/gateway:v1`,
    ]);
    expect(stdout).toContain(`  gateway ${registry}/sp/gateway@sha256:abc123`);
  });
});

describe('images', () => {
  for (const dockerfile of ['gateway/Dockerfile', 'apps/tenant-manager/Dockerfile']) {
    it(`${dockerfile} is multi-stage, runs as non-root, has a health check and bundles with infra/docker`, () => {
      const text = readFileSync(join(repo, dockerfile), 'utf8');
      expect(text.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
      expect(text).toMatch(/^USER node$/m);
      expect(text).toMatch(/^HEALTHCHECK .*\n\s+CMD .*\/health/m);
      expect(text).toMatch(/node infra\/docker\/bundle\.mjs \S+\/src\/main\.ts/);
      expect(text).toContain('COPY --from=build');
      // The tenant-manager's logged errors carry stacks worth mapping; the gateway logs none, and
      // the map would cost it ~60 MB of heap, and it collects garbage on its one core (see gateway/Dockerfile).
      const flags = dockerfile.startsWith('gateway')
        ? '"--single-threaded-gc", "--max-semi-space-size=32", '
        : '"--enable-source-maps", ';
      expect(text).toMatch(new RegExp(`^ENTRYPOINT \\["node", ${flags}"/app/entrypoint\\.mjs"`, 'm'));
      // The runtime stage carries no sources or package manager.
      const runtime = text.slice(text.lastIndexOf('FROM '));
      expect(runtime).not.toMatch(/COPY \. |pnpm/);
    });
  }
});

describe('apps/tenant-manager/Dockerfile', () => {
  // The tenant-manager connects to Aurora with sslmode=verify-full through this bundle: an image built
  // without it starts, fails every database connection and is rolled back by ECS.
  it('refuses to build without the RDS CA bundle, before the slow install, saying how to get it', async () => {
    const text = readFileSync(join(repo, 'apps/tenant-manager/Dockerfile'), 'utf8');
    const build = text.slice(0, text.lastIndexOf('FROM '));
    const check = /^RUN (test -s certs\/rds-global-bundle\.pem .*)$/m.exec(build);
    expect(check, 'a RUN step checking certs/rds-global-bundle.pem').not.toBeNull();
    expect(build.indexOf(check![0])).toBeLessThan(build.indexOf('pnpm install'));
    const dir = mkdtempSync(join(tmpdir(), 'dockerfile-'));
    const runCheck = () =>
      new Promise<Run>((resolve) =>
        execFile('sh', ['-c', check![1]!], { cwd: dir }, (error, stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
    try {
      const missing = await runCheck();
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('bash certs/fetch-rds-ca.sh');
      mkdirSync(join(dir, 'certs'));
      writeFileSync(join(dir, 'certs/rds-global-bundle.pem'), '-----BEGIN CERTIFICATE-----\n');
      expect((await runCheck()).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('provision-worker-and-create-project.sh', () => {
  const ADMIN = 'admin-key-for-tests-0123456789';
  const seen: { method: string; url: string; body: unknown }[] = [];
  let server: Server;
  let apiUrl: string;
  let clusterExists = false;
  let failProjects = false;

  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.on('data', (c) => {
        s += c;
      });
      req.on('end', () => resolve(s));
    });

  beforeAll(async () => {
    // The operator API routes the script uses, with the tenant-manager's response shapes.
    server = createServer(async (req, res) => {
      const raw = await read(req);
      const body = raw ? JSON.parse(raw) : undefined;
      seen.push({ method: req.method!, url: req.url!, body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      };
      if (req.headers.authorization !== `Bearer ${ADMIN}`) return send(401, { message: 'invalid admin key' });
      const project = (status: string) => ({
        id: '0b7a7d63-0000-4000-8000-000000000001',
        ref: 'abcdefghijklmnopqrst',
        name: 'shop',
        status,
        region: 'local',
        cluster_id: 'c-1',
        created_at: new Date().toISOString(),
        endpoint: 'http://abcdefghijklmnopqrst.localhost:8000',
      });
      if (req.method === 'POST' && req.url === '/v1/clusters') {
        if (clusterExists)
          return send(409, { message: `cluster ${body.name} already exists`, code: 'duplicate_cluster' });
        clusterExists = true;
        return send(201, { id: 'c-1', name: body.name, status: 'active' });
      }
      if (req.method === 'GET' && req.url === '/v1/clusters')
        return send(200, [
          { id: 'c-0', name: 'other' },
          { id: 'c-1', name: 'extra' },
          { id: 'c-2', name: 'main' },
        ]);
      if (req.method === 'POST' && req.url === '/v1/projects') {
        if (failProjects) return send(400, { message: 'name must not be empty', code: 'validation_failed' });
        return send(201, project('COMING_UP'));
      }
      if (req.method === 'GET' && req.url === '/v1/projects/abcdefghijklmnopqrst')
        return send(200, project('ACTIVE_HEALTHY'));
      if (req.method === 'GET' && req.url === '/v1/projects/abcdefghijklmnopqrst/api-keys?reveal=true')
        return send(200, [
          {
            id: 'k1',
            name: 'default',
            type: 'publishable',
            api_key: 'sb_publishable_pppppppppppppppppppppp_12345678',
          },
          { id: 'k2', name: 'default', type: 'secret', api_key: 'sb_secret_ssssssssssssssssssssss_87654321' },
        ]);
      send(404, { message: 'route not found' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const localData = () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-stack-'));
    writeFileSync(
      join(dir, 'local-stack.json'),
      JSON.stringify({
        tenantManagerUrl: apiUrl,
        adminKey: ADMIN,
        gatewayUrl: 'http://localhost:8000',
        baseDomain: 'localhost',
      }),
    );
    return dir;
  };
  const script = 'scripts/provision-worker-and-create-project.sh';

  it('--local registers the worker cluster, creates a project, waits for it and prints URL and keys', async () => {
    seen.length = 0;
    clusterExists = false;
    const dir = localData();
    const args = [
      script,
      '--local',
      '--data-dir',
      dir,
      '--project',
      'shop',
      '--cluster-name',
      'extra',
      '--worker-url',
      'postgres://super%40user:p%3Ass@10.0.0.5:6543/postgres?sslmode=require',
    ];
    const first = await run('bash', args, { PROVISION_POLL_SECONDS: '0.05' });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/clusters',
      'POST /v1/projects',
      'GET /v1/projects/abcdefghijklmnopqrst',
      'GET /v1/projects/abcdefghijklmnopqrst/api-keys?reveal=true',
    ]);
    expect(seen[0]!.body).toEqual({
      name: 'extra',
      host: '10.0.0.5',
      port: 6543,
      admin_user: 'super@user',
      admin_password: 'p:ss',
      admin_database: 'postgres',
      ssl: true,
      capacity: 500,
      weight: 100,
      region: 'local',
    });
    expect(seen[1]!.body).toEqual({ name: 'shop', cluster_id: 'c-1' });
    expect(first.stdout).toContain('URL:             http://abcdefghijklmnopqrst.localhost:8000');
    expect(first.stdout).toContain('publishable key: sb_publishable_pppppppppppppppppppppp_12345678');
    expect(first.stdout).toContain('secret key:      sb_secret_ssssssssssssssssssssss_87654321');
    expect(first.stdout).not.toContain(ADMIN);

    // Re-running finds the cluster already registered and uses its id.
    seen.length = 0;
    const again = await run('bash', args, { PROVISION_POLL_SECONDS: '0.05' });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('extra already registered (c-1)');
    expect(seen.slice(0, 3).map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/clusters',
      'GET /v1/clusters',
      'POST /v1/projects',
    ]);
  });

  it('reads the stack outputs and secrets with the AWS CLI and registers the worker cluster with TLS', async () => {
    seen.length = 0;
    clusterExists = false;
    const outputs = JSON.stringify([
      { OutputKey: 'ApiUrl', OutputValue: apiUrl },
      { OutputKey: 'AdminKeySecretArn', OutputValue: 'arn:admin' },
      {
        OutputKey: 'WorkerClusterEndpoint',
        OutputValue: 'sp-worker-main.cluster-x.eu-central-1.rds.amazonaws.com',
      },
      { OutputKey: 'WorkerClusterSecretArn', OutputValue: 'arn:worker' },
      { OutputKey: 'WorkerClusterIdentifier', OutputValue: 'sp-worker-main' },
    ]);
    const tools = fakeTools({
      aws: [
        'case "$*" in',
        `  "cloudformation describe-stacks --stack-name SpStack --region eu-central-1"*) echo '${outputs}' ;;`,
        `  "secretsmanager get-secret-value --secret-id arn:admin"*) echo '${ADMIN}' ;;`,
        `  "secretsmanager get-secret-value --secret-id arn:worker"*) echo '{"username":"supaplane_admin","password":"w0rker\\"pw","port":5432}' ;;`,
        '  *) exit 3 ;;',
        'esac',
      ].join('\n'),
    });
    const { code, stdout, stderr } = await run(
      'bash',
      [script, '--stack', 'SpStack', '--region', 'eu-central-1', '--project', 'shop'],
      {
        PATH: tools.path,
        PROVISION_POLL_SECONDS: '0.05',
      },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(seen[0]).toEqual({
      method: 'POST',
      url: '/v1/clusters',
      body: {
        name: 'main',
        host: 'sp-worker-main.cluster-x.eu-central-1.rds.amazonaws.com',
        port: 5432,
        admin_user: 'supaplane_admin',
        admin_password: 'w0rker"pw',
        admin_database: 'postgres',
        ssl: true,
        capacity: 500,
        weight: 100,
        region: 'eu-central-1',
        external_id: 'sp-worker-main',
      },
    });
    expect(seen[1]!.body).toEqual({ name: 'shop', cluster_id: 'c-1', region: 'eu-central-1' });
    expect(stdout).toContain('sb_secret_ssssssssssssssssssssss_87654321');
    expect(stdout).not.toContain('w0rker');
  });

  it('fails with the API message, without leaking the admin key, and explains a missing local stack', async () => {
    failProjects = true;
    try {
      const { code, stderr } = await run(
        'bash',
        [script, '--local', '--data-dir', localData(), '--project', ' '],
        {},
      );
      expect(code).toBe(1);
      expect(stderr).toBe('error: POST /v1/projects answered 400: name must not be empty\n');
    } finally {
      failProjects = false;
    }
    const empty = mkdtempSync(join(tmpdir(), 'nothing-'));
    mkdirSync(join(empty, 'x'));
    const missing = await run('bash', [script, '--local', '--data-dir', empty], {});
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('local-stack.json not found: start the local platform first');
  });
});
