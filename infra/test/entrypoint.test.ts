import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const entrypoint = new URL('../docker/entrypoint.mjs', import.meta.url).pathname;

/** Runs the entrypoint with a bundle that prints the environment it was started with. */
function startWith(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'entrypoint-'));
  writeFileSync(
    join(dir, 'bundle.mjs'),
    'console.log(JSON.stringify({ redis: process.env.REDIS_URL ?? null, db: process.env.DATABASE_URL ?? null, leftover: process.env.DATABASE_PASSWORD ?? process.env.REDIS_PASSWORD ?? null }));',
  );
  const result = spawnSync(process.execPath, [entrypoint, 'bundle.mjs'], {
    cwd: dir,
    env: { PATH: process.env['PATH']!, ...env },
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { redis: string | null; db: string | null; leftover: string | null };
}

describe('docker/entrypoint.mjs', () => {
  it('assembles REDIS_URL and DATABASE_URL from ECS-injected parts, escaping secrets', () => {
    const seen = startWith({
      REDIS_HOST: 'master.cache.example',
      REDIS_PORT: '6379',
      REDIS_TLS: 'true',
      REDIS_PASSWORD: 'p@ss/word',
      DATABASE_HOST: 'db.example',
      DATABASE_USER: 'supaplane_admin',
      DATABASE_PASSWORD: 'a#b?c:d%',
      DATABASE_SSLMODE: 'verify-full',
    });
    expect(seen.redis).toBe('rediss://:p%40ss%2Fword@master.cache.example:6379');
    expect(seen.db).toBe(
      'postgres://supaplane_admin:a%23b%3Fc%3Ad%25@db.example:5432/postgres?sslmode=verify-full',
    );
    expect(new URL(seen.db!).password).toBe(encodeURIComponent('a#b?c:d%'));
    expect(seen.leftover).toBeNull();
  });

  it('keeps URLs that are already set and starts without any parts', () => {
    expect(startWith({ REDIS_URL: 'redis://127.0.0.1:6380', REDIS_HOST: 'ignored' })).toEqual({
      redis: 'redis://127.0.0.1:6380',
      db: null,
      leftover: null,
    });
  });
});
