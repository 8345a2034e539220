import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRestLambda, zip } from '../../scripts/package-rest-lambda.js';
// @ts-expect-error plain ESM helper without type declarations
import { bundle, entrypointNodeFlags } from '../docker/bundle.mjs';

const repo = new URL('../../', import.meta.url).pathname;

/** Reads a zip through its central directory, as Lambda's unpacker does. */
function unzip(buffer: Buffer): Map<string, Buffer> {
  const end = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buffer.readUInt16LE(end + 10);
  let at = buffer.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(buffer.readUInt32LE(at)).toBe(0x02014b50);
    const method = buffer.readUInt16LE(at + 10);
    const size = buffer.readUInt32LE(at + 20);
    const nameLength = buffer.readUInt16LE(at + 28);
    const extra = buffer.readUInt16LE(at + 30) + buffer.readUInt16LE(at + 32);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.toString('utf8', at + 46, at + 46 + nameLength);
    const dataStart = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const data = buffer.subarray(dataStart, dataStart + size);
    files.set(name, method === 8 ? inflateRawSync(data) : data);
    at += 46 + nameLength + extra;
  }
  return files;
}

function node(args: string[], options: { cwd: string; env: Record<string, string>; timeout?: number }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      args,
      { ...options, env: { PATH: process.env['PATH']!, ...options.env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

describe('scripts/package-rest-lambda.ts', () => {
  let out: { dir: string; zipPath: string };
  beforeAll(async () => {
    out = await packageRestLambda({ outDir: mkdtempSync(join(tmpdir(), 'rest-lambda-')) });
  });

  it('zips one ESM handler file (plus its source map) that Lambda can unpack', () => {
    const files = unzip(readFileSync(out.zipPath));
    expect([...files.keys()]).toEqual(['index.mjs', 'index.mjs.map']);
    expect(files.get('index.mjs')!.equals(readFileSync(join(out.dir, 'index.mjs')))).toBe(true);
    expect(files.get('index.mjs')!.length).toBeLessThan(5 * 1024 * 1024);
  });

  it('runs @supaplane/rest from the unpacked artifact: index.handler answers PostgREST-style', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rest-unpacked-'));
    for (const [name, data] of unzip(readFileSync(out.zipPath))) writeFileSync(join(dir, name), data);
    const event = {
      version: '2.0',
      rawPath: '/rest/v1/todos',
      rawQueryString: 'select=*',
      headers: { host: 'x.lambda-url.eu-west-1.on.aws' },
      requestContext: { http: { method: 'GET', path: '/rest/v1/todos' } },
      isBase64Encoded: false,
    };
    const script = `import('./index.mjs').then(async (m) => { console.log(JSON.stringify(await m.handler(${JSON.stringify(event)}))); process.exit(0); })`;
    // No database behind REST_DB_URL: the handler must load and answer the connection error itself.
    const { code, stdout, stderr } = await node(['-e', script], {
      cwd: dir,
      env: {
        REST_DB_URL: 'postgres://u:p@127.0.0.1:1/db',
        REST_JWT_SECRET: 'a-secret-of-at-least-32-characters!',
      },
      timeout: 30_000,
    });
    // The bundle loads cleanly (no warning, no stack); the one line on stderr is the handler's own
    // structured report of the refused connection, with the password of REST_DB_URL nowhere in it.
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', code: 'ECONNREFUSED' });
    expect(stderr).not.toContain('u:p@');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body)).toMatchObject({ code: 'PGRST001' });
  });

  it('writes byte-identical zips for identical inputs', () => {
    const files = [{ name: 'index.mjs', data: Buffer.from('export const handler = async () => 1;\n') }];
    expect(zip(files).equals(zip(files))).toBe(true);
    expect(unzip(zip(files)).get('index.mjs')!.toString()).toBe('export const handler = async () => 1;\n');
  });
});

describe('infra/docker/bundle.mjs + entrypoint.mjs (the image build and start steps)', () => {
  it('bundles gateway/src/main.ts into a file that starts, with the Dockerfile ENTRYPOINT node flags, and answers /health', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-image-'));
    // As the image starts it: a flag node does not know would stop it here ("bad option").
    const flags = entrypointNodeFlags(join(repo, 'gateway/Dockerfile'));
    expect(flags).toContain('--single-threaded-gc');
    expect(flags).toContain('--max-semi-space-size=32');
    await bundle({ entry: join(repo, 'gateway/src/main.ts'), outfile: join(dir, 'main.mjs') });
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const probe = `
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, [...${JSON.stringify(flags)}, ${JSON.stringify(join(repo, 'infra/docker/entrypoint.mjs'))}, 'main.mjs'], { stdio: 'ignore' });
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = await fetch('http://127.0.0.1:${port}/health').then((r) => r.status, () => 0);
      }
      child.kill('SIGTERM');
      console.log(status);`;
    const { stdout, stderr } = await node(['--input-type=module', '-e', probe], {
      cwd: dir,
      env: {
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: port,
        BASE_DOMAIN: 'example.com',
        TENANT_MANAGER_INTERNAL_URL: 'http://127.0.0.1:1',
        INTERNAL_SERVICE_TOKEN: 'internal-token-0123456789',
        AWS_REGION: 'eu-west-1',
      },
      timeout: 30_000,
    });
    expect(stderr).toBe('');
    expect(stdout.trim()).toBe('200');
  });
});
