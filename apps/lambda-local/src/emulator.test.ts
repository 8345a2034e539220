import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LambdaEmulator, MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_RESPONSE_BYTES } from './emulator.js';
import type { Handler } from './function-registry.js';
import type { FunctionUrlEvent } from './function-url-event.js';
import {
  CONTROL_TOKEN,
  callFunction,
  control,
  echoRuntime,
  send,
  startTestEmulator,
} from './test-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RESULT_JSON_OVERHEAD = JSON.stringify({ statusCode: 200, body: '', isBase64Encoded: false }).length;

describe('instances: cold start, warm reuse, idle stop', () => {
  const echo = echoRuntime();
  let release: () => void = () => {};
  const slowStarts = { count: 0 };
  // Requests wait for the test to open the gate; the answer says whether the instance was closed under them.
  const gated = { entered: 0, closes: 0, open: () => {} };
  let emulator: LambdaEmulator;

  beforeAll(async () => {
    emulator = await startTestEmulator({
      idleMs: 600,
      runtimes: {
        echo: echo.factory,
        // Cold start held until the test releases it, to pile up concurrent first requests.
        slow: async (environment) => {
          slowStarts.count++;
          await new Promise<void>((r) => {
            release = r;
          });
          return echo.factory(environment);
        },
        faulty: () => {
          const handler = (async (event: FunctionUrlEvent) => {
            switch (event.rawPath) {
              case '/throw':
                throw new Error('boom with secret details');
              case '/object':
                return { hello: 'world' };
              case '/string':
                return 'Hello (world)!';
              case '/nothing':
                return undefined;
              case '/largest':
              case '/too-large': {
                // The largest body whose response JSON fits; /too-large passes the limit by one byte.
                const size =
                  MAX_RESPONSE_BYTES - RESULT_JSON_OVERHEAD + (event.rawPath === '/too-large' ? 1 : 0);
                return { statusCode: 200, body: 'a'.repeat(size), isBase64Encoded: false };
              }
              case '/bad-header':
                return { statusCode: 200, headers: { 'x-evil': 'a\r\nset-cookie: x=1' }, body: 'x' };
              case '/wrong-length':
                return { statusCode: 200, headers: { 'content-length': '999' }, body: 'short' };
              case '/bad-status':
                return { statusCode: 'two hundred', body: 'x' };
              case '/cookies':
                return {
                  statusCode: 201,
                  headers: { 'content-type': 'text/plain', 'x-custom': 'yes' },
                  cookies: ['a=1; Path=/', 'b=2; HttpOnly'],
                  body: 'made',
                };
              default:
                return {
                  statusCode: 200,
                  headers: { 'content-type': 'application/octet-stream' },
                  body: Buffer.from([0, 1, 2, 255]).toString('base64'),
                  isBase64Encoded: true,
                };
            }
          }) as Handler;
          return handler;
        },
        broken: () => {
          throw new Error('cannot start');
        },
        gated: () => {
          let closed = false;
          const handler = (async () => {
            gated.entered++;
            await new Promise<void>((r) => {
              gated.open = r;
            });
            return { statusCode: 200, body: closed ? 'closed under me' : 'finished' };
          }) as Handler;
          handler.close = async () => {
            closed = true;
            gated.closes++;
          };
          return handler;
        },
      },
    });
    for (const [name, runtime] of [
      ['fn-echo', 'echo'],
      ['fn-slow', 'slow'],
      ['fn-faulty', 'faulty'],
      ['fn-broken', 'broken'],
      ['fn-gated', 'gated'],
    ]) {
      const res = await control(emulator.port, 'PUT', `/functions/${name}`, {
        runtime,
        environment: { NAME: name },
      });
      expect(res.json()).toEqual({
        name,
        url: `http://${name}.lambda-url.local.localhost:${emulator.port}/`,
      });
    }
  });
  afterAll(() => emulator.close());

  const state = async (name: string) => {
    const { functions } = (await control(emulator.port, 'GET', '/functions')).json();
    return functions.find((f: { name: string }) => f.name === name)?.state;
  };

  it('starts cold, cold-starts once with its environment, stays warm, stops after idle and calls close()', async () => {
    expect(await state('fn-echo')).toBe('cold');
    const first = await callFunction(emulator.port, 'fn-echo');
    expect(first.json().environment).toEqual({ NAME: 'fn-echo' });
    expect(await state('fn-echo')).toBe('warm');
    await callFunction(emulator.port, 'fn-echo');
    expect(echo.stats).toEqual({ starts: 1, closes: 0 });

    await sleep(1300);
    expect(echo.stats).toEqual({ starts: 1, closes: 1 });
    expect(await state('fn-echo')).toBe('cold');
    await callFunction(emulator.port, 'fn-echo');
    expect(echo.stats.starts).toBe(2);
  });

  it('requests keep an instance warm past idleMs', async () => {
    await callFunction(emulator.port, 'fn-echo');
    const starts = echo.stats.starts;
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      await callFunction(emulator.port, 'fn-echo');
    }
    expect(echo.stats.starts).toBe(starts);
  });

  it('concurrent first requests share one cold start', async () => {
    const calls = Array.from({ length: 8 }, () => callFunction(emulator.port, 'fn-slow'));
    await sleep(100);
    release();
    const replies = await Promise.all(calls);
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(slowStarts.count).toBe(1);
  });

  it('a changed registration restarts the instance with the new environment', async () => {
    await callFunction(emulator.port, 'fn-echo');
    const closes = echo.stats.closes;
    await control(emulator.port, 'PUT', '/functions/fn-echo', {
      runtime: 'echo',
      environment: { NAME: 'v2' },
    });
    expect(echo.stats.closes).toBe(closes + 1);
    expect((await callFunction(emulator.port, 'fn-echo')).json().environment).toEqual({ NAME: 'v2' });
  });

  it('a registration changed or deleted while a request runs lets it finish on its instance, closed after', async () => {
    const entered = async (count: number) => {
      while (gated.entered < count) await sleep(10);
    };
    const first = callFunction(emulator.port, 'fn-gated');
    await entered(1);
    const put = await control(emulator.port, 'PUT', '/functions/fn-gated', {
      runtime: 'gated',
      environment: { NAME: 'v2' },
    });
    expect([put.status, gated.closes]).toEqual([200, 0]);
    gated.open();
    expect((await first).text).toBe('finished');
    await sleep(20);
    expect(gated.closes).toBe(1);

    const second = callFunction(emulator.port, 'fn-gated');
    await entered(2);
    expect((await control(emulator.port, 'DELETE', '/functions/fn-gated')).status).toBe(204);
    expect(gated.closes).toBe(1);
    gated.open();
    expect((await second).text).toBe('finished');
    await sleep(20);
    expect(gated.closes).toBe(2);
  });

  it('function error → 502 without internals; failed cold start → 502 and retried next time', async () => {
    const thrown = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/throw' });
    expect(thrown.status).toBe(502);
    expect(thrown.json()).toEqual({ Message: 'Internal Server Error' });
    expect(thrown.text).not.toContain('secret');
    const invalid = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/bad-status' });
    expect(invalid.status).toBe(502);
    const injected = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/bad-header' });
    expect([injected.status, injected.headers['set-cookie']]).toEqual([502, undefined]);
    const framed = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/wrong-length' });
    expect([framed.status, framed.text]).toEqual([200, 'short']);
    const largest = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/largest' });
    expect([largest.status, largest.bytes.length]).toEqual([200, MAX_RESPONSE_BYTES - RESULT_JSON_OVERHEAD]);
    const tooLarge = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/too-large' });
    expect([tooLarge.status, tooLarge.json()]).toEqual([502, { Message: 'Internal Server Error' }]);
    const broken = await callFunction(emulator.port, 'fn-broken');
    expect(broken.status).toBe(502);
    expect(await state('fn-broken')).toBe('cold');
  });

  it('maps results like Lambda: inferred 200 JSON, cookies → set-cookie, base64 bodies decoded', async () => {
    const object = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/object' });
    expect([object.status, object.headers['content-type'], object.json()]).toEqual([
      200,
      'application/json',
      { hello: 'world' },
    ]);
    const text = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/string' });
    // The string is the JSON payload Lambda got back, so the client reads it quoted (AWS's own example).
    expect([text.status, text.headers['content-type'], text.text]).toEqual([
      200,
      'application/json',
      '"Hello (world)!"',
    ]);
    const nothing = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/nothing' });
    expect([nothing.status, nothing.text]).toEqual([200, 'null']);
    const cookies = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/cookies' });
    expect(cookies.status).toBe(201);
    expect(cookies.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(cookies.headers['x-custom']).toBe('yes');
    expect(cookies.text).toBe('made');
    const binary = await callFunction(emulator.port, 'fn-faulty', { rawPath: '/binary' });
    expect(binary.headers['content-type']).toBe('application/octet-stream');
    expect(binary.bytes).toEqual(Buffer.from([0, 1, 2, 255]));
  });
});

