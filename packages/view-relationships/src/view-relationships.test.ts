import { describe, expect, it } from 'vitest';
import { type Exposed, type KeyEnds, keysThroughViews, type ViewColumn } from './index.js';

/** Relations by `schema.name` with their columns: what a caller serves. */
function exposing(relations: Record<string, string[]>): Exposed {
  return {
    hasRelation: (schema, name) => `${schema}.${name}` in relations,
    hasColumn: (schema, name, column) => relations[`${schema}.${name}`]?.includes(column) ?? false,
  };
}

const view = (at: string, column: string, base: string, tableColumn: string): ViewColumn => {
  const [viewSchema, viewName] = at.split('.') as [string, string];
  const [tableSchema, table] = base.split('.') as [string, string];
  return { viewSchema, view: viewName, column, tableSchema, table, tableColumn };
};

interface Key extends KeyEnds {
  readonly name: string;
}
const postsAuthor: Key = {
  name: 'posts_author_fkey',
  fromSchema: 'public',
  fromTable: 'posts',
  fromColumns: ['author'],
  toSchema: 'public',
  toTable: 'people',
  toColumns: ['id'],
};
/** `schema.name(columns) -> schema.name(columns)`, for readable expectations. */
const show = (k: KeyEnds) =>
  `${k.fromSchema}.${k.fromTable}(${k.fromColumns}) -> ${k.toSchema}.${k.toTable}(${k.toColumns})`;

describe('keysThroughViews', () => {
  const tables = { 'public.posts': ['id', 'author'], 'public.people': ['id', 'name'] };

  it('relates a view to the table on the other end, either way, and two views to each other', () => {
    const exposed = exposing({ ...tables, 'api.writings': ['wid', 'by'], 'api.persons': ['pid'] });
    const keys = keysThroughViews(
      [postsAuthor],
      [
        view('api.writings', 'wid', 'public.posts', 'id'),
        view('api.writings', 'by', 'public.posts', 'author'),
        view('api.persons', 'pid', 'public.people', 'id'),
      ],
      exposed,
    );
    expect(keys.map(show)).toEqual([
      'public.posts(author) -> api.persons(pid)',
      'api.writings(by) -> public.people(id)',
      'api.writings(by) -> api.persons(pid)',
    ]);
    // What else the key carries comes along.
    expect(keys.every((k) => k.name === 'posts_author_fkey')).toBe(true);
  });

  it('relates views of tables it does not serve, and never the tables themselves', () => {
    const exposed = exposing({ 'api.writings': ['by'], 'api.persons': ['pid'] });
    const keys = keysThroughViews(
      [postsAuthor],
      [
        view('api.writings', 'by', 'public.posts', 'author'),
        view('api.persons', 'pid', 'public.people', 'id'),
      ],
      exposed,
    );
    expect(keys.map(show)).toEqual(['api.writings(by) -> api.persons(pid)']);
  });

  it('needs every column of a side: a view exposing part of a composite key is no end of it', () => {
    const composite: Key = {
      ...postsAuthor,
      fromColumns: ['author', 'lang'],
      toColumns: ['id', 'lang'],
    };
    const exposed = exposing({
      ...tables,
      'public.people': ['id', 'lang'],
      'public.part': ['who'],
      'public.whole': ['who', 'l'],
    });
    const keys = keysThroughViews(
      [composite],
      [
        view('public.part', 'who', 'public.people', 'id'),
        view('public.whole', 'who', 'public.people', 'id'),
        view('public.whole', 'l', 'public.people', 'lang'),
      ],
      exposed,
    );
    expect(keys.map(show)).toEqual(['public.posts(author,lang) -> public.whole(who,l)']);
  });

  it("takes the view's own column over a nested subquery's name for the same base column", () => {
    // select x.pid as person from (select id as pid from people) x: the tree names `pid` first.
    const exposed = exposing({ ...tables, 'public.v': ['person'] });
    const keys = keysThroughViews(
      [postsAuthor],
      [view('public.v', 'pid', 'public.people', 'id'), view('public.v', 'person', 'public.people', 'id')],
      exposed,
    );
    expect(keys.map(show)).toEqual(['public.posts(author) -> public.v(person)']);
  });

  it('finds nothing without views, and nothing for a view of an unrelated table', () => {
    expect(keysThroughViews([postsAuthor], [], exposing(tables))).toEqual([]);
    const exposed = exposing({ ...tables, 'public.other': ['id'] });
    expect(
      keysThroughViews([postsAuthor], [view('public.other', 'id', 'public.tags', 'id')], exposed),
    ).toEqual([]);
  });
});
