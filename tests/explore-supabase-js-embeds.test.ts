import { describe, expect, it } from 'vitest';
import { exploreProjects } from './support/explore.js';

const SCHEMA = `
create table public.items (id int primary key, name text not null, parent_id int references public.items (id));
insert into public.items values (1, 'red apple', null), (2, 'green apple', 1), (3, 'red car', null), (4, 'blue car', 3), (5, 'lone', null);
create table public.notes (id int primary key, item_id int not null references public.items (id), body text not null);
insert into public.notes values (1, 1, 'crisp'), (2, 1, 'sweet'), (3, 3, 'fast'), (4, 2, 'sour');
create table public.specs (item_id int primary key references public.items (id), weight int not null);
insert into public.specs values (1, 150), (3, 1200);
create table public.students (id int primary key, name text not null);
create table public.courses (id int primary key, title text not null);
create table public.enrollments (
  student_id int references public.students (id),
  course_id int references public.courses (id),
  primary key (student_id, course_id)
);
insert into public.students values (1, 'ann'), (2, 'bob');
insert into public.courses values (1, 'math'), (2, 'art');
insert into public.enrollments values (1, 1), (1, 2), (2, 2);
`;

const project = exploreProjects('embeds', SCHEMA);

const ids = (rows: { id: number }[] | null) => rows?.map((r) => r.id);

describe('embedding as PostgREST 12 does it', () => {
  it('count with an !inner embed counts only parents with a match', async () => {
    const all = await project.service
      .from('items')
      .select('id, notes!inner(id)', { count: 'exact' })
      .order('id');
    expect(all.error).toBeNull();
    expect(ids(all.data as { id: number }[])).toEqual([1, 2, 3]);
    expect(all.count).toBe(3);
    const head = await project.service
      .from('items')
      .select('id, notes!inner(id)', { count: 'exact', head: true })
      .eq('notes.body', 'fast');
    expect(head.count).toBe(1);
    const anti = await project.service
      .from('items')
      .select('id, notes(id)', { count: 'exact' })
      .is('notes', null);
    expect(anti.count).toBe(2);
  });

  it('!left hint behaves as the default embed', async () => {
    const { data, error } = await project.service.from('items').select('id, notes!left(body)').eq('id', 5);
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 5, notes: [] }]);
  });

  it('spread on a to-many → 400 PGRST119', async () => {
    const { error, status } = await project.service.from('items').select('id, ...notes(body)');
    expect(status).toBe(400);
    expect(error).toEqual({
      code: 'PGRST119',
      details: "'items' and 'notes' do not form a many-to-one or one-to-one relationship",
      hint: null,
      message: "A spread operation on 'notes' is not possible",
    });
  });

  it('a unique foreign key embeds as one object (one-to-one)', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, specs(weight)')
      .in('id', [1, 2])
      .order('id');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 1, specs: { weight: 150 } },
      { id: 2, specs: null },
    ]);
  });

  it('many-to-many through a junction table', async () => {
    const { data, error } = await project.service.from('students').select('name, courses(title)').order('id');
    expect(error).toBeNull();
    expect(
      (data as { name: string; courses: { title: string }[] }[]).map((s) => ({
        name: s.name,
        courses: s.courses.map((c) => c.title).sort(),
      })),
    ).toEqual([
      { name: 'ann', courses: ['art', 'math'] },
      { name: 'bob', courses: ['art'] },
    ]);
  });

  it('nested embeds with a filter two levels down', async () => {
    const { data, error } = await project.service
      .from('students')
      .select('name, enrollments!inner(courses!inner(title))')
      .eq('enrollments.courses.title', 'math');
    expect(error).toBeNull();
    expect(data).toEqual([{ name: 'ann', enrollments: [{ courses: { title: 'math' } }] }]);
  });

  it('insert/update/delete return embedded rows', async () => {
    const inserted = await project.service
      .from('notes')
      .insert({ id: 10, item_id: 3, body: 'new' })
      .select('id, items(name)')
      .single();
    expect(inserted.error).toBeNull();
    expect(inserted.data).toEqual({ id: 10, items: { name: 'red car' } });
    const updated = await project.service
      .from('notes')
      .update({ item_id: 1 })
      .eq('id', 10)
      .select('id, items(name)');
    expect(updated.data).toEqual([{ id: 10, items: { name: 'red apple' } }]);
    const deleted = await project.service.from('notes').delete().eq('id', 10).select('id, items(name)');
    expect(deleted.data).toEqual([{ id: 10, items: { name: 'red apple' } }]);
  });

  it('single() on a write touching no row → 406 PGRST116 (0 rows)', async () => {
    const updated = await project.service
      .from('notes')
      .update({ body: 'x' })
      .eq('id', 999)
      .select('id')
      .single();
    expect(updated.status).toBe(406);
    expect(updated.error).toEqual({
      code: 'PGRST116',
      details: 'The result contains 0 rows',
      hint: null,
      message: 'Cannot coerce the result to a single JSON object',
    });
  });

  it('the same table embedded twice under aliases', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, first:notes(body), ids:notes(id)')
      .eq('id', 3);
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 3, first: [{ body: 'fast' }], ids: [{ id: 3 }] }]);
  });

  it('count exact with range through embedded order keeps the total', async () => {
    const { data, count, error, status } = await project.service
      .from('items')
      .select('id, notes(body)', { count: 'exact' })
      .order('id')
      .range(0, 1);
    expect(error).toBeNull();
    expect(status).toBe(206);
    expect(count).toBe(5);
    expect(ids(data as { id: number }[])).toEqual([1, 2]);
  });
});

project.secondProjectUntouched('select id, item_id, body from public.notes order by id', [
  { id: 1, item_id: 1, body: 'crisp' },
  { id: 2, item_id: 1, body: 'sweet' },
  { id: 3, item_id: 3, body: 'fast' },
  { id: 4, item_id: 2, body: 'sour' },
]);
