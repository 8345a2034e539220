import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startPostgres, startRedis } from './index.js';
import { connect } from 'node:net';

describe('local services', () => {
  it('starts a real PostgreSQL 16 and stops it', async () => {
    const server = await startPostgres({ ephemeral: true });
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version') as v");
    expect(rows[0]?.v).toMatch(/^16\./);
    await client.end();
    await server.stop();
  }, 60_000);

  it('starts, kills and restarts redis-server on the same port', async () => {
    const redis = await startRedis();
    const ping = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(redis.port, '127.0.0.1', () => socket.write('PING\r\n'));
        socket.on('data', (d) => {
          resolve(d.toString().trim());
          socket.destroy();
        });
        socket.on('error', reject);
      });
    expect(await ping()).toBe('+PONG');
    await redis.stop(true);
    await expect(ping()).rejects.toThrow();
    await redis.restart();
    expect(await ping()).toBe('+PONG');
    await redis.stop();
  }, 30_000);
});
