import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaEmulator } from './emulator.js';
import { SIGNATURE_MISMATCH } from './sigv4-verify.js';
import { CREDENTIALS, callFunction, control, startTestEmulator } from './test-support.js';

let emulator: LambdaEmulator;

beforeAll(async () => {
  emulator = await startTestEmulator();
  for (const name of ['rest-echo', 'rest-other']) {
    expect((await control(emulator.port, 'PUT', `/functions/${name}`, { runtime: 'echo' })).status).toBe(200);
  }
});
afterAll(() => emulator.close());

const call = (c: Parameters<typeof callFunction>[2]) => callFunction(emulator.port, 'rest-echo', c);

describe('SigV4 verification: requests signed by @smithy/signature-v4 pass with exact bytes', () => {
  const cases: Array<[string, string, string]> = [
    ['plain path, no query', '/rest/v1/todos', ''],
    ['select with * ( ) , :', '/rest/v1/posts', 'select=*,author:authors(name,email)&id=eq.1'],
    ['space as +', '/rest/v1/people', 'name=eq.John+Doe'],
    ['space as %20', '/rest/v1/people', 'name=eq.John%20Doe'],
    ["quote ' and like *", '/rest/v1/people', "name=like.*O'Brien*"],
    ['or=(…) with ! and not', '/rest/v1/people', 'or=(age.gt.18,name.not.is.null)&name=not.eq.!x'],
    ['unicode path and value', '/rest/v1/caf%C3%A9', 'name=eq.%C3%A9t%C3%A9&emoji=%F0%9F%98%80'],
    ['repeated keys', '/rest/v1/items', 'id=gt.1&id=lt.10&id=neq.5'],
    ['already percent-encoded input', '/rest/v1/my%20table', 'select=%2A&x=a%2Cb&y=%25'],
    ['key without value and empty value', '/rest/v1/items', 'count&x='],
    ['literal + as %2B', '/rest/v1/items', 'phone=eq.%2B4912345'],
  ];
  it.each(cases)('%s', async (_label, rawPath, rawQuery) => {
    const res = await call({ rawPath, rawQuery, headers: { 'x-client-authorization': 'Bearer abc' } });
    expect(res.status, res.text).toBe(200);
    const { event } = res.json();
    expect(event.rawPath).toBe(rawPath);
    expect(event.rawQueryString).toBe(rawQuery);
    expect(event.requestContext.http.path).toBe(rawPath);
    expect(event.headers['x-client-authorization']).toBe('Bearer abc');
  });

  it('signed POST with a JSON body, with and without x-amz-content-sha256', async () => {
    const body = JSON.stringify({ title: 'héllo', n: 1 });
    const res = await call({
      method: 'POST',
      rawPath: '/rest/v1/todos',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json().event.body).toBe(body);
    const noHash = await call({
      method: 'POST',
      rawPath: '/rest/v1/todos',
      body,
      applyChecksum: false,
      headers: { 'content-type': 'application/json' },
    });
    expect(noHash.json().event.headers['x-amz-content-sha256']).toBeUndefined();
    expect(noHash.status).toBe(200);
  });
});

describe('SigV4 verification: anything altered or unsigned is a 403 in AWS shape', () => {
  const base = { rawPath: '/rest/v1/posts', rawQuery: 'select=*&id=eq.1', method: 'POST', body: '{"a":1}' };

  const mismatch = async (res: Awaited<ReturnType<typeof call>>) => {
    expect(res.status).toBe(403);
    expect(res.headers['x-amzn-errortype']).toBe('InvalidSignatureException');
    return res.json().message as string;
  };

  it('tampered path', async () => {
    const res = await call({
      ...base,
      tamper: (r) => {
        r.path = '/rest/v1/secrets';
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('tampered query', async () => {
    const res = await call({
      ...base,
      tamper: (r) => {
        r.query = 'select=*&id=eq.2';
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('+ and %2B are different values', async () => {
    const res = await call({
      ...base,
      rawQuery: 'q=a+b',
      tamper: (r) => {
        r.query = 'q=a%2Bb';
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('tampered body (with its x-amz-content-sha256 left as signed)', async () => {
    const res = await call({
      ...base,
      tamper: (r) => {
        r.body = '{"a":2}';
      },
    });
    expect(await mismatch(res)).toMatch(/x-amz-content-sha256/);
  });
  it('tampered body with a recomputed x-amz-content-sha256', async () => {
    const { createHash } = await import('node:crypto');
    const res = await call({
      ...base,
      tamper: (r) => {
        r.body = '{"a":2}';
        r.headers['x-amz-content-sha256'] = createHash('sha256').update('{"a":2}').digest('hex');
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('tampered signed header', async () => {
    const res = await call({
      ...base,
      headers: { 'x-client-authorization': 'Bearer user' },
      tamper: (r) => {
        r.headers['x-client-authorization'] = 'Bearer admin';
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('tampered x-amz-date', async () => {
    const res = await call({
      ...base,
      tamper: (r) => {
        const d = r.headers['x-amz-date']!;
        r.headers['x-amz-date'] =
          d.slice(0, -3) + String((Number(d.slice(-3, -1)) + 1) % 60).padStart(2, '0') + 'Z';
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('replayed against another function (Host changed)', async () => {
    const res = await call({
      ...base,
      tamper: (r) => {
        r.headers['host'] = r.headers['host']!.replace('rest-echo', 'rest-other');
      },
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('two Host headers (routing would take the first, the signature covers both, joined) → 400', async () => {
    const hosts = ['rest-echo', 'rest-other'].map((n) => `${n}.lambda-url.local.localhost:${emulator.port}`);
    let signed: Record<string, string> = {};
    await call({
      headers: { host: hosts.join(',') },
      tamper: (r) => {
        signed = r.headers;
        throw new Error('captured');
      },
    }).catch(() => {});
    const { host: _, ...rest } = signed;
    const head = [...hosts.map((h) => `Host: ${h}`), ...Object.entries(rest).map(([k, v]) => `${k}: ${v}`)];
    const { connect } = await import('node:net');
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(emulator.port, '127.0.0.1', () => {
        socket.end(`GET / HTTP/1.1\r\n${head.join('\r\n')}\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('close', () => resolve(text));
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  });
  it('expired signature (10 minutes old)', async () => {
    const res = await call({ ...base, signingDate: new Date(Date.now() - 10 * 60 * 1000) });
    expect(await mismatch(res)).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);
  });
  it('signature from the future (10 minutes ahead)', async () => {
    const res = await call({ ...base, signingDate: new Date(Date.now() + 10 * 60 * 1000) });
    expect(await mismatch(res)).toMatch(/^Signature not yet current/);
  });
  it('within the 5 minute skew is accepted', async () => {
    const res = await call({ ...base, signingDate: new Date(Date.now() - 4 * 60 * 1000) });
    expect(res.status).toBe(200);
  });
  it('wrong region', async () => {
    const res = await call({ ...base, region: 'us-east-1' });
    expect(await mismatch(res)).toBe('Credential should be scoped to a valid region.');
  });
  it('wrong secret', async () => {
    const res = await call({ ...base, credentials: { ...CREDENTIALS, secretAccessKey: 'not-the-secret' } });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
  it('unknown access key', async () => {
    const res = await call({ ...base, credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: 'x' } });
    expect(res.status).toBe(403);
    expect(res.headers['x-amzn-errortype']).toBe('UnrecognizedClientException');
  });
  it('missing signature', async () => {
    const res = await call({ ...base, unsigned: true });
    expect(res.status).toBe(403);
    expect(res.json()).toEqual({ Message: 'Forbidden' });
  });
  it('garbage Authorization header', async () => {
    const res = await call({ ...base, unsigned: true, headers: { authorization: 'Bearer sb_secret_x' } });
    expect(res.status).toBe(403);
    expect(res.headers['x-amzn-errortype']).toBe('InvalidSignatureException');
  });
  it('signed header removed', async () => {
    const res = await call({
      ...base,
      headers: { 'x-client-authorization': 'Bearer user' },
      tamper: (r) => delete r.headers['x-client-authorization'],
    });
    expect(await mismatch(res)).toBe(SIGNATURE_MISMATCH);
  });
});

describe('SigV4 in the query string (presigned URL), which Function URLs accept too', () => {
  const base = { rawPath: '/rest/v1/posts', rawQuery: 'select=*,author(name)&id=eq.1', presignExpiresIn: 60 };

  it('a presigned GET passes and the function sees the whole query', async () => {
    const res = await call(base);
    expect(res.status, res.text).toBe(200);
    const { event } = res.json();
    expect(event.queryStringParameters).toMatchObject({
      select: '*,author(name)',
      id: 'eq.1',
      'X-Amz-Expires': '60',
    });
  });
  it('tampered query → 403', async () => {
    const res = await call({
      ...base,
      tamper: (r) => {
        r.query = r.query.replace('id=eq.1', 'id=eq.2');
      },
    });
    expect([res.status, res.json().message]).toEqual([403, SIGNATURE_MISMATCH]);
  });
  it('expired → 403', async () => {
    const res = await call({ ...base, signingDate: new Date(Date.now() - 120_000) });
    expect([res.status, res.json().message]).toEqual([403, 'Request has expired']);
  });
  it('wrong secret → 403', async () => {
    const res = await call({ ...base, credentials: { ...CREDENTIALS, secretAccessKey: 'nope' } });
    expect([res.status, res.json().message]).toEqual([403, SIGNATURE_MISMATCH]);
  });
});

describe('temporary credentials: the session token must be the one that goes with the access key', () => {
  const TEMPORARY = {
    ...CREDENTIALS,
    accessKeyId: 'ASIALOCALEXAMPLE0001',
    sessionToken: 'session/token+one',
  };
  let temporary: LambdaEmulator;
  beforeAll(async () => {
    temporary = await startTestEmulator({ credentials: TEMPORARY });
    expect((await control(temporary.port, 'PUT', '/functions/rest-echo', { runtime: 'echo' })).status).toBe(
      200,
    );
  });
  afterAll(() => temporary.close());

  const invalidToken = (res: Awaited<ReturnType<typeof callFunction>>) => {
    expect(res.status).toBe(403);
    expect(res.headers['x-amzn-errortype']).toBe('UnrecognizedClientException');
    expect(res.json()).toEqual({ message: 'The security token included in the request is invalid.' });
  };

  it('passes with its token, in the header or presigned in the query', async () => {
    const signed = await callFunction(temporary.port, 'rest-echo', { credentials: TEMPORARY });
    expect(signed.status, signed.text).toBe(200);
    const presigned = await callFunction(temporary.port, 'rest-echo', {
      credentials: TEMPORARY,
      presignExpiresIn: 60,
    });
    expect(presigned.status, presigned.text).toBe(200);
  });
  it('refuses another token, though the request is signed with it', async () => {
    const other = { ...TEMPORARY, sessionToken: 'session/token+two' };
    invalidToken(await callFunction(temporary.port, 'rest-echo', { credentials: other }));
    invalidToken(
      await callFunction(temporary.port, 'rest-echo', { credentials: other, presignExpiresIn: 60 }),
    );
  });
  it('refuses a request without the token', async () => {
    const { sessionToken: _, ...withoutToken } = TEMPORARY;
    invalidToken(await callFunction(temporary.port, 'rest-echo', { credentials: withoutToken }));
  });
  it('refuses a token sent with long-term credentials, which have none', async () => {
    invalidToken(await call({ credentials: { ...CREDENTIALS, sessionToken: 'made-up' } }));
  });
});
