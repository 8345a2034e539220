import { describe, expect, it } from 'vitest';
import { rest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';

const SCHEMA = `
create table public.items (id int primary key, name text not null, rank int, note text);
insert into public.items values (1, 'red apple', 2, null), (2, 'green apple', null, 'n'), (3, 'red car', 1, null);
`;

const project = exploreProjects('modifiers', SCHEMA);

const ids = (rows: { id: number }[] | null) => rows?.map((r) => r.id);

describe('supabase-js 2 modifiers and response media types', () => {
  it('notIn, isDistinct, regexMatch, regexIMatch', async () => {
    const q = () => project.service.from('items').select('id').order('id');
    expect(ids((await q().notIn('id', [1, 2])).data)).toEqual([3]);
    expect(ids((await q().isDistinct('rank', 2)).data)).toEqual([2, 3]);
    expect(ids((await q().regexMatch('name', '^red')).data)).toEqual([1, 3]);
    expect(ids((await q().regexIMatch('name', 'APPLE$')).data)).toEqual([1, 2]);
  });

  it('stripNulls() on arrays, single objects and writes', async () => {
    const many = await project.service.from('items').select('id, rank, note').order('id').stripNulls();
    expect(many.error).toBeNull();
    expect(many.data).toEqual([
      { id: 1, rank: 2 },
      { id: 2, note: 'n' },
      { id: 3, rank: 1 },
    ]);
    const one = await project.service
      .from('items')
      .select('id, rank, note')
      .eq('id', 2)
      .single()
      .stripNulls();
    expect(one.error).toBeNull();
    expect(one.data).toEqual({ id: 2, note: 'n' });
    const written = await project.service
      .from('items')
      .insert({ id: 9, name: 'x' })
      .select('id, rank')
      .stripNulls();
    expect(written.error).toBeNull();
    expect(written.data).toEqual([{ id: 9 }]);
    const raw = await rest(project.a.ref, 'items?select=id,note&id=eq.1', {
      key: project.a.secretKey,
      headers: { accept: 'application/vnd.pgrst.array+json;nulls=stripped' },
    });
    expect(raw.headers['content-type']).toBe(
      'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8',
    );
  });

  it('a response content type for csv, single and plain reads', async () => {
    const csv = await rest(project.a.ref, 'items?select=id&id=eq.1', {
      key: project.a.secretKey,
      headers: { accept: 'text/csv' },
    });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const single = await rest(project.a.ref, 'items?select=id&id=eq.1', {
      key: project.a.secretKey,
      headers: { accept: 'application/vnd.pgrst.object+json' },
    });
    expect(single.headers['content-type']).toBe('application/vnd.pgrst.object+json; charset=utf-8');
    const plain = await rest(project.a.ref, 'items?select=id&id=eq.1', { key: project.a.secretKey });
    expect(plain.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('setHeader() adds a header to one request (Prefer: count=exact)', async () => {
    const { count, error } = await project.service
      .from('items')
      .select('id')
      .setHeader('Prefer', 'count=exact');
    expect(error).toBeNull();
    expect(count).toBe(4);
  });
});

project.secondProjectUntouched('select count(*)::int n from public.items', [{ n: 3 }]);