describe('function timeout', () => {
  const stats = { starts: 0, closes: 0 };
  let emulator: LambdaEmulator;
  beforeAll(async () => {
    emulator = await startTestEmulator({
      timeoutMs: 300,
      runtimes: {
        hang: () => {
          stats.starts++;
          const handler = (async (event: FunctionUrlEvent) =>
            event.rawPath === '/hang' ? new Promise(() => {}) : { statusCode: 200, body: 'ok' }) as Handler;
          handler.close = async () => {
            stats.closes++;
          };
          return handler;
        },
      },
    });
    await control(emulator.port, 'PUT', '/functions/fn-hang', { runtime: 'hang' });
  });
  afterAll(() => emulator.close());

  it('an invocation past the timeout is a 502 and its instance is replaced', async () => {
    expect((await callFunction(emulator.port, 'fn-hang')).status).toBe(200);
    const started = Date.now();
    const hung = await callFunction(emulator.port, 'fn-hang', { rawPath: '/hang' });
    expect([hung.status, hung.json()]).toEqual([502, { Message: 'Internal Server Error' }]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stats).toEqual({ starts: 1, closes: 1 });
    expect((await callFunction(emulator.port, 'fn-hang')).text).toBe('ok');
    expect(stats.starts).toBe(2);
  });
});

