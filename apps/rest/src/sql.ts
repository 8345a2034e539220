import { apiError } from './errors.js';

/**
 * The SQL text helpers every planner module shares. Every value becomes a `$n` parameter; every
 * identifier goes through `ident` after being checked against the schema cache.
 */

export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The one quoting helper for identifiers. */
export function ident(name: string): string {
  if (name.includes('\u0000')) throw apiError(400, 'PGRST100', 'identifiers cannot contain NUL characters');
  return `"${name.replaceAll('"', '""')}"`;
}

export const qualified = (schema: string, name: string) => `${ident(schema)}.${ident(name)}`;

export interface Statement {
  readonly sql: string;
  readonly params: unknown[];
  /**
   * What PostgREST's own query calls the relations some of our aliases read (`pgrst_l1` picking a
   * limited write's rows is the table), for the messages of Postgres that name them.
   */
  readonly aliases?: ReadonlyMap<string, string>;
  /** Only parsed, never run (see BatchStatement). */
  readonly parseOnly?: boolean;
}

export const whereClause = (conditions: readonly string[]) =>
  conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';

/** Renumbers `$n` so each statement carries only the parameters it references. */
export function splitParams(statements: string[], values: unknown[]): Statement[] {
  return statements.map((sql) => {
    const used: unknown[] = [];
    const map = new Map<string, string>();
    const renumbered = sql.replace(/\$(\d+)/g, (_m, n: string) => {
      let to = map.get(n);
      if (!to) {
        used.push(values[Number(n) - 1]);
        to = `$${used.length}`;
        map.set(n, to);
      }
      return to;
    });
    return { sql: renumbered, params: used };
  });
}
