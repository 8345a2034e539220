import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshManagementDb, MASTER_KEY } from '../../test/harness.js';
import { loadConfig } from '../config.js';
import { adminPool, ClusterPools } from './cluster-pools.js';
import { createSecretBox } from './crypto.js';
import { migrate } from './migrations.js';
import { connectTo } from './project-db.js';
import { managementPoolConfig, pgSsl, urlWantsTls } from './tls.js';

// Not a real certificate: these tests check the options handed to pg, not a handshake.
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const conn = { host: 'db.example', port: 5432, user: 'admin', password: 'pw', database: 'postgres' };

/** The `ssl` pg would actually use (a connection string can override the `ssl` option). */
const effectiveSsl = (config: pg.ClientConfig) =>
  (new pg.Client(config) as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters.ssl;

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

describe('TLS to databases', () => {
  it('verifies whenever TLS is on: with the configured CA, else with the default trust store', () => {
    expect(pgSsl(false, CA)).toBe(false);
    expect(pgSsl(true)).toEqual({ rejectUnauthorized: true });
    expect(pgSsl(true, null)).toEqual({ rejectUnauthorized: true });
    expect(pgSsl(true, CA)).toEqual({ rejectUnauthorized: true, ca: CA });
  });

  it('gives worker cluster pools and clients verifying TLS when the cluster has ssl', async () => {
    const pool = adminPool({ ...conn, ssl: true, ca: CA }, 1);
    closers.push(() => pool.end());
    expect(pool.options.ssl).toEqual({ rejectUnauthorized: true, ca: CA });
    const noCa = adminPool({ ...conn, ssl: true }, 1);
    closers.push(() => noCa.end());
    expect(noCa.options.ssl).toEqual({ rejectUnauthorized: true });
    const plain = adminPool({ ...conn, ssl: false, ca: CA }, 1);
    closers.push(() => plain.end());
    expect(plain.options.ssl).toBe(false);
    expect(effectiveSsl(connectTo({ ...conn, ssl: true, ca: CA }, 'proj_x'))).toEqual({
      rejectUnauthorized: true,
      ca: CA,
    });
    expect(effectiveSsl(connectTo({ ...conn, ssl: false }, 'proj_x'))).toBe(false);
  });

  it('builds registered clusters from the catalogue with the CA bundle (no connection needed)', async () => {
    const db = new pg.Pool({ connectionString: await freshManagementDb(), max: 2 });
    closers.push(() => db.end());
    await migrate(db);
    const box = createSecretBox(MASTER_KEY);
    const ids = { tls: randomUUID(), plain: randomUUID() };
    for (const [name, id] of Object.entries(ids)) {
      await db.query(
        `INSERT INTO tm.clusters (id, name, host, port, admin_user, admin_password_enc, ssl, capacity, region,
           status, created_at, updated_at)
         VALUES ($1, $2, 'db.example', 5432, 'admin', $3, $4, 1, 'local', 'active', now(), now())`,
        [id, name, box.seal('pw', `cluster:${id}:admin-password`), name === 'tls'],
      );
    }
    const pools = new ClusterPools(db, box, CA);
    closers.push(() => pools.closeAll());
    const tls = await pools.get(ids.tls);
    expect(tls.conn).toMatchObject({ ssl: true, ca: CA });
    expect(tls.admin.options.ssl).toEqual({ rejectUnauthorized: true, ca: CA });
    expect((await pools.get(ids.plain)).admin.options.ssl).toBe(false);
    const withoutCa = new ClusterPools(db, box);
    closers.push(() => withoutCa.closeAll());
    expect((await withoutCa.get(ids.tls)).admin.options.ssl).toEqual({ rejectUnauthorized: true });
  });

  it('maps the management DATABASE_URL sslmode to verifying TLS that pg cannot override', () => {
    const url = 'postgres://u:p@db.example:5432/supaplane';
    for (const mode of ['require', 'verify-full', 'verify-ca', 'prefer', 'no-verify']) {
      const config = managementPoolConfig(`${url}?sslmode=${mode}&application_name=tm`, CA);
      expect(config.ssl, mode).toEqual({ rejectUnauthorized: true, ca: CA });
      expect(config.connectionString).toBe(`${url}?application_name=tm`);
      expect(effectiveSsl(config), mode).toEqual({ rejectUnauthorized: true, ca: CA });
    }
    // pg alone would not verify these
    const compat = `${url}?sslmode=require&uselibpqcompat=true`;
    expect(effectiveSsl({ connectionString: compat })).toMatchObject({ rejectUnauthorized: false });
    expect(effectiveSsl(managementPoolConfig(compat))).toEqual({ rejectUnauthorized: true });
    expect(effectiveSsl({ connectionString: `${url}?sslmode=no-verify` })).toMatchObject({
      rejectUnauthorized: false,
    });
    // a root certificate named in the URL is not read: the CA comes from DB_CA_BUNDLE_FILE
    const named = managementPoolConfig(`${url}?sslmode=verify-full&sslrootcert=/nonexistent.pem`);
    expect(effectiveSsl(named)).toEqual({ rejectUnauthorized: true });
    expect(managementPoolConfig(`${url}?ssl=true`).ssl).toEqual({ rejectUnauthorized: true });
    for (const plain of [url, `${url}?sslmode=disable`, `${url}?sslmode=allow`]) {
      expect(managementPoolConfig(plain, CA).ssl, plain).toBe(false);
      expect(effectiveSsl(managementPoolConfig(plain, CA)), plain).toBe(false);
    }
    expect(urlWantsTls(new URL(`${url}?sslmode=verify-full`))).toBe(true);
    expect(urlWantsTls(new URL(url))).toBe(false);
  });

  it('reads DB_CA_BUNDLE_FILE once in loadConfig and refuses a file without a certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-ca-'));
    const good = join(dir, 'rds.pem');
    const bad = join(dir, 'empty.pem');
    writeFileSync(good, CA);
    writeFileSync(bad, 'not a pem');
    const env = {
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5433/supaplane',
      ADMIN_API_KEY: 'admin-key-0123456789',
      INTERNAL_SERVICE_TOKEN: 'internal-token-0123456789',
      MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    expect(loadConfig(env).dbCaBundle).toBeNull();
    expect(loadConfig({ ...env, DB_CA_BUNDLE_FILE: good }).dbCaBundle).toBe(CA);
    expect(() => loadConfig({ ...env, DB_CA_BUNDLE_FILE: bad })).toThrow('DB_CA_BUNDLE_FILE holds no PEM');
    expect(() => loadConfig({ ...env, DB_CA_BUNDLE_FILE: join(dir, 'missing.pem') })).toThrow(
      'DB_CA_BUNDLE_FILE cannot be read',
    );
  });
});
