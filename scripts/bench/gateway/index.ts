/**
 * Gateway benchmark: one upstream, one load generator (autocannon), three paths in the same run:
 * direct to the upstream, through nginx as a plain reverse proxy, and through the gateway doing
 * key check + minted JWT + SigV4. Prints rps, p50, p99 per path and the ratios, the added p99 at
 * half of the gateway's max load, and the added latency of a first request on a cold cache.
 *
 *   pnpm tsx scripts/bench/gateway/index.ts        (BENCH_SECONDS, BENCH_CONNECTIONS to tune)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, hasRedisServer, startRedis } from '@supaplane/local-services';

const root = fileURLToPath(new URL('../../../', import.meta.url));
// The load generator and HTTP client are the gateway package's dev dependencies.
const requireFromGateway = createRequire(join(root, 'gateway/package.json'));
const autocannon = requireFromGateway('autocannon') as (options: object) => Promise<AutocannonResult>;
interface UndiciResponse {
  statusCode: number;
  body: { dump(): Promise<void> };
}
interface UndiciLike {
  request(url: string, options?: { headers?: Record<string, string> }): Promise<UndiciResponse>;
  Pool: new (
    origin: string,
    options: { connections: number; pipelining: number },
  ) => {
    request(options: {
      method: 'GET';
      path: string;
      headers: Record<string, string>;
    }): Promise<UndiciResponse>;
    close(): Promise<void>;
  };
}
const { request, Pool } = requireFromGateway('undici') as UndiciLike;

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BASE_DOMAIN = 'supaplane.bench';
const TOKEN = 'bench-internal-token';
const children: ChildProcess[] = [];
const cleanups: Array<() => unknown> = [];

function startChild(args: string[], env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return child;
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve(buffer.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

async function waitForHttp(url: string, headers: Record<string, string> = {}) {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(url, { headers });
      await res.body.dump();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}

function startNginx(upstreamPort: number, port: number): string {
  if (spawnSync('nginx', ['-v']).status !== 0) throw new Error('nginx missing: apt-get install -y nginx');
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  const conf = `
worker_processes 1;
daemon on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 6m;
  upstream rest { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://rest;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const run = spawnSync('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error('nginx failed to start');
  cleanups.push(() => {
    spawnSync('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-s', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

interface PathResult {
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  errors: number;
}

async function load(
  name: string,
  url: string,
  headers: Record<string, string>,
  options: { overallRate?: number; seconds?: number } = {},
): Promise<PathResult> {
  // Warm-up (connections, JIT, caches), not measured.
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 1 });
  const result = await autocannon({
    url,
    headers,
    connections: CONNECTIONS,
    duration: options.seconds ?? SECONDS,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
  });
  const errors = result.non2xx + result.errors + result.timeouts;
  if (errors > 0) console.error(`  ! ${name}: ${errors} failed requests`);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.average,
    errors,
  };
}

/**
 * Open-loop load at a fixed rate with sub-millisecond latency (autocannon reports whole ms):
 * a request is started every 1/rate s whether or not earlier ones finished.
 */
