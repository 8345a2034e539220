/**
 * Bench child process: a tiny rest-function-like upstream and a tenant-manager internal API
 * (the gateway's test registry) with one warm project and a batch of never-used ones.
 * Prints one JSON line with ports and keys, then serves until killed.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRegistryServer } from '../../../gateway/src/testing/registry-server.js';

const COLD_PROJECTS = Number(process.env.BENCH_COLD_PROJECTS ?? 30);
const BODY = JSON.stringify([
  { id: 1, title: 'hello world', done: false, inserted_at: '2026-11-22T10:00:00Z' },
]);

const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-range': '0-0/*',
      'content-length': Buffer.byteLength(BODY),
    });
    res.end(BODY);
  });
});
upstream.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamPort = (upstream.address() as AddressInfo).port;

const registry = await startRegistryServer({ token: process.env.INTERNAL_SERVICE_TOKEN ?? 'bench-token' });
const project = (ref: string) =>
  registry.addProject(ref, {
    upstreams: {
      rest: {
        kind: 'lambda-url',
        url: `http://rest-${ref}.lambda-url.local.localhost:${upstreamPort}/`,
        region: 'local',
      },
    },
  });
const warm = project('benchbenchbenchbench');
const cold = Array.from({ length: COLD_PROJECTS }, (_, i) => project(`cold${String(i).padStart(16, '0')}`));

process.stdout.write(
  `${JSON.stringify({
    upstreamPort,
    registryUrl: registry.url,
    warm: { ref: warm.ref, key: warm.publishableKey },
    cold: cold.map((p) => ({ ref: p.ref, key: p.publishableKey })),
  })}\n`,
);
