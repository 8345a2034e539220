import { createHmac, generateKeyPairSync } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { platform, rest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// An attacker holding one project of their own (A: its keys and its JWT secret) goes after the other
// one (B) and the platform through the gateway: odd hosts, framing tricks, crafted tokens, odd keys,
// parser abuse, cookies for the whole base domain. Every answer must keep to A, or refuse; none may
// carry B's rows, a secret or a stack trace. The gateway's own suites (gateway/src/security.test.ts,
// http-edges.test.ts) and tests/tenant-isolation.test.ts cover the plain cases; these are the rest.

const SCHEMA = `
create table public.notes (id int primary key, body text);
grant select on public.notes to anon;
`;

const project = exploreProjects('attacks', SCHEMA);
const A_ROW = 'a-row-7c1e';
const B_ROW = 'b-row-only-5d2f';

/** Every answer this file got: none may name B's row or one of A's secrets (last test). */
const seen: string[] = [];
const note = <T extends { text: string }>(res: T): T => {
  seen.push(res.text);
  return res;
};

const gateway = () => new URL(platform().gatewayUrl);
const hostOf = (ref: string) => `${ref}.${platform().baseDomain}`;

/**
 * Sends `bytes` as they are on one connection to the gateway and resolves with everything it sent
 * back once it closes the connection.
 */
function exchange(bytes: string): Promise<string> {
  const url = gateway();
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  return new Promise((resolve, reject) => {
    const socket =
      url.protocol === 'https:'
        ? tlsConnect({ host: url.hostname, port, servername: url.hostname })
        : tcpConnect(port, url.hostname === 'localhost' ? '127.0.0.1' : url.hostname);
    let received = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('the gateway kept the connection open')));
    socket.on(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      seen.push(received);
      resolve(received);
    });
  });
}

const statusLines = (received: string) => received.match(/^HTTP\/1\.[01] \d{3}/gm) ?? [];

