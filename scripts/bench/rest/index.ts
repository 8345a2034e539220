/**
 * Rest engine benchmark: select by primary key, a filtered list of 100 rows, an insert and a
 * one-level embed, each through a warm rest function (the Lambda handler, pool of 2) and as the
 * same SQL straight through `pg` (pool of 2), in the same process and run, interleaved in blocks
 * so drift hits both sides. Prints p50/p95 per path and the p50 ratio.
 *
 *   npx tsx scripts/bench/rest/index.ts        (BENCH_ITERATIONS, BENCH_BLOCK to tune)
 */
import { createLambdaHandler, type FunctionUrlEvent } from '@supaplane/rest';
import { startPostgres } from '@supaplane/local-services';
import pg from 'pg';
import { createFixtureDatabase } from '../../../packages/db-bootstrap/src/index.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 3000);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 100);
const WARMUP = 300;
const ROWS = 20_000;

const server = await startPostgres({ ephemeral: true });
const fixture = await createFixtureDatabase(server, 'bench');
const owner = new pg.Client({ connectionString: fixture.ownerUrl });
await owner.connect();
await owner.query(`
  CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
  INSERT INTO categories SELECT g, 'category ' || g FROM generate_series(1, 200) g;
  CREATE TABLE items (
    id serial PRIMARY KEY,
    name text NOT NULL,
    qty int NOT NULL DEFAULT 1,
    category_id int NOT NULL REFERENCES categories(id),
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX ON items (category_id, id);
  INSERT INTO items (name, qty, category_id) SELECT 'item ' || g, g % 17, 1 + g % 200 FROM generate_series(1, ${ROWS}) g;
  ANALYZE;`);
await owner.end();

const handler = createLambdaHandler({
  REST_DB_URL: fixture.authenticatorUrl,
  REST_JWT_SECRET: 'bench-secret-bench-secret-bench-secret!',
});
const direct = new pg.Pool({ connectionString: fixture.authenticatorUrl, max: 2 });
direct.on('error', () => {});
await direct.query('SET ROLE anon'); // warm one connection like the function's

const event = (
  method: string,
  rawPath: string,
  rawQueryString: string,
  body?: unknown,
): FunctionUrlEvent => ({
  rawPath,
  rawQueryString,
  headers: body ? { 'content-type': 'application/json' } : {},
  requestContext: { http: { method } },
  ...(body ? { body: JSON.stringify(body), isBase64Encoded: false } : {}),
});

let n = 0;
const key = () => 1 + ((n++ * 7919) % ROWS);

interface Case {
  readonly name: string;
  rest(): Promise<unknown>;
  /** The same SQL through pg; `prepared` names the statement so pg keeps it parsed per connection. */
  sql(prepared: boolean): Promise<unknown>;
}

const expectOk = (r: { statusCode: number; body: string }) => {
  if (r.statusCode >= 300) throw new Error(`rest answered ${r.statusCode}: ${r.body}`);
  return r;
};

const q = (name: string, text: string, values: unknown[], prepared: boolean) =>
  direct.query(prepared ? { name, text, values } : { text, values });
const category = () => 1 + (key() % 200);

const cases: Case[] = [
  {
    name: 'select by primary key',
    rest: async () => expectOk(await handler(event('GET', '/rest/v1/items', `id=eq.${key()}`))),
    sql: (p) => q('pk', 'SELECT * FROM items WHERE id = $1', [key()], p),
  },
  {
    name: 'filtered list, 100 rows',
    rest: async () =>
      expectOk(
        await handler(event('GET', '/rest/v1/items', `category_id=eq.${category()}&order=id&limit=100`)),
      ),
    sql: (p) =>
      q('list', 'SELECT * FROM items WHERE category_id = $1 ORDER BY id LIMIT 100', [category()], p),
  },
  {
    name: 'insert one row',
    rest: async () =>
      expectOk(
        await handler(
          event('POST', '/rest/v1/items', '', { name: 'bench', qty: 3, category_id: category() }),
        ),
      ),
    sql: (p) =>
      q(
        'insert',
        'INSERT INTO items (name, qty, category_id) VALUES ($1, $2, $3)',
        ['bench', 3, category()],
        p,
      ),
  },
  {
    name: 'one-level embed (many-to-one)',
    rest: async () =>
      expectOk(
        await handler(event('GET', '/rest/v1/items', `select=id,name,categories(name)&id=eq.${key()}`)),
      ),
    sql: (p) =>
      q(
        'embed',
        'SELECT i.id, i.name, row_to_json(c) AS categories FROM items i LEFT JOIN LATERAL (SELECT name FROM categories WHERE id = i.category_id) c ON true WHERE i.id = $1',
        [key()],
        p,
      ),
  },
];

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function time(fn: () => Promise<unknown>, into: number[]) {
  const start = process.hrtime.bigint();
  await fn();
  into.push(Number(process.hrtime.bigint() - start) / 1e6);
}

console.log(
  `PostgreSQL 16 (embedded), ${ROWS} rows, ${ITERATIONS} iterations per path, blocks of ${BLOCK}, sequential`,
);
console.log('case                            path          p50 ms   p95 ms   rest p50 / this p50');
for (const c of cases) {
  for (let i = 0; i < WARMUP; i++) {
    await c.rest();
    await c.sql(false);
    await c.sql(true);
  }
  const rest: number[] = [];
  const plain: number[] = [];
  const prepared: number[] = [];
  for (let done = 0; done < ITERATIONS; done += BLOCK) {
    for (let i = 0; i < BLOCK; i++) await time(() => c.sql(false), plain);
    for (let i = 0; i < BLOCK; i++) await time(c.rest, rest);
    for (let i = 0; i < BLOCK; i++) await time(() => c.sql(true), prepared);
  }
  for (const xs of [rest, plain, prepared]) xs.sort((a, b) => a - b);
  const restP50 = percentile(rest, 50);
  const row = (path: string, xs: number[], ratio: boolean) => {
    const p50 = percentile(xs, 50).toFixed(3).padStart(7);
    const p95 = percentile(xs, 95).toFixed(3).padStart(7);
    const r = ratio ? `${(restP50 / percentile(xs, 50)).toFixed(2)}x` : '';
    console.log(`${c.name.padEnd(32)}${path.padEnd(14)}${p50}  ${p95}   ${r}`);
  };
  row('pg', plain, true);
  row('pg prepared', prepared, true);
  row('rest', rest, false);
}

await handler.close();
await direct.end();
await server.stop();
