import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

/** PostgREST 12's aggregate functions, behind `aggregatesEnabled` (its `db-aggregates-enabled`). */

let on: TestEngine;
let off: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE ag_cities (name text PRIMARY KEY, country text NOT NULL, population int NOT NULL);
    CREATE TABLE ag_customers (id int PRIMARY KEY, name text NOT NULL, city text NOT NULL REFERENCES ag_cities(name));
    CREATE TABLE ag_orders (
      id int PRIMARY KEY,
      customer_id int REFERENCES ag_customers(id),
      amount numeric(10,2),
      quantity int,
      order_date date NOT NULL,
      details jsonb
    );
    CREATE TABLE ag_log (id int PRIMARY KEY, amount numeric);
    CREATE FUNCTION ag_orders_of(c int) RETURNS SETOF ag_orders LANGUAGE sql STABLE AS
      $$ SELECT * FROM ag_orders WHERE customer_id = c $$;
    INSERT INTO ag_cities VALUES ('London', 'UK', 9), ('Paris', 'FR', 2);
    INSERT INTO ag_customers VALUES (1, 'Ada', 'London'), (2, 'Bob', 'Paris'), (3, 'Cy', 'London');
    INSERT INTO ag_orders VALUES
      (1, 1, 10.40, 1, '2024-01-01', '{"tax": "1.5"}'),
      (2, 1, 20.00, 2, '2024-01-02', '{"tax": "2"}'),
      (3, 2, 30.60, NULL, '2024-01-01', NULL),
      (4, 3, 5.00, 4, '2024-01-02', '{"tax": "0.5"}'),
      (5, NULL, NULL, 5, '2024-01-03', NULL);`);
  on = testEngine({ aggregatesEnabled: true });
  off = testEngine();
});
afterAll(async () => {
  await on.close();
  await off.close();
});

const get = async (t: TestEngine, query: string) => t.call('GET', `/ag_orders?${query}`);
const byKey = (key: string) => (a: Record<string, unknown>, b: Record<string, unknown>) =>
  JSON.stringify(a[key]) < JSON.stringify(b[key]) ? -1 : 1;

describe('aggregate functions', () => {
  it('are refused with PGRST123 in every form while disabled (the default)', async () => {
    const selects = [
      'count()',
      'c:count()',
      'count()::text',
      'amount.sum()',
      'total:amount.sum()',
      'amount::int.avg()::text',
      'details->>tax::numeric.max()',
      'order_date,quantity.min()',
      'id,ag_customers(id.count())',
      'id,...ag_customers(id.count())',
    ];
    for (const select of selects) {
      const r = await get(off, `select=${encodeURIComponent(select)}`);
      expect([r.status, r.json], select).toEqual([
        400,
        { code: 'PGRST123', message: 'Use of aggregate functions is not allowed', details: null, hint: null },
      ]);
    }
    const customers = await off.call('GET', '/ag_customers?select=name,ag_orders(amount.sum())');
    expect(customers.json).toMatchObject({ code: 'PGRST123' });
    const write = await off.call('POST', '/ag_log?select=count()', {
      headers: { ...(await bearer('service_role')), prefer: 'return=representation' },
      body: { id: 100, amount: 1 },
    });
    expect(write.json).toMatchObject({ code: 'PGRST123' });
    const rpc = await off.call('GET', '/rpc/ag_orders_of?c=1&select=amount.sum()');
    expect(rpc.json).toMatchObject({ code: 'PGRST123' });
  });

  it('name the result by the function or the alias; count() counts rows, col.count() values', async () => {
    const r = await get(
      on,
      'select=amount.sum(),total:amount.sum(),amount.avg(),amount.max(),amount.min(),count(),n:quantity.count()',
    );
    expect(r.status).toBe(200);
    expect(r.json).toEqual([{ sum: 66, total: 66, avg: 16.5, max: 30.6, min: 5, count: 5, n: 4 }]);
    const counted = await get(on, 'select=rows:count(),quantity.count()');
    expect(counted.json).toEqual([{ rows: 5, count: 4 }]);
  });

  it('cast the result after the function and the values before it, JSON paths too', async () => {
    const r = await get(
      on,
      'select=amount.sum()::text,rounded:amount::int.sum(),a:amount.avg()::int,tax:details->>tax::numeric.sum()',
    );
    expect(r.json).toEqual([{ sum: '66.00', rounded: 66, a: 17, tax: 4 }]);
    const jsonKey = await get(on, 'select=details->>tax::numeric.max()');
    expect(jsonKey.json).toEqual([{ max: 2 }]);
  });

  it('group by every other selected column, stars expanded, and keep filters, order and paging', async () => {
    const r = await get(on, 'select=order_date,amount.sum(),count()&order=order_date');
    expect(r.json).toEqual([
      { order_date: '2024-01-01', sum: 41, count: 2 },
      { order_date: '2024-01-02', sum: 25, count: 2 },
      { order_date: '2024-01-03', sum: null, count: 1 },
    ]);
    // A cast column groups by its value (and orders by it); an aliased one by its output.
    const cast = await get(on, 'select=order_date::text,count()&order=order_date.desc&limit=1');
    expect(cast.json).toEqual([{ order_date: '2024-01-03', count: 1 }]);
    const aliased = await get(on, 'select=big:amount::int,count()&amount=gte.20');
    expect(aliased.status).toBe(200);
    expect((aliased.json as Record<string, unknown>[]).sort(byKey('big'))).toEqual([
      { big: 20, count: 1 },
      { big: 31, count: 1 },
    ]);
    const star = await get(on, 'select=*,count()&id=lte.2&order=id');
    expect(star.json).toEqual([
      {
        id: 1,
        customer_id: 1,
        amount: 10.4,
        quantity: 1,
        order_date: '2024-01-01',
        details: { tax: '1.5' },
        count: 1,
      },
      {
        id: 2,
        customer_id: 1,
        amount: 20,
        quantity: 2,
        order_date: '2024-01-02',
        details: { tax: '2' },
        count: 1,
      },
    ]);
  });

  it('count=exact counts the filtered rows, not the groups, as PostgREST; Content-Range pages the groups', async () => {
    const r = await on.call(
      'GET',
      '/ag_orders?select=order_date,count()&amount=not.is.null&order=order_date&limit=1&offset=1',
      { headers: { prefer: 'count=exact' } },
    );
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe('1-1/4');
    expect(r.json).toEqual([{ order_date: '2024-01-02', count: 2 }]);
    const head = await on.call('HEAD', '/ag_orders?select=count()', { headers: { prefer: 'count=exact' } });
    expect([head.status, head.headers['content-range']]).toEqual([206, '0-0/5']);
  });

  it('aggregate inside an embedded resource, per parent row', async () => {
    const r = await on.call(
      'GET',
      '/ag_customers?select=name,ag_orders(amount.sum(),order_date)&order=id&ag_orders.order=order_date',
    );
    expect(r.json).toEqual([
      {
        name: 'Ada',
        ag_orders: [
          { sum: 10.4, order_date: '2024-01-01' },
          { sum: 20, order_date: '2024-01-02' },
        ],
      },
      { name: 'Bob', ag_orders: [{ sum: 30.6, order_date: '2024-01-01' }] },
      { name: 'Cy', ag_orders: [{ sum: 5, order_date: '2024-01-02' }] },
    ]);
    const toOne = await get(on, 'select=id,ag_customers(n:id.count())&id=in.(1,5)&order=id');
    expect(toOne.json).toEqual([
      { id: 1, ag_customers: { n: 1 } },
      { id: 5, ag_customers: { n: 0 } },
    ]);
  });

  it('group by embedded resources, to-one and to-many', async () => {
    const r = await get(on, 'select=amount.sum(),ag_customers(city)');
    expect((r.json as Record<string, unknown>[]).sort(byKey('ag_customers'))).toEqual([
      { sum: null, ag_customers: null },
      { sum: 35.4, ag_customers: { city: 'London' } },
      { sum: 30.6, ag_customers: { city: 'Paris' } },
    ]);
    const toMany = await on.call(
      'GET',
      '/ag_customers?select=count(),ag_orders(order_date)&ag_orders.order_date=eq.2024-01-01',
    );
    expect((toMany.json as Record<string, unknown>[]).sort(byKey('ag_orders'))).toEqual([
      { count: 1, ag_orders: [] },
      { count: 2, ag_orders: [{ order_date: '2024-01-01' }] },
    ]);
  });

  it('group by the columns of a to-one spread, and hoist its aggregates to the level above', async () => {
    const grouped = await get(on, 'select=amount.sum(),...ag_customers(city)');
    expect((grouped.json as Record<string, unknown>[]).sort(byKey('city'))).toEqual([
      { sum: 35.4, city: 'London' },
      { sum: 30.6, city: 'Paris' },
      { sum: null, city: null },
    ]);
    // Aggregates in a spread aggregate over the rows of the level above, grouped by its columns.
    const hoisted = await get(
      on,
      'select=order_date,...ag_customers(customers:id.count(),last:name.max(),count())&order=order_date',
    );
    expect(hoisted.json).toEqual([
      { order_date: '2024-01-01', customers: 2, last: 'Bob', count: 2 },
      { order_date: '2024-01-02', customers: 2, last: 'Cy', count: 2 },
      { order_date: '2024-01-03', customers: 0, last: null, count: 0 },
    ]);
    // A spread's own embedded resources and nested spreads are grouped by too; aggregates of a
    // nested spread rise to the first level that is no spread.
    const nested = await on.call(
      'GET',
      '/ag_orders?select=count(),...ag_customers(city,...ag_cities(country,people:population.sum()))&customer_id=not.is.null',
    );
    expect((nested.json as Record<string, unknown>[]).sort(byKey('city'))).toEqual([
      { count: 3, city: 'London', country: 'UK', people: 27 },
      { count: 1, city: 'Paris', country: 'FR', people: 2 },
    ]);
    const withEmbed = await get(on, 'select=count(),...ag_customers(ag_cities(country))');
    expect((withEmbed.json as Record<string, unknown>[]).sort(byKey('ag_cities'))).toEqual([
      { count: 1, ag_cities: null },
      { count: 1, ag_cities: { country: 'FR' } },
      { count: 3, ag_cities: { country: 'UK' } },
    ]);
    const plain = await get(on, 'select=id,...ag_customers(city)&id=eq.3');
    expect(plain.json).toEqual([{ id: 3, city: 'Paris' }]);
  });

  it('aggregate the rows a write returns and a function returns', async () => {
    const write = await on.call('POST', '/ag_log?select=count(),amount.sum()', {
      headers: { ...(await bearer('service_role')), prefer: 'return=representation' },
      body: [
        { id: 1, amount: 2 },
        { id: 2, amount: 3 },
      ],
    });
    expect([write.status, write.json]).toEqual([201, [{ count: 2, sum: 5 }]]);
    const rpc = await on.call('GET', '/rpc/ag_orders_of?c=1&select=amount.sum(),count()');
    expect(rpc.json).toEqual([{ sum: 30.4, count: 2 }]);
  });

  it('answer invalid uses with PostgREST errors', async () => {
    for (const select of [
      '*.sum()',
      'amount.median()',
      'amount.sum',
      'amount.sum(id)',
      'count(*)',
      'amount.summary()',
    ]) {
      const r = await get(on, `select=${encodeURIComponent(select)}`);
      expect([r.status, (r.json as { code: string }).code], select).toEqual([400, 'PGRST100']);
    }
    const missing = await get(on, 'select=nope.sum()');
    expect([missing.status, (missing.json as { code: string }).code]).toEqual([400, '42703']);
    // Postgres has no sum(text): its undefined-function error, as PostgREST passes it on.
    const text = await on.call('GET', '/ag_customers?select=name.sum()');
    expect([text.status, (text.json as { code: string }).code]).toEqual([404, '42883']);
    // Ordering by a column that is neither grouped nor aggregated is Postgres's grouping error.
    const ungrouped = await get(on, 'select=amount.sum()&order=id');
    expect([ungrouped.status, (ungrouped.json as { code: string }).code]).toEqual([400, '42803']);
  });
});