function hs256(secret: string, header: string, payload: string): string {
  const signingInput = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('setup', () => {
  it('gives A and B one row each', async () => {
    await sql(project.a.ref, `insert into public.notes values (1, '${A_ROW}')`);
    await sql(project.b.ref, `insert into public.notes values (1, '${B_ROW}')`);
  });
});

describe('hosts and request targets', () => {
  it("an absolute-form target naming B's host, a userinfo-style Host or B's host under another domain is never served as B", async () => {
    const key = project.a.secretKey;
    const a = hostOf(project.a.ref);
    const b = hostOf(project.b.ref);
    const answers = await Promise.all([
      exchange(
        `GET http://${b}/rest/v1/notes HTTP/1.1\r\nHost: ${a}\r\napikey: ${key}\r\nConnection: close\r\n\r\n`,
      ),
      exchange(
        `GET http://${a}/rest/v1/notes HTTP/1.1\r\nHost: ${b}\r\napikey: ${key}\r\nConnection: close\r\n\r\n`,
      ),
      exchange(
        `GET /rest/v1/notes HTTP/1.1\r\nHost: ${a}:80@${b}\r\napikey: ${key}\r\nConnection: close\r\n\r\n`,
      ),
      exchange(
        `GET /rest/v1/notes HTTP/1.1\r\nHost: ${b}.evil.example\r\napikey: ${key}\r\nConnection: close\r\n\r\n`,
      ),
      exchange(`GET /rest/v1/notes HTTP/1.0\r\napikey: ${key}\r\n\r\n`),
    ]);
    for (const received of answers) {
      expect(statusLines(received)).toHaveLength(1);
      expect(received).toMatch(/^HTTP\/1\.[01] 4\d\d /);
      expect(received).not.toContain(B_ROW);
    }
  });
});

describe('framing: one request in, one request forwarded', () => {
  it('conflicting or obfuscated framing, each hiding a second request for B, is refused whole and the connection closed', async () => {
    const a = hostOf(project.a.ref);
    const b = hostOf(project.b.ref);
    const hidden = `GET /rest/v1/notes HTTP/1.1\r\nHost: ${b}\r\napikey: ${project.a.secretKey}\r\n\r\n`;
    const head = `POST /rest/v1/notes HTTP/1.1\r\nHost: ${a}\r\napikey: ${project.a.secretKey}\r\ncontent-type: application/json\r\n`;
    const variants = [
      `${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
      `${head}Content-Length: 0\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
      `${head}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${hidden}`,
      `${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
      `${head}X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n${hidden}`,
      `${head.replaceAll('\r\n', '\n')}Content-Length: 0\n\n${hidden}`,
      `${head}X-Nul: a\0b\r\nContent-Length: 0\r\n\r\n${hidden}`,
      `${head}Transfer-Encoding: chunked\r\n\r\n0\n\r\n${hidden}`,
    ];
    for (const bytes of variants) {
      const received = await exchange(bytes);
      expect(statusLines(received), JSON.stringify(bytes.slice(head.length, head.length + 50))).toEqual([
        expect.stringMatching(/ 400$/),
      ]);
      expect(received).not.toContain(B_ROW);
    }
  });

  it('a GET whose body is a whole request for B is one request: answered once, with A’s rows', async () => {
    const hidden = `GET /rest/v1/notes HTTP/1.1\r\nHost: ${hostOf(project.b.ref)}\r\n\r\n`;
    const received = await exchange(
      `GET /rest/v1/notes?select=body HTTP/1.1\r\nHost: ${hostOf(project.a.ref)}\r\n` +
        `apikey: ${project.a.secretKey}\r\nContent-Length: ${hidden.length}\r\nConnection: close\r\n\r\n${hidden}`,
    );
    expect(statusLines(received)).toEqual([expect.stringMatching(/ 200$/)]);
    expect(received).toContain(A_ROW);
    expect(received).not.toContain(B_ROW);
  });
});

describe('user tokens signed with A’s own JWT secret', () => {
  it('an `alg` holding a line break is refused with 401 PGRST301, its text kept out of the headers', async () => {
    const token = hs256(
      project.a.jwtSecret,
      JSON.stringify({ alg: 'HS256\r\nSet-Cookie: x=1', typ: 'JWT' }),
      JSON.stringify({ role: 'service_role', exp: inAnHour() }),
    );
    const res = note(await rest(project.a.ref, 'notes', { key: project.a.publishableKey, token }));
    expect(res.status, res.text).toBe(401);
    expect(res.json()).toMatchObject({ code: 'PGRST301' });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('jku, x5u and kid header claims fetch nothing and change nothing: the token is checked against A’s secret alone', async () => {
    const header = {
      alg: 'HS256',
      typ: 'JWT',
      jku: 'http://169.254.169.254/latest/meta-data/',
      x5u: 'http://127.0.0.1:1/x.pem',
      kid: '../../../etc/passwd',
    };
    const payload = JSON.stringify({ role: 'anon', exp: inAnHour() });
    const own = note(
      await rest(project.a.ref, 'notes?select=body', {
        key: project.a.publishableKey,
        token: hs256(project.a.jwtSecret, JSON.stringify(header), payload),
      }),
    );
    expect(own.status, own.text).toBe(200);
    expect(own.json()).toEqual([{ body: A_ROW }]);
    // The same header with a made-up secret is a bad signature, whatever the URLs say.
    const forged = note(
      await rest(project.a.ref, 'notes', {
        key: project.a.publishableKey,
        token: hs256('not-the-secret', JSON.stringify(header), payload),
      }),
    );
    expect(forged.status).toBe(401);
    expect(forged.json()).toMatchObject({ code: 'PGRST301' });
  });

  it('an ES256 token carrying its own public key (`jwk` header) is refused', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = await new SignJWT({ role: 'service_role' })
      .setProtectedHeader({ alg: 'ES256', jwk: publicKey.export({ format: 'jwk' }) as never })
      .setExpirationTime('1h')
      .sign(privateKey);
    const res = note(await rest(project.a.ref, 'notes', { key: project.a.publishableKey, token }));
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ code: 'PGRST301' });
  });

  it('alg variants, `crit` and a payload that is no object are refused with 401', async () => {
    const claims = JSON.stringify({ role: 'service_role', exp: inAnHour() });
    const cases = [
      [JSON.stringify({ alg: 'hs256' }), claims],
      [JSON.stringify({ alg: 'None' }), claims],
      ['{"alg":"HS256","alg":"none"}', claims],
      [JSON.stringify({ alg: 'HS256', crit: ['exp'] }), claims],
      [JSON.stringify({ alg: 'HS256', crit: ['b64'], b64: false }), claims],
      [JSON.stringify({ alg: 'HS256' }), '["service_role"]'],
      [JSON.stringify({ alg: 'HS256' }), JSON.stringify({ role: 'service_role', exp: String(inAnHour()) })],
    ] as const;
    for (const [header, payload] of cases) {
      const token = hs256(project.a.jwtSecret, header, payload);
      const res = note(await rest(project.a.ref, 'notes', { key: project.a.publishableKey, token }));
      expect(res.status, `${header} ${payload}`).toBe(401);
      expect(res.json()).toMatchObject({ code: expect.stringMatching(/^PGRST30[13]$/) });
    }
  });

  it("role claims naming B's login and owner roles, the cluster's superuser or built-in roles reach nothing", async () => {
    const b = project.b.ref;
    const roles = [`authenticator_${b}`, `owner_${b}`, 'postgres', 'pg_read_all_data', 'pg_database_owner'];
    for (const role of roles) {
      const token = hs256(
        project.a.jwtSecret,
        JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
        JSON.stringify({ role, exp: inAnHour() }),
      );
      const res = note(await rest(project.a.ref, 'notes', { key: project.a.publishableKey, token }));
      expect(res.status, `${role}: ${res.text}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.text).not.toContain(A_ROW);
    }
  });
});