describe('payload format 2.0 event', () => {
  let emulator: LambdaEmulator;
  beforeAll(async () => {
    emulator = await startTestEmulator({
      runtimes: {
        echo: echoRuntime().factory,
        // Answers with the size of the body it got (an echo of 6 MB could not be returned).
        size: () =>
          (async (event: FunctionUrlEvent) => ({
            statusCode: 200,
            body: String(Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8').length),
          })) as Handler,
      },
    });
    await control(emulator.port, 'PUT', '/functions/rest-abc', { runtime: 'echo' });
    await control(emulator.port, 'PUT', '/functions/rest-size', { runtime: 'size' });
  });
  afterAll(() => emulator.close());

  it('carries path, query, cookies, joined headers, request context and text body', async () => {
    const res = await callFunction(emulator.port, 'rest-abc', {
      method: 'PATCH',
      rawPath: '/rest/v1/todos',
      rawQuery: 'id=eq.1&id=eq.2&name=a+b',
      headers: { cookie: 'sb=1; theme=dark', 'content-type': 'application/json', 'user-agent': 'test-agent' },
      body: '{"done":true}',
    });
    const { event } = res.json();
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/rest/v1/todos',
      rawQueryString: 'id=eq.1&id=eq.2&name=a+b',
      cookies: ['sb=1', 'theme=dark'],
      queryStringParameters: { id: 'eq.1,eq.2', name: 'a b' },
      body: '{"done":true}',
      isBase64Encoded: false,
      requestContext: {
        apiId: 'rest-abc',
        domainName: 'rest-abc.lambda-url.local.localhost',
        domainPrefix: 'rest-abc',
        http: {
          method: 'PATCH',
          path: '/rest/v1/todos',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'test-agent',
        },
        routeKey: '$default',
        stage: '$default',
      },
    });
    expect(event.headers.cookie).toBeUndefined();
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5000);
  });

  it('a text body keeps a leading byte-order mark, as Lambda passes the bytes on', async () => {
    const res = await callFunction(emulator.port, 'rest-abc', {
      method: 'POST',
      body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]),
      headers: { 'content-type': 'application/json' },
    });
    const { event } = res.json();
    expect(event.isBase64Encoded).toBe(false);
    expect(event.body).toBe('\uFEFF{"a":1}');
  });

  it('binary bodies arrive base64-encoded', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x10, 0x80]);
    const res = await callFunction(emulator.port, 'rest-abc', {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const { event } = res.json();
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body, 'base64')).toEqual(bytes);
  });

  it('the event must fit in 6 MB: a text body just under passes, a binary body base64-inflated past it is a 413', async () => {
    const post = (body: Buffer, contentType: string) =>
      callFunction(emulator.port, 'rest-size', {
        method: 'POST',
        body,
        headers: { 'content-type': contentType },
      });
    const fits = MAX_BODY_BYTES - 16 * 1024;
    const ok = await post(Buffer.alloc(fits, 'a'), 'text/plain');
    expect([ok.status, ok.text]).toEqual([200, String(fits)]);
    // 4.8 MB of bytes is 6.4 MB of base64 in the event: AWS refuses it although the body is under 6 MB.
    const binary = await post(Buffer.alloc(4_800_000, 0xff), 'application/octet-stream');
    expect([binary.status, binary.headers['x-amzn-errortype']]).toEqual([
      413,
      'RequestEntityTooLargeException',
    ]);
    // A text body of exactly 6 MiB leaves no room for the rest of the event.
    const full = await post(Buffer.alloc(MAX_BODY_BYTES, 'a'), 'text/plain');
    expect(full.status).toBe(413);
    const tooBig = await post(Buffer.alloc(MAX_BODY_BYTES + 1, 'a'), 'text/plain');
    expect(tooBig.status).toBe(413);
    expect(tooBig.json()).toEqual({
      Message: `Request must be smaller than ${MAX_BODY_BYTES} bytes for the InvokeFunction operation`,
    });
  });

  it('takes a request line and headers up to 1 MB, as Lambda does; past it a 413 in AWS shape', async () => {
    // 40 KB of query and 20 KB of one header: node alone would refuse either with a bare 431.
    const rawQuery = `id=in.(${'12345,'.repeat(8_000)}0)`;
    const big = await callFunction(emulator.port, 'rest-abc', {
      rawPath: '/rest/v1/todos',
      rawQuery,
      headers: { 'x-big': 'v'.repeat(20_000) },
    });
    expect(big.status).toBe(200);
    expect(big.json().event.rawQueryString).toBe(rawQuery);
    // Answered on the raw socket (node gives no response object for a head it cannot parse): the
    // exact bytes, so status line, every header and the body are those of the other AWS errors.
    const socket = connect(emulator.port, '127.0.0.1');
    socket.write(
      `GET /?q=${'a'.repeat(MAX_HEAD_BYTES)} HTTP/1.1\r\nhost: rest-abc.lambda-url.local.localhost:${emulator.port}\r\n\r\n`,
    );
    socket.on('error', () => {}); // the server closes while the rest of the head is still unsent
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    const body = `{"Message":"Request must be smaller than ${MAX_BODY_BYTES} bytes for the InvokeFunction operation"}`;
    expect(Buffer.concat(chunks).toString('latin1')).toBe(
      'HTTP/1.1 413 Request Entity Too Large\r\n' +
        'content-type: application/json\r\n' +
        `content-length: ${body.length}\r\n` +
        'x-amzn-errortype: RequestEntityTooLargeException\r\n' +
        'connection: close\r\n' +
        `\r\n${body}`,
    );
  });

  it('unknown function → 404 in AWS shape', async () => {
    const res = await callFunction(emulator.port, 'rest-nope');
    expect(res.status).toBe(404);
    expect(res.headers['x-amzn-errortype']).toBe('ResourceNotFoundException');
  });
});

