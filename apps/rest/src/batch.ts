import type pg from 'pg';
import { JsonNumber, jsonText } from './json-number.js';

/**
 * Several statements in one extended-protocol message group with a single Sync: one write, one
 * round trip, and — outside an explicit BEGIN — one implicit transaction, so `set_config(…, true)`
 * from the first statement holds for the rest and everything commits or rolls back together at
 * Sync. node-pg runs this as a custom submittable (like pg-cursor) on a non-pipelined client.
 */

export interface BatchStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Prepare once per connection under this name. */
  readonly name?: string;
  /** Default true: keep the parsed, planned statement per connection (like PostgREST). */
  readonly prepare?: boolean;
  /** Only parsed (Postgres's parse analysis and its errors, such as a 42703), never run: no result. */
  readonly parseOnly?: boolean;
}

export interface BatchResult {
  /** Rows as text fields in column order (no RowDescription is requested). */
  readonly rows: (string | null)[][];
  readonly rowCount: number;
}

interface ProtocolConnection {
  close(msg: { type: 'S'; name: string }): void;
  parse(msg: { text: string; name?: string; types?: number[] }): void;
  bind(msg: { portal?: string; statement?: string; values?: unknown[] }): void;
  execute(msg: { portal?: string; rows?: number }): void;
  sync(): void;
  sendCopyFail(msg: string): void;
  stream: { cork?: () => void; uncork?: () => void };
}

/** Prepared statements of one connection: SQL text → name, least recently used first. */
class StatementCache {
  readonly byText = new Map<string, string>();
  /** Statements to Close with the next batch (evicted, or maybe half-parsed by a failed batch). */
  readonly toClose: string[] = [];
  private counter = 0;
  constructor(private readonly capacity: number) {}

  /** The statement's name, and whether it still has to be parsed. */
  lookup(statement: BatchStatement): { name: string; parse: boolean } {
    const key = statement.name ? `\u0000${statement.name}` : statement.sql;
    const known = this.byText.get(key);
    if (known) {
      this.byText.delete(key);
      this.byText.set(key, known);
      return { name: known, parse: false };
    }
    const name = statement.name ?? `pgrst_s${++this.counter}`;
    this.byText.set(key, name);
    if (this.byText.size > this.capacity) {
      const [oldestKey, oldestName] = this.byText.entries().next().value as [string, string];
      this.byText.delete(oldestKey);
      this.toClose.push(oldestName);
    }
    return { name, parse: true };
  }

  forget(name: string) {
    for (const [key, value] of this.byText) {
      if (value === name) {
        this.byText.delete(key);
        this.toClose.push(name);
        return;
      }
    }
  }
}

const STATEMENTS_PER_CONNECTION = 256;
const caches = new WeakMap<object, StatementCache>();

/** Text form of a parameter as Postgres parses it; arrays become array literals, bytes bytea hex. */
function toParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (Array.isArray(value)) return arrayLiteral(value);
  if (value instanceof JsonNumber) return value.text;
  if (typeof value === 'object') return jsonText(value);
  return String(value);
}

function arrayLiteral(values: unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    const text = typeof v === 'object' && !(v instanceof JsonNumber) ? jsonText(v) : String(v);
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

class Batch {
  private readonly results: BatchResult[] = [];
  private rows: (string | null)[][] = [];
  private done = false;
  private cache: StatementCache | undefined;
  private readonly parsed: string[] = [];
  /**
   * Parameters as text, converted before the batch reaches the client: a value that cannot be
   * converted (an array nested past the stack) must fail here. Thrown inside `submit`, it would
   * leave node-pg waiting forever for this batch, and the connection with it.
   */
  private readonly values: (string | null)[][];

  constructor(
    private readonly statements: readonly BatchStatement[],
    public callback: (error: Error | undefined, results?: BatchResult[]) => void,
  ) {
    this.values = statements.map((statement) => statement.params.map(toParam));
  }

  submit(connection: ProtocolConnection) {
    const cache = caches.get(connection) ?? new StatementCache(STATEMENTS_PER_CONNECTION);
    caches.set(connection, cache);
    this.cache = cache;
    connection.stream.cork?.();
    try {
      // Closing a statement that does not exist is not an error, so this is always safe.
      for (const name of cache.toClose.splice(0)) connection.close({ type: 'S', name });
      for (const [i, statement] of this.statements.entries()) {
        const values = this.values[i]!;
        let name = '';
        if (statement.parseOnly) {
          connection.parse({ text: statement.sql, types: [] });
          continue;
        }
        if (statement.prepare !== false) {
          const entry = cache.lookup(statement);
          name = entry.name;
          if (entry.parse) this.parsed.push(name);
          if (entry.parse) connection.parse({ text: statement.sql, name, types: [] });
        } else connection.parse({ text: statement.sql, types: [] });
        connection.bind({ portal: '', statement: name, values });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription() {}
  handleDataRow(msg: { fields: (string | null)[] }) {
    this.rows.push(msg.fields);
  }
  handleCommandComplete(msg: { text: string }) {
    const count = /(\d+)$/.exec(msg.text);
    this.results.push({ rows: this.rows, rowCount: count ? Number(count[1]) : 0 });
    this.rows = [];
  }
  handleEmptyQuery() {
    this.results.push({ rows: [], rowCount: 0 });
  }
  handlePortalSuspended() {}
  handleCopyInResponse(connection: ProtocolConnection) {
    connection.sendCopyFail('COPY is not supported');
  }
  handleCopyData() {}
  handleError(error: Error) {
    // After an error the server skipped the rest of the batch: statements first parsed here may
    // not exist. Forget them (and close them, in case they do).
    for (const name of this.parsed) this.cache?.forget(name);
    this.finish(error);
  }
  handleReadyForQuery() {
    this.finish(undefined);
  }
  private finish(error: Error | undefined) {
    if (this.done) return;
    this.done = true;
    if (error) this.callback(error);
    else this.callback(undefined, this.results);
  }
}

/** Sends `statements` as one batch on `client`; rejects with the first error. */
export function runBatch(
  client: pg.PoolClient,
  statements: readonly BatchStatement[],
): Promise<BatchResult[]> {
  return new Promise((resolve, reject) => {
    const batch = new Batch(statements, (error, results) => (error ? reject(error) : resolve(results!)));
    (client as unknown as { query(q: unknown): unknown }).query(batch);
  });
}
