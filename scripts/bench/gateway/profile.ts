/**
 * CPU profile of the gateway under load: starts the bench upstream and a gateway with
 * `node --cpu-prof`, drives it with autocannon (warm key, the bench's PostgREST-style path), stops it
 * and prints the functions with the most self time, then the same grouped by file.
 *
 *   npx tsx scripts/bench/gateway/profile.ts   (PROFILE_KIND cpu|alloc|gc, PROFILE_TARGET gateway|floor,
 *                                                PROFILE_SECONDS, PROFILE_RATE, PROFILE_TOP, LOG_LEVEL,
 *                                                PROFILE_INTERVAL_US: CPU sampling, default 250;
 *                                                ALLOC_SAMPLING_INTERVAL: bytes, default 256)
 *
 * `PROFILE_TARGET=floor` profiles the bench's bare node:http + undici proxy instead, so that the two
 * (at the same PROFILE_RATE) show where the gateway's extra time per request goes. Times are printed
 * as a share of the busy (non-idle) samples and as microseconds per request.
 *
 * `PROFILE_KIND=alloc` measures allocation instead: after a 2 s warm-up at the same load, V8's
 * sampling heap profiler (alloc-sampler.mjs, counting objects the GC has already collected) runs for
 * the measured seconds, and the script prints the bytes allocated per request, by function and by
 * file. Unlike CPU time this figure hardly moves with a busy machine, so it compares changes well.
 *
 * `PROFILE_KIND=gc` runs the target with `--trace-gc-nvp` and the image's GC flags and, after the same
 * warm-up, summarizes its young-generation collections: scavenges per 1,000 requests, the median pause
 * and its phases, and what each request leaves for a scavenge to do (bytes surviving and promoted,
 * native weak handles dying). The counts hardly move with a busy machine; the times do.
 *
 * The raw `.cpuprofile` / `.heapprofile` stays in the printed directory (open it in Chrome DevTools).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '@supaplane/local-services';
import {
  BENCH_BASE_DOMAIN as BASE_DOMAIN,
  BENCH_TOKEN,
  bundleGateway,
  children,
  firstLine,
  gatewayEnv,
  gatewayImageNodeFlags,
  requireFromGateway,
  root,
  startChild,
} from './children.js';

const autocannon = requireFromGateway('autocannon') as (options: object) => Promise<{
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}>;

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10);
const RATE = Number(process.env.PROFILE_RATE ?? 0);
const TOP = Number(process.env.PROFILE_TOP ?? 40);
const TARGET = process.env.PROFILE_TARGET === 'floor' ? 'floor' : 'gateway';
const KIND =
  process.env.PROFILE_KIND === 'alloc' || process.env.PROFILE_KIND === 'gc'
    ? process.env.PROFILE_KIND
    : 'cpu';

interface ProfileNode {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(root, '')
    .replace(/.*node_modules\/\.pnpm\/([^/]+)\/node_modules\//, '$1:');

type Frame = { functionName: string; url: string; lineNumber: number };

/** Self cost (µs of CPU, or bytes allocated) added up by function and by file, printed per request. */
class SelfCost {
  total = 0;
  private readonly byFunction = new Map<string, number>();
  private readonly byFile = new Map<string, number>();

  add(frame: Frame, amount: number): void {
    const file = frame.url ? shortUrl(frame.url) : `(${frame.functionName || 'native'})`;
    const fn = `${frame.functionName || '(anonymous)'}  ${file}:${frame.lineNumber + 1}`;
    this.total += amount;
    this.byFunction.set(fn, (this.byFunction.get(fn) ?? 0) + amount);
    this.byFile.set(file, (this.byFile.get(file) ?? 0) + amount);
  }

  /** The costliest functions (TOP) and files (20), each as a share and per request in `unit`. */
  print(what: string, requests: number, unit: 'µs' | 'B'): void {
    const digits = unit === 'µs' ? 2 : 0;
    for (const [title, map, count] of [
      [`${what} by function`, this.byFunction, TOP],
      [`${what} by file`, this.byFile, 20],
    ] as const) {
      console.log(`\n${title}`);
      for (const [name, amount] of [...map].sort((a, b) => b[1] - a[1]).slice(0, count)) {
        const perRequest = (amount / requests).toFixed(digits).padStart(digits ? 7 : 6);
        console.log(
          `${((amount / this.total) * 100).toFixed(1).padStart(5)}% ${perRequest} ${unit}  ${name}`,
        );
      }
    }
  }
}

interface HeapNode {
  callFrame: Frame;
  selfSize: number;
  children: HeapNode[];
}