async function fixedRate(
  url: string,
  headers: Record<string, string>,
  rate: number,
  seconds: number,
): Promise<{ p50: number; p99: number; errors: number }> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: CONNECTIONS, pipelining: 1 });
  const path = target.pathname + target.search;
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const total = Math.floor(rate * seconds);
  const one = async (scheduled: number) => {
    try {
      const res = await pool.request({ method: 'GET', path, headers });
      await res.body.dump();
      if (res.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    latencies.push(performance.now() - scheduled);
  };
  // Every millisecond, start whatever is due; latency counts from the scheduled time.
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    for (; sent < due; sent++) pending.push(one(started + (sent * 1000) / rate));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { p50: at(0.5), p99: at(0.99), errors };
}

async function timeOne(url: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await request(url, { headers });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return performance.now() - started;
}

/** User + system CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

/** CPU time per request of the processes in `pids` at a fixed, moderate rate: robust to a busy machine. */
async function cpuPerRequest(
  name: string,
  url: string,
  headers: Record<string, string>,
  pids: number[],
  rate: number,
) {
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 1, overallRate: rate }); // warm-up
  const before = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const result = await autocannon({
    url,
    headers,
    connections: CONNECTIONS,
    duration: SECONDS,
    overallRate: rate,
  });
  const after = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const requests = result.requests.average * SECONDS;
  if (result.non2xx + result.errors > 0)
    console.error(`  ! ${name}: ${result.non2xx + result.errors} failed requests`);
  return ((after - before) / requests) * 1e6;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function main() {
  const upstreamChild = startChild(['scripts/bench/gateway/upstream.ts'], { INTERNAL_SERVICE_TOKEN: TOKEN });
  const fixture = JSON.parse(await firstLine(upstreamChild)) as {
    upstreamPort: number;
    registryUrl: string;
    warm: { ref: string; key: string };
    cold: Array<{ ref: string; key: string }>;
  };

  const redis = hasRedisServer() ? await startRedis() : null;
  if (redis) cleanups.push(() => redis.stop());
  const [gatewayPort, nginxPort] = await Promise.all([freePort(), freePort()]);
  const gatewayChild = startChild(
    ['gateway/src/main.ts'],
    {
      LOCAL_MODE: 'true',
      BASE_DOMAIN,
      GATEWAY_PORT: String(gatewayPort),
      TENANT_MANAGER_INTERNAL_URL: fixture.registryUrl,
      INTERNAL_SERVICE_TOKEN: TOKEN,
      LOCAL_AWS_ACCESS_KEY_ID: 'AKIDBENCH',
      LOCAL_AWS_SECRET_ACCESS_KEY: 'bench-secret',
      REDIS_URL: redis?.url ?? '',
      LOG_LEVEL: 'warn',
    },
    (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean),
  );
  const nginxDir = startNginx(fixture.upstreamPort, nginxPort);
  // Two bare proxies for reference: what node:http + undici and Fastify + undici cost with no gateway logic.
  const [httpFloorPort, fastifyFloorPort] = await Promise.all([freePort(), freePort()]);
  const floors = {
    http: startChild(['scripts/bench/gateway/floor-proxy.ts'], {
      FLOOR_UPSTREAM_PORT: String(fixture.upstreamPort),
      FLOOR_PORT: String(httpFloorPort),
      FLOOR_FRAMEWORK: 'http',
    }),
    fastify: startChild(['scripts/bench/gateway/floor-proxy.ts'], {
      FLOOR_UPSTREAM_PORT: String(fixture.upstreamPort),
      FLOOR_PORT: String(fastifyFloorPort),
      FLOOR_FRAMEWORK: 'fastify',
    }),
  };
  await Promise.all([firstLine(floors.http), firstLine(floors.fastify)]);

  const path = '/rest/v1/todos?select=id,title,done&order=inserted_at.desc&limit=10';
  const direct = { url: `http://127.0.0.1:${fixture.upstreamPort}${path}`, headers: {} };
  const nginx = { url: `http://127.0.0.1:${nginxPort}${path}`, headers: {} };
  const gatewayHeaders = (ref: string, key: string) => ({
    host: `${ref}.${BASE_DOMAIN}:${gatewayPort}`,
    apikey: key,
  });
  const gateway = {
    url: `http://127.0.0.1:${gatewayPort}${path}`,
    headers: gatewayHeaders(fixture.warm.ref, fixture.warm.key),
  };
  await waitForHttp(`http://127.0.0.1:${gatewayPort}/health`);
  await waitForHttp(nginx.url);

  console.log(
    `gateway bench: ${ROUNDS} rounds × ${SECONDS}s per path, ${CONNECTIONS} connections, redis ${redis ? 'on' : 'off'}`,
  );
  // Cold cache first, while every cold project is still unseen.
  const coldAdded: number[] = [];
  const coldFirst: number[] = [];
  const warmAfter: number[] = [];
  for (const project of fixture.cold) {
    const headers = gatewayHeaders(project.ref, project.key);
    const url = `http://127.0.0.1:${gatewayPort}${path}`;
    const first = await timeOne(url, headers);
    const warm = median([
      await timeOne(url, headers),
      await timeOne(url, headers),
      await timeOne(url, headers),
    ]);
    coldFirst.push(first);
    warmAfter.push(warm);
    coldAdded.push(first - warm);
  }

  // Rounds interleave the three paths so that noise from other processes hits all of them alike.
  const rounds: Record<string, PathResult[]> = { direct: [], nginx: [], gateway: [] };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.direct!.push(await load('direct', direct.url, direct.headers));
    rounds.nginx!.push(await load('nginx', nginx.url, nginx.headers));
    rounds.gateway!.push(await load('gateway', gateway.url, gateway.headers));
  }
  const pick = (list: PathResult[]): PathResult => ({
    rps: median(list.map((r) => r.rps)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    mean: median(list.map((r) => r.mean)),
    errors: list.reduce((n, r) => n + r.errors, 0),
  });
  const results = {
    direct: pick(rounds.direct!),
    nginx: pick(rounds.nginx!),
    gateway: pick(rounds.gateway!),
  };

  // Half of the gateway's max, driven by autocannon at a fixed rate (whole-ms percentiles, exact mean).
  const half = Math.floor(results.gateway.rps / 2);
  const directHalf = await load('direct@half', direct.url, direct.headers, { overallRate: half });
  const gatewayHalf = await load('gateway@half', gateway.url, gateway.headers, { overallRate: half });
  // CPU cost per request, independent of how busy the machine is.
  const nginxMaster = Number(readFileSync(join(nginxDir, 'nginx.pid'), 'utf8').trim());
  const nginxPids = [
    nginxMaster,
    ...spawnSync('pgrep', ['-P', String(nginxMaster)])
      .stdout.toString()
      .trim()
      .split('\n')
      .map(Number),
  ];
  const cpuRate = 2_000;
  const nginxCpu = await cpuPerRequest('nginx cpu', nginx.url, nginx.headers, nginxPids, cpuRate);
  const gatewayCpu = await cpuPerRequest(
    'gateway cpu',
    gateway.url,
    gateway.headers,
    [gatewayChild.pid!],
    cpuRate,
  );
  const httpFloorCpu = await cpuPerRequest(
    'node:http floor cpu',
    `http://127.0.0.1:${httpFloorPort}${path}`,
    {},
    [floors.http.pid!],
    cpuRate,
  );
  const fastifyFloorCpu = await cpuPerRequest(
    'fastify floor cpu',
    `http://127.0.0.1:${fastifyFloorPort}${path}`,
    {},
    [floors.fastify.pid!],
    cpuRate,
  );
  // The same at a quarter, with the open-loop generator's sub-millisecond percentiles.
  const quarter = Math.floor(results.gateway.rps / 4);
  const directQuarter = await fixedRate(direct.url, direct.headers, quarter, SECONDS);
  const gatewayQuarter = await fixedRate(gateway.url, gateway.headers, quarter, SECONDS);

  console.log('\npath      rps        p50 ms   p99 ms   mean ms  errors   (autocannon, median of rounds)');
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(9)} ${fmt(r.rps, 0).padStart(8)}   ${fmt(r.p50).padStart(6)}   ${fmt(r.p99).padStart(6)}   ${fmt(r.mean).padStart(6)}   ${r.errors}`,
    );
  }
  const ratio = results.gateway.rps / results.nginx.rps;
  console.log(`\ngateway/nginx rps: ${fmt(ratio * 100, 1)}%   (target >= 60%)`);
  console.log(`gateway/direct rps: ${fmt((results.gateway.rps / results.direct.rps) * 100, 1)}%`);
  console.log(`nginx/direct rps: ${fmt((results.nginx.rps / results.direct.rps) * 100, 1)}%`);
  console.log(
    `at half load (${half} rps, autocannon): p99 direct ${fmt(directHalf.p99)} ms, gateway ${fmt(gatewayHalf.p99)} ms, ` +
      `added ${fmt(gatewayHalf.p99 - directHalf.p99)} ms (target <= 2 ms); mean added ${fmt(gatewayHalf.mean - directHalf.mean)} ms`,
  );
  console.log(
    `at quarter load (${quarter} rps, open loop): p99 direct ${fmt(directQuarter.p99)} ms, gateway ${fmt(gatewayQuarter.p99)} ms, ` +
      `added ${fmt(gatewayQuarter.p99 - directQuarter.p99)} ms; p50 added ${fmt(gatewayQuarter.p50 - directQuarter.p50)} ms`,
  );
  console.log(
    `CPU per request at ${cpuRate} rps: nginx ${fmt(nginxCpu, 1)} µs, gateway ${fmt(gatewayCpu, 1)} µs ` +
      `(ratio ${fmt((nginxCpu / gatewayCpu) * 100, 1)}%: the rps ratio an otherwise idle core would give)`,
  );
  console.log(
    `bare proxies, no gateway logic: node:http + undici ${fmt(httpFloorCpu, 1)} µs, Fastify + undici ${fmt(fastifyFloorCpu, 1)} µs per request`,
  );
  console.log(
    `cold cache first request (${fixture.cold.length} projects): median ${fmt(median(coldFirst))} ms vs warm ` +
      `${fmt(median(warmAfter))} ms, added median ${fmt(median(coldAdded))} ms, max ${fmt(Math.max(...coldAdded))} ms (target <= 5 ms)`,
  );
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const cleanup of cleanups) await cleanup();
}
