/**
 * Bench child process: a tiny rest-function-like upstream and a tenant-manager internal API
 * (the gateway's test registry) with one warm project and a batch of never-used ones.
 * Prints one JSON line with ports and keys, then serves until killed.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashApiKey } from '../../../packages/keys/src/api-key.js';
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

// The registry stands in for a tenant-manager that has been serving lookups for a while: its own
// code is compiled before the cold phase, so a cold request's time is the gateway's and not the
// first few calls of this stand-in (measured: one of the first registry answers took 1-3 ms).
const registryHeaders = { authorization: `Bearer ${process.env.INTERNAL_SERVICE_TOKEN ?? 'bench-token'}` };
const warmKeyHash = hashApiKey(warm.publishableKey);
for (let i = 0; i < 500; i++) {
  const path =
    i % 2 === 0 ? `/internal/v1/projects/${warm.ref}/config` : `/internal/v1/api-keys/${warmKeyHash}`;
  await (await fetch(`${registry.url}${path}`, { headers: registryHeaders })).arrayBuffer();
}

process.stdout.write(
  `${JSON.stringify({
    upstreamPort,
    registryUrl: registry.url,
    warm: { ref: warm.ref, key: warm.publishableKey },
    cold: cold.map((p) => ({ ref: p.ref, key: p.publishableKey })),
  })}\n`,
);
