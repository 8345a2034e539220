import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { generateApiKey } from '@supaplane/keys';
import { type RunningRedis, startRedis } from '@supaplane/local-services';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { usageRedisKey, usageTopRedisKey } from './redis-layer.js';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import { BASE_DOMAIN, TEST_AWS, call, testConfig, upstreamsFor } from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';
import { USAGE_FIELDS, type UsageCounts, UsageMeter, usageHour } from './usage.js';

type Stored = Array<{ hour: string; counts: Map<string, Record<string, number>> }>;

/** A sink that stores what it is given (or refuses while `up` is false), and a clock the test moves. */
function harness(startMs: number) {
  const stored: Stored = [];
  const state = { now: startMs, up: true };
  const meter = new UsageMeter({
    clock: { now: () => state.now },
    flushEveryMs: 60_000,
    sink: async (hour, counts) => {
      if (!state.up) return false;
      const copy = new Map<string, Record<string, number>>();
      for (const [ref, values] of counts) copy.set(ref, named(values));
      stored.push({ hour, counts: copy });
      return true;
    },
  });
  return { meter, stored, state };
}

function named(values: UsageCounts): Record<string, number> {
  const out: Record<string, number> = {};
  USAGE_FIELDS.forEach((field, i) => {
    if (values[i]! > 0) out[field] = values[i]!;
  });
  return out;
}

const T = Date.UTC(2026, 10, 23, 14, 59, 58);

describe('usage meter', () => {
  it('files each UTC hour under YYYYMMDDHH', () => {
    expect(usageHour(T)).toBe('2026112314');
    expect(usageHour(Date.UTC(2027, 0, 1, 0, 0, 0))).toBe('2027010100');
  });

  it('counts requests by project, service and status class, with rate-limit refusals and body bytes', async () => {
    const { meter, stored } = harness(T);
    meter.record('aaa', 'rest', 200, 0, 120, false);
    meter.record('aaa', 'rest', 201, 30, 40, false);
    meter.record('aaa', 'auth', 401, 0, 0, false);
    meter.record('aaa', 'rest', 429, 0, 0, true);
    meter.record('aaa', 'other', 404, 0, 0, false);
    meter.record('bbb', 'storage', 503, 10, 0, false);
    meter.record('bbb', 'realtime', 101, 0, 0, false);
    await meter.close();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.hour).toBe('2026112314');
    expect(stored[0]!.counts.get('aaa')).toEqual({
      requests: 5,
      rest: 3,
      auth: 1,
      other: 1,
      '2xx': 2,
      '4xx': 3,
      rate_limited: 1,
      ingress_bytes: 30,
      egress_bytes: 160,
    });
    // A 101 (WebSocket upgrade) counts as a request of its service, in no status class.
    expect(stored[0]!.counts.get('bbb')).toEqual({
      requests: 2,
      storage: 1,
      realtime: 1,
      '5xx': 1,
      ingress_bytes: 10,
    });
  });

  it('keeps counts the sink could not store and sends them with the next window', async () => {
    const { meter, stored, state } = harness(T);
    state.up = false;
    meter.record('aaa', 'rest', 200, 0, 5, false);
    await meter.flush();
    expect(stored).toHaveLength(0);
    meter.record('aaa', 'rest', 500, 0, 0, false);
    state.up = true;
    await meter.flush();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.counts.get('aaa')).toEqual({
      requests: 2,
      rest: 2,
      '2xx': 1,
      '5xx': 1,
      egress_bytes: 5,
    });
    await meter.flush();
    expect(stored).toHaveLength(1);
    await meter.close();
  });

  it('sends on close what was counted while an earlier flush was still under way', async () => {
    const stored: number[] = [];
    let release = () => {};
    const meter = new UsageMeter({
      clock: { now: () => T },
      flushEveryMs: 60_000,
      sink: async (_hour, counts) => {
        if (stored.length === 0) {
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }
        stored.push(counts.get('aaa')![0]!);
        return true;
      },
    });
    meter.record('aaa', 'rest', 200, 0, 0, false);
    const first = meter.flush();
    meter.record('aaa', 'rest', 200, 0, 0, false);
    meter.record('aaa', 'rest', 200, 0, 0, false);
    const closed = meter.close();
    release();
    await Promise.all([first, closed]);
    expect(stored).toEqual([1, 2]);
  });

  it('files a window under the hour it started in, and starts the next one in the new hour', async () => {
    const { meter, stored, state } = harness(T);
    meter.record('aaa', 'rest', 200, 0, 0, false);
    state.now = T + 3_000; // 15:00:01
    await meter.flush();
    meter.record('aaa', 'rest', 200, 0, 0, false);
    await meter.close();
    expect(stored.map((s) => s.hour)).toEqual(['2026112314', '2026112315']);
  });

  it('files what is counted after the hour boundary under the new hour, though the boundary flush has not run yet', async () => {
    const { meter, stored, state } = harness(T);
    meter.record('aaa', 'rest', 200, 0, 0, false);
    state.now = T + 3_000; // 15:00:01, no flush since 14:59:58
    meter.record('aaa', 'rest', 500, 0, 0, false);
    await meter.close();
    expect(stored.map((s) => [s.hour, s.counts.get('aaa')])).toEqual([
      ['2026112314', { requests: 1, rest: 1, '2xx': 1 }],
      ['2026112315', { requests: 1, rest: 1, '5xx': 1 }],
    ]);
  });

  it("files an open tunnel's bytes under the hours they went through, and its request when it closes", async () => {
    const { meter, stored, state } = harness(T);
    const traffic = { ingressBytes: 0, egressBytes: 0 };
    const untrack = meter.track('aaa', traffic);
    traffic.ingressBytes += 100;
    traffic.egressBytes += 200;
    state.now = T + 3_000; // 15:00:01: the boundary flush
    await meter.flush();
    traffic.ingressBytes += 5;
    state.now = T + 2 * 3_600_000; // 16:59:58, an hour later
    await meter.flush();
    traffic.egressBytes += 7;
    meter.record('aaa', 'realtime', 0, traffic.ingressBytes, traffic.egressBytes, false);
    untrack();
    traffic.ingressBytes += 1_000; // past its close: never counted
    await meter.close();
    expect(stored.map((s) => [s.hour, s.counts.get('aaa')])).toEqual([
      ['2026112314', { ingress_bytes: 100, egress_bytes: 200 }],
      ['2026112315', { ingress_bytes: 5 }],
      ['2026112316', { requests: 1, realtime: 1, egress_bytes: 7 }],
    ]);
  });

  it('flushes on its own at the hour boundary, even when that comes before the next interval', async () => {
    const stored: string[] = [];
    const now = Date.now();
    const meter = new UsageMeter({
      // 150 ms before an hour boundary, with a flush interval of a minute.
      clock: { now: () => now + (3_600_000 - (now % 3_600_000)) - 150 + (Date.now() - now) },
      flushEveryMs: 60_000,
      sink: async (hour) => {
        stored.push(hour);
        return true;
      },
    });
    meter.record('aaa', 'rest', 200, 0, 0, false);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(stored).toHaveLength(1);
    await meter.close();
  });
});