/** Self bytes of every function of a sampling heap profile, per request, by function and by file. */
function summarizeAllocations(profile: { head: HeapNode }, requests: number): void {
  const cost = new SelfCost();
  const visit = (node: HeapNode) => {
    if (node.selfSize > 0) cost.add(node.callFrame, node.selfSize);
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  console.log(
    `\nallocated ${(cost.total / requests / 1024).toFixed(2)} KB per request (${requests} requests)`,
  );
  cost.print('allocated bytes', requests, 'B');
}

/** One `--trace-gc-nvp` line: `name=value` pairs (pause and phases in ms, sizes in bytes). */
type GcEvent = Record<string, number> & { kind: string };

function parseGcTrace(text: string): GcEvent[] {
  const events: GcEvent[] = [];
  for (const line of text.split('\n')) {
    const kind = /\bgc=(\w+)/.exec(line)?.[1];
    if (!kind) continue;
    const event = { kind } as GcEvent;
    for (const [, name, value] of line.matchAll(/([\w.]+)=([\d.]+)/g)) event[name!] = Number(value);
    events.push(event);
  }
  return events;
}

/** Young-generation collections during the measured seconds, per request where that compares. */
function summarizeGc(events: GcEvent[], requests: number): void {
  const scavenges = events.filter((e) => e.kind === 's');
  const others = events.filter((e) => e.kind !== 's');
  const med = (name: string) => {
    const values = scavenges.map((e) => e[name] ?? 0).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)] ?? 0;
  };
  const sum = (name: string) => scavenges.reduce((total, e) => total + (e[name] ?? 0), 0);
  console.log(
    `\n${scavenges.length} scavenges for ${requests} requests: ${((scavenges.length / requests) * 1000).toFixed(2)} per 1,000, ` +
      `${sum('pause').toFixed(1)} ms paused in all (${((sum('pause') / requests) * 1000).toFixed(2)} µs per request)`,
  );
  console.log(
    `median pause ${med('pause').toFixed(2)} ms: scavenge ${med('scavenge').toFixed(2)} (copying ${med('scavenge.parallel').toFixed(2)}, ` +
      `array buffers ${med('scavenge.sweep_array_buffers').toFixed(2)}, weak handles ${med('scavenge.weak_global_handles.process').toFixed(2)}), ` +
      `external weak handles ${med('heap.external_weak_global_handles').toFixed(2)}`,
  );
  console.log(
    `per request: ${(sum('allocated') / requests / 1024).toFixed(2)} KB allocated, ${(sum('new_space_survived') / requests).toFixed(0)} B surviving a scavenge, ` +
      `${(sum('promoted') / requests).toFixed(0)} B promoted, ${(sum('nodes_died_in_new') / requests).toFixed(2)} native weak handles dying`,
  );
  if (others.length > 0) {
    console.log(
      `other collections: ${others.map((e) => `${e.kind} ${(e.pause ?? 0).toFixed(1)} ms`).join(', ')}`,
    );
  }
}

function summarize(profile: CpuProfile, requests: number): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const cost = new SelfCost();
  for (const [id, micros] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName !== '(idle)') cost.add(frame, micros);
  }
  console.log(`\nbusy ${(cost.total / requests).toFixed(1)} µs per request (${requests} requests)`);
  cost.print('self time', requests, 'µs');
}

try {
  const upstream = startChild(['scripts/bench/gateway/upstream.ts'], {
    INTERNAL_SERVICE_TOKEN: BENCH_TOKEN,
    BENCH_COLD_PROJECTS: '0',
  });
  const fixture = JSON.parse(await firstLine(upstream)) as {
    registryUrl: string;
    upstreamPort: number;
    warm: { ref: string; key: string };
  };
  const port = await freePort();
  const profileDir = mkdtempSync(join(tmpdir(), 'gateway-profile-'));
  const allocOut = join(profileDir, 'alloc.heapprofile');
  const profiling =
    KIND === 'alloc'
      ? ['--import', pathToFileURL(join(root, 'scripts/bench/gateway/alloc-sampler.mjs')).href]
      : KIND === 'gc'
        ? [...(await gatewayImageNodeFlags()), '--trace-gc-nvp']
        : [
            '--cpu-prof',
            '--cpu-prof-interval',
            process.env.PROFILE_INTERVAL_US ?? '250',
            '--cpu-prof-dir',
            profileDir,
          ];
  const sampler: Record<string, string> = KIND === 'alloc' ? { ALLOC_PROFILE_OUT: allocOut } : {};
  // The GC trace is read from stdout; the gateway runs as it ships there (bundled, no tsx loader).
  const stdout = KIND === 'gc' ? 'pipe' : 'ignore';
  const gatewayEntry = KIND === 'gc' ? await bundleGateway(profileDir) : 'gateway/src/main.ts';
  const gateway =
    TARGET === 'floor'
      ? startChild(
          ['scripts/bench/gateway/floor-proxy.ts'],
          { FLOOR_UPSTREAM_PORT: String(fixture.upstreamPort), FLOOR_PORT: String(port), ...sampler },
          profiling,
          stdout,
        )
      : startChild(
          [gatewayEntry],
          {
            ...gatewayEnv({
              port,
              registryUrl: fixture.registryUrl,
              logLevel: process.env.LOG_LEVEL ?? 'info',
            }),
            ...sampler,
          },
          profiling,
          stdout,
        );
  let gcTrace = '';
  gateway.stdout?.on('data', (chunk: Buffer) => {
    gcTrace += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}/rest/v1/todos?select=id,title,done&order=inserted_at.desc&limit=10`;
  const headers = { host: `${fixture.warm.ref}.${BASE_DOMAIN}:${port}`, apikey: fixture.warm.key };
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/health`);
      break;
    } catch {
      if (i > 200) throw new Error('gateway did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const load = (duration: number) =>
    autocannon({ url, headers, connections: 32, duration, ...(RATE > 0 ? { overallRate: RATE } : {}) });
  if (KIND !== 'cpu') {
    await load(2);
    if (KIND === 'alloc') gateway.kill('SIGUSR2');
    gcTrace = '';
  }
  const result = await load(SECONDS);
  console.log(
    `${Math.round(result.requests.average)} rps for ${SECONDS}s, ${result.non2xx + result.errors} failed`,
  );
  if (KIND === 'gc') {
    summarizeGc(parseGcTrace(gcTrace), result.requests.total);
  } else if (KIND === 'alloc') {
    gateway.kill('SIGUSR2');
    for (let i = 0; !existsSync(allocOut); i++) {
      if (i > 400) throw new Error('no allocation profile written');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    console.log(`profile: ${allocOut}`);
    summarizeAllocations(
      JSON.parse(readFileSync(allocOut, 'utf8')) as { head: HeapNode },
      result.requests.total,
    );
  } else {
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
    const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('no profile written');
    console.log(`profile: ${join(profileDir, file)}`);
    summarize(JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile, result.requests.total);
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
}