describe('control API', () => {
  let dataDir: string;
  let emulator: LambdaEmulator;
  const start = () => startTestEmulator({ dataDir });
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lambda-local-'));
    emulator = await start();
  });
  afterAll(async () => {
    await emulator.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('requires the bearer token', async () => {
    expect((await control(emulator.port, 'GET', '/functions', undefined, 'wrong')).status).toBe(401);
    const none = await send(emulator.port, { method: 'GET', path: '/functions' });
    expect([none.status, none.json()]).toEqual([401, { message: 'unauthorized' }]);
    const put = await control(emulator.port, 'PUT', '/functions/x', { runtime: 'echo' }, `${CONTROL_TOKEN}x`);
    expect(put.status).toBe(401);
    expect((await control(emulator.port, 'GET', '/functions')).json()).toEqual({ functions: [] });
  });

  it('validates names, runtimes and bodies with clear 400s', async () => {
    const bad = [
      await control(emulator.port, 'PUT', '/functions/Bad_Name', { runtime: 'echo' }),
      await control(emulator.port, 'PUT', '/functions/ok', { runtime: 'python3.12' }),
      await control(emulator.port, 'PUT', '/functions/ok', { runtime: 'echo', environment: { A: 1 } }),
      await send(emulator.port, {
        method: 'PUT',
        path: '/functions/ok',
        headers: { authorization: `Bearer ${CONTROL_TOKEN}` },
        body: '{not json',
      }),
    ];
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400]);
    for (const r of bad) expect(typeof r.json().message).toBe('string');
  });

  it('PUT is idempotent, DELETE removes (204, idempotent), registrations survive a restart in a 0600 file', async () => {
    const body = { runtime: 'echo', environment: { SUPAPLANE_PROJECT_REF: 'abc' } };
    expect((await control(emulator.port, 'PUT', '/functions/rest-abc', body)).status).toBe(200);
    expect((await control(emulator.port, 'PUT', '/functions/rest-abc', body)).status).toBe(200);
    expect((await control(emulator.port, 'PUT', '/functions/rest-gone', body)).status).toBe(200);
    expect((await control(emulator.port, 'DELETE', '/functions/rest-gone')).status).toBe(204);
    expect((await control(emulator.port, 'DELETE', '/functions/rest-gone')).status).toBe(204);
    expect((await callFunction(emulator.port, 'rest-gone')).status).toBe(404);
    expect(((await stat(join(dataDir, 'functions.json'))).mode & 0o777).toString(8)).toBe('600');

    await emulator.close();
    emulator = await start();
    const { functions } = (await control(emulator.port, 'GET', '/functions')).json();
    expect(functions).toEqual([
      {
        name: 'rest-abc',
        url: `http://rest-abc.lambda-url.local.localhost:${emulator.port}/`,
        runtime: 'echo',
        state: 'cold',
      },
    ]);
    const res = await callFunction(emulator.port, 'rest-abc');
    expect(res.json().environment).toEqual({ SUPAPLANE_PROJECT_REF: 'abc' });
  });
});