describe('usage through gateways sharing one Redis', () => {
  let redis: RunningRedis;
  let client: Redis;
  let echo: EchoUpstream;
  let registry: RegistryServer;
  let gateways: RunningGateway[];
  let project: TestProject;
  let other: TestProject;

  beforeAll(async () => {
    [redis, echo] = await Promise.all([startRedis(), startEchoUpstream(TEST_AWS)]);
    client = new Redis(redis.url);
    registry = await startRegistryServer({ token: 'internal-token', redisUrl: redis.url });
    project = registry.addProject('meteredmeteredmetere', {
      upstreams: upstreamsFor('meteredmeteredmetere', echo.port),
    });
    other = registry.addProject('quietquietquietquiet', {
      upstreams: upstreamsFor('quietquietquietquiet', echo.port),
    });
    gateways = await Promise.all(
      [0, 1].map(() => startGateway(testConfig(registry, { usageFlushMs: 50 }, redis.url))),
    );
  });

  afterAll(async () => {
    await Promise.all((gateways ?? []).map((g) => g.close()));
    client?.disconnect();
    await registry?.close();
    await echo?.close();
    await redis?.stop();
  });

  const hash = async (ref: string) => {
    const stored = await client.hgetall(usageRedisKey(ref, usageHour(Date.now())));
    return Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, Number(v)]));
  };

  async function eventually(check: () => Promise<boolean>): Promise<void> {
    const started = Date.now();
    while (!(await check())) {
      if (Date.now() - started > 5_000) throw new Error('usage did not reach Redis within 5 s');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it("adds up every instance's counts per project and hour, with the bytes relayed", async () => {
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    const body = JSON.stringify({ title: 'x'.repeat(100) });
    let egress = 0;
    for (const gateway of [a, b, a]) {
      const res = await call(gateway.url, project.ref, '/rest/v1/todos', {
        method: 'POST',
        headers: { apikey: project.publishableKey, 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(200);
      // The echo is compact JSON: parsing and serialising it again gives back the same bytes.
      egress += Buffer.byteLength(JSON.stringify(res.body));
    }
    const big = await call(b.url, project.ref, '/rest/v1/__big/70000', {
      headers: { apikey: project.publishableKey },
    });
    expect(big.status).toBe(200);
    egress += 70_000;
    const refused = await call(b.url, project.ref, '/auth/v1/user', {
      headers: { apikey: project.publishableKey, authorization: 'Bearer not-a-jwt' },
    });
    expect(refused.status).toBe(401);

    await eventually(async () => (await hash(project.ref)).requests === 5);
    const counts = await hash(project.ref);
    expect(counts).toMatchObject({ requests: 5, rest: 4, auth: 1, '2xx': 4, '4xx': 1 });
    expect(counts.ingress_bytes).toBe(3 * Buffer.byteLength(body));
    expect(counts.egress_bytes).toBe(egress);
    expect(await client.ttl(usageRedisKey(project.ref, usageHour(Date.now())))).toBeGreaterThan(
      7 * 24 * 3600,
    );
    // The same counts by UTC day, kept longer.
    const day = usageHour(Date.now()).slice(0, 8);
    expect(Number(await client.hget(usageRedisKey(project.ref, day), 'requests'))).toBe(5);
    expect(await client.ttl(usageRedisKey(project.ref, day))).toBeGreaterThan(30 * 24 * 3600);
    expect(Number(await client.zscore(usageTopRedisKey(day), project.ref))).toBe(5);
    const top = await client.zscore(usageTopRedisKey(usageHour(Date.now())), project.ref);
    expect(Number(top)).toBe(5);
  });

  it('leaves nothing behind for made-up projects, malformed keys or other projects', async () => {
    const gateway = gateways[0]!;
    // A key for a project that does not exist (valid checksum for the made-up ref) and garbage keys.
    const ghost = 'ghostghostghostghost';
    expect(
      (await call(gateway.url, ghost, '/rest/v1/todos', { headers: { apikey: 'sb_publishable_nope' } }))
        .status,
    ).toBe(401);
    expect(
      (await call(gateway.url, ghost, '/rest/v1/todos', { headers: { apikey: project.publishableKey } }))
        .status,
    ).toBe(401);
    expect(
      (await call(gateway.url, project.ref, '/rest/v1/todos', { headers: { apikey: 'garbage' } })).status,
    ).toBe(401);
    // Another project's traffic goes to its own hash only.
    expect(
      (await call(gateway.url, other.ref, '/rest/v1/todos', { headers: { apikey: other.publishableKey } }))
        .status,
    ).toBe(200);
    await eventually(async () => (await hash(other.ref)).requests === 1);
    expect(await client.keys('supaplane:usage:ghost*')).toEqual([]);
    expect((await hash(project.ref)).requests).toBe(5);
  });

  it('counts the requests a project rate limit refused', async () => {
    const limited = registry.addProject('throttledthrottledth', {
      upstreams: upstreamsFor('throttledthrottledth', echo.port),
      rateLimit: { requestsPerSecond: 0.01, burst: 1 },
    });
    const gateway = gateways[0]!;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (
          await call(gateway.url, limited.ref, '/rest/v1/todos', {
            headers: { apikey: limited.publishableKey },
          })
        ).status,
      );
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    const refusedCount = statuses.filter((s) => s === 429).length;
    await eventually(async () => (await hash(limited.ref)).requests === 3);
    expect(await hash(limited.ref)).toMatchObject({
      requests: 3,
      rate_limited: refusedCount,
      '4xx': refusedCount,
    });
  });

  it('keeps the counts of a project whose ref is "top" apart from the ranking, each counted once', async () => {
    const top = registry.addProject('top', { upstreams: upstreamsFor('top', echo.port) });
    const gateway = gateways[1]!;
    const before = (await hash(other.ref)).requests ?? 0;
    for (const [ref, key] of [
      [top.ref, top.publishableKey],
      [other.ref, other.publishableKey],
    ] as const) {
      expect((await call(gateway.url, ref, '/rest/v1/todos', { headers: { apikey: key } })).status).toBe(200);
    }
    await eventually(async () => (await hash('top')).requests === 1);
    // Several more flushes: nothing is sent again.
    await new Promise((r) => setTimeout(r, 300));
    expect(await hash('top')).toMatchObject({ requests: 1, rest: 1, '2xx': 1 });
    expect((await hash(other.ref)).requests).toBe(before + 1);
    const hour = usageHour(Date.now());
    expect(Number(await client.zscore(usageTopRedisKey(hour), 'top'))).toBe(1);
    expect(Number(await client.zscore(usageTopRedisKey(hour), project.ref))).toBe(5);
  });

  it('never sends a window again once its MULTI ran, even when Redis refused one of its commands', async () => {
    const spoiled = registry.addProject('spoiledspoiledspoile', {
      upstreams: upstreamsFor('spoiledspoiledspoile', echo.port),
    });
    // Not a hash: the day's HINCRBYs fail inside the MULTI, the hour's succeed (Redis does not roll back).
    const day = usageHour(Date.now()).slice(0, 8);
    await client.set(usageRedisKey(spoiled.ref, day), 'not a hash');
    const res = await call(gateways[0]!.url, spoiled.ref, '/rest/v1/todos', {
      headers: { apikey: spoiled.publishableKey },
    });
    expect(res.status).toBe(200);
    await eventually(async () => (await hash(spoiled.ref)).requests === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect((await hash(spoiled.ref)).requests).toBe(1);
    expect(Number(await client.zscore(usageTopRedisKey(usageHour(Date.now())), spoiled.ref))).toBe(1);
  });

  it('counts a request the client gave up on before any answer in no status class', async () => {
    const hasty = registry.addProject('hastyhastyhastyhasty', {
      upstreams: upstreamsFor('hastyhastyhastyhasty', echo.port),
    });
    const gateway = gateways[0]!;
    const url = new URL(gateway.url);
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        path: '/rest/v1/__slow',
        headers: { host: `${hasty.ref}.${BASE_DOMAIN}:${url.port}`, apikey: hasty.publishableKey },
      });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => req.destroy(), 200);
    });
    await eventually(async () => (await hash(hasty.ref)).requests === 1);
    expect(await hash(hasty.ref)).toEqual({ requests: 1, rest: 1 });
  });

  it('meters the bytes through a WebSocket tunnel both ways, as it does relayed bodies', async () => {
    const live = registry.addProject('tunneltunneltunnelt', {
      upstreams: upstreamsFor('tunneltunneltunnelt', echo.port),
    });
    const port = Number(new URL(gateways[0]!.url).port);
    const client = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const got = (predicate: (text: string) => boolean) =>
      vi.waitFor(() => expect(predicate(received.toString('latin1'))).toBe(true));
    client.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    client.write(
      `GET /realtime/v1/websocket?apikey=${live.publishableKey}&vsn=1.0.0 HTTP/1.1\r\n` +
        `Host: ${live.ref}.${BASE_DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await got((text) => text.startsWith('HTTP/1.1 101 ') && text.includes('\r\n\r\n'));
    const headBytes = received.length;
    // The echo upstream sends each byte back: 3000 up, 3000 down.
    client.write('a'.repeat(1000));
    client.write('b'.repeat(2000));
    await got(() => received.length === headBytes + 3000);
    // Filed while the tunnel is open (one that lasts for hours fills each hour with its own bytes).
    await eventually(async () => {
      const open = await hash(live.ref);
      return open.ingress_bytes === 3000 && open.egress_bytes === 3000;
    });
    expect((await hash(live.ref)).requests).toBeUndefined();
    client.destroy();
    await eventually(async () => (await hash(live.ref)).requests === 1);
    expect(await hash(live.ref)).toEqual({
      requests: 1,
      realtime: 1,
      ingress_bytes: 3000,
      egress_bytes: 3000,
    });
  });

  it("counts nothing for a key that is not one of the project's own, though its checksum passes", async () => {
    const target = registry.addProject('targettargettargetta', {
      upstreams: upstreamsFor('targettargettargetta', echo.port),
    });
    const gateway = gateways[0]!;
    // Anyone can make such a key: the checksum recipe is public and takes only the ref.
    for (const type of ['publishable', 'secret'] as const) {
      const forged = generateApiKey(target.ref, type);
      const res = await call(gateway.url, target.ref, '/rest/v1/todos', { headers: { apikey: forged } });
      expect(res.status).toBe(401);
    }
    // One request with the project's own key: once that is stored, the forged ones would have been too.
    await call(gateway.url, target.ref, '/rest/v1/todos', { headers: { apikey: target.publishableKey } });
    await eventually(async () => ((await hash(target.ref)).requests ?? 0) >= 1);
    await new Promise((r) => setTimeout(r, 150));
    expect(await hash(target.ref)).toMatchObject({ requests: 1, rest: 1, '2xx': 1 });
  });
});