describe('keys', () => {
  it('a 12 KB key, a key with a look-alike character and one with a NUL are refused as invalid', async () => {
    const key = project.a.secretKey;
    const longKey = `sb_secret_${'a'.repeat(12_000)}`;
    // A header carries bytes: the look-alike goes as its UTF-8 bytes, as a client would send it.
    const lookAlike = Buffer.from(key.replace('s', '\uff53'), 'utf8').toString('latin1');
    for (const [path, apikey] of [
      ['notes', longKey],
      ['notes', lookAlike],
      [`notes?apikey=${encodeURIComponent(key)}%00`, undefined],
    ] as const) {
      const res = note(await rest(project.a.ref, path, apikey === undefined ? {} : { key: apikey }));
      expect(res.status, path).toBe(401);
      expect(res.json()).toMatchObject({ message: 'Invalid API key' });
    }
  });
});

describe('parser abuse', () => {
  it('a thousand nested or(), four thousand empty parameters and a thousand filters answer 4xx or 200, never a 5xx or a stack', async () => {
    const nested = `${'or('.repeat(1_000)}id.eq.1${')'.repeat(1_000)}`;
    const deep = note(await rest(project.a.ref, `notes?or=(${nested})`, { key: project.a.secretKey }));
    expect(deep.status).toBe(400);
    expect(deep.json()).toMatchObject({ code: 'PGRST100' });
    const many = note(
      await rest(project.a.ref, `notes?select=body&${'&'.repeat(4_000)}`, { key: project.a.secretKey }),
    );
    expect(many.status).toBe(200);
    const filters = Array.from({ length: 1_000 }, (_, i) => `c${i}=eq.1`).join('&');
    const unknown = note(await rest(project.a.ref, `notes?${filters}`, { key: project.a.secretKey }));
    expect(unknown.status).toBe(400);
    for (const res of [deep, many, unknown])
      expect(res.text).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+/);
  });
});

describe('cookies', () => {
  it("a cookie A's function sets for the whole base domain is relayed for A's host only (no Domain)", async () => {
    const base = platform().baseDomain;
    await sql(
      project.a.ref,
      `create function public.toss_cookie() returns int language plpgsql as $$ begin
         perform set_config('response.headers',
           '[{"Set-Cookie": "tossed=1; Domain=${base}; Path=/"}, {"Set-Cookie": "dotted=2; Path=/; domain=.${base}"}]', true);
         return 1; end $$;
       grant execute on function public.toss_cookie() to anon;`,
    );
    const res = note(await rest(project.a.ref, 'rpc/toss_cookie', { key: project.a.publishableKey }));
    expect(res.status, res.text).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['tossed=1; Path=/', 'dotted=2; Path=/']);
  });
});

describe("what A's own SQL sees of a request", () => {
  it("request.headers shows the client's token as Authorization, never the gateway's SigV4 signature or other AWS headers", async () => {
    // Behind Kong, PostgREST's request.headers carries the client's `Authorization: Bearer <jwt>` (SQL
    // reads it there). Here the gateway's hop to the function adds its own: a SigV4 Authorization
    // naming the gateway's AWS access key (and, with temporary credentials, X-Amz-Security-Token, its
    // session token), which every project's functions could otherwise read and return.
    await sql(
      project.a.ref,
      `create function public.seen_headers() returns json language sql stable
         as $$ select current_setting('request.headers', true)::json $$;
       grant execute on function public.seen_headers() to anon, authenticated;`,
    );
    const token = hs256(
      project.a.jwtSecret,
      JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
      JSON.stringify({ role: 'authenticated', sub: 'u-1', exp: inAnHour() }),
    );
    const res = note(await rest(project.a.ref, 'rpc/seen_headers', { key: project.a.publishableKey, token }));
    expect(res.status, res.text).toBe(200);
    const headers = res.json() as Record<string, string>;
    expect(headers.authorization).toBe(`Bearer ${token}`);
    const hop = Object.keys(headers).filter(
      (name) =>
        name.startsWith('x-amz-') ||
        name === 'x-client-authorization' ||
        name === 'x-supaplane-config-version',
    );
    expect(hop).toEqual([]);
  });
});

describe('what the attacker saw', () => {
  it("carries neither B's row nor A's secret key, JWT secret or a connection string", () => {
    expect(seen.length).toBeGreaterThan(20);
    const all = seen.join('\n');
    expect(all).not.toContain(B_ROW);
    expect(all).not.toContain(project.a.jwtSecret);
    expect(all).not.toContain(project.a.secretKey);
    expect(all).not.toMatch(/postgres(ql)?:\/\//);
  });
});

project.secondProjectUntouched('select id, body from public.notes', [{ id: 1, body: B_ROW }]);