describe('stopped functions (a paused project): registered, refused as Lambda refuses a reserved concurrency of 0', () => {
  const echo = echoRuntime();
  let dataDir: string;
  let emulator: LambdaEmulator;
  const start = () => startTestEmulator({ dataDir, runtimes: { echo: echo.factory } });
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lambda-local-'));
    emulator = await start();
  });
  afterAll(async () => {
    await emulator.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const state = async (name: string) => {
    const { functions } = (await control(emulator.port, 'GET', '/functions')).json();
    return functions.find((f: { name: string }) => f.name === name)?.state;
  };
  const expectThrottled = (res: Awaited<ReturnType<typeof callFunction>>) => {
    expect(res.status, res.text).toBe(429);
    expect(res.headers['x-amzn-errortype']).toBe('TooManyRequestsException');
    expect(res.json()).toEqual({
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      Type: 'User',
      message: 'Rate Exceeded.',
    });
  };

  it('a stopped PUT never starts the function, not for requests sent while it runs, and across a restart; a plain PUT serves again', async () => {
    const v1 = { runtime: 'echo', environment: { NAME: 'v1' } };
    const put = await control(emulator.port, 'PUT', '/functions/fn-nap', { ...v1, stopped: true });
    expect(put.json()).toEqual({
      name: 'fn-nap',
      url: `http://fn-nap.lambda-url.local.localhost:${emulator.port}/`,
    });
    expect(await state('fn-nap')).toBe('stopped');
    // The start-up reconcile of a paused project: a new environment, still stopped, requests arriving
    // before, during and after it.
    const before = Array.from({ length: 5 }, () => callFunction(emulator.port, 'fn-nap'));
    const again = control(emulator.port, 'PUT', '/functions/fn-nap', {
      runtime: 'echo',
      environment: { NAME: 'v2' },
      stopped: true,
    });
    const during = Array.from({ length: 5 }, () => callFunction(emulator.port, 'fn-nap'));
    expect((await again).status).toBe(200);
    const after = await callFunction(emulator.port, 'fn-nap');
    for (const res of [...(await Promise.all([...before, ...during])), after]) expectThrottled(res);
    // An unsigned request is refused for its signature first, as Lambda checks IAM before throttling.
    expect((await callFunction(emulator.port, 'fn-nap', { unsigned: true })).status).toBe(403);
    expect(echo.stats.starts).toBe(0);

    await emulator.close();
    emulator = await start();
    expect(await state('fn-nap')).toBe('stopped');
    expectThrottled(await callFunction(emulator.port, 'fn-nap'));
    expect(echo.stats.starts).toBe(0);

    // The restore: the same PUT without `stopped` makes it runnable, with the environment it was given.
    const restored = await control(emulator.port, 'PUT', '/functions/fn-nap', {
      runtime: 'echo',
      environment: { NAME: 'v2' },
    });
    expect(restored.status).toBe(200);
    const served = await callFunction(emulator.port, 'fn-nap');
    expect([served.status, served.json().environment]).toEqual([200, { NAME: 'v2' }]);
    expect(await state('fn-nap')).toBe('warm');
  });

  it('stopping a serving function (a stopped PUT, or POST …/stop) ends its instance at once; stop is idempotent and 404 for an unknown function', async () => {
    const body = { runtime: 'echo', environment: { NAME: 'up' } };
    await control(emulator.port, 'PUT', '/functions/fn-up', body);
    expect((await callFunction(emulator.port, 'fn-up')).status).toBe(200);
    const closes = echo.stats.closes;
    expect((await control(emulator.port, 'PUT', '/functions/fn-up', { ...body, stopped: true })).status).toBe(
      200,
    );
    expect(echo.stats.closes).toBe(closes + 1);
    expectThrottled(await callFunction(emulator.port, 'fn-up'));

    await control(emulator.port, 'PUT', '/functions/fn-up', body);
    expect((await callFunction(emulator.port, 'fn-up')).status).toBe(200);
    const stop = await control(emulator.port, 'POST', '/functions/fn-up/stop');
    expect([stop.status, stop.text]).toEqual([204, '']);
    expect(echo.stats.closes).toBe(closes + 2);
    expect(await state('fn-up')).toBe('stopped');
    expectThrottled(await callFunction(emulator.port, 'fn-up'));
    expect((await control(emulator.port, 'POST', '/functions/fn-up/stop')).status).toBe(204);

    const unknown = await control(emulator.port, 'POST', '/functions/fn-none/stop');
    expect([unknown.status, unknown.json()]).toEqual([404, { message: 'function not found: fn-none' }]);
    expect((await control(emulator.port, 'POST', '/functions/fn-up/start')).status).toBe(404);
    expect((await control(emulator.port, 'POST', '/functions/fn-up')).status).toBe(405);
    const bad = await control(emulator.port, 'PUT', '/functions/fn-up', { ...body, stopped: 'yes' });
    expect([bad.status, bad.json()]).toEqual([400, { message: 'stopped must be a boolean' }]);
  });
});
