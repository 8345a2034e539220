import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform, supabaseFor } from './support/clients.js';
import { createProject, deleteProject, type TestProject } from './support/projects.js';

// Supabase's own MCP server (@supabase/mcp-server-supabase, what AI editors run against a project),
// pointed at Supaplane's operator API with `--api-url`, over its stdio transport: the database and
// development tools an assistant uses work unchanged. (get_project_url is the server's own guess from
// the API's host name, and logs are not served here: both are left out.)

let project: TestProject;
let server: McpServer;

/** The MCP server as a child process, spoken to in JSON-RPC, one message per line (MCP's stdio transport). */
class McpServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
  private nextId = 0;
  private buffered = '';
  readonly stderr: string[] = [];

  constructor(args: string[]) {
    const require = createRequire(import.meta.url);
    // The package exports its library only; its `bin` sits beside it in dist/.
    const cli = join(dirname(require.resolve('@supabase/mcp-server-supabase')), 'cli.js');
    this.child = spawn(process.execPath, [cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk) => this.stderr.push(String(chunk)));
    this.child.stdout.on('data', (chunk) => {
      this.buffered += chunk;
      for (let end = this.buffered.indexOf('\n'); end >= 0; end = this.buffered.indexOf('\n')) {
        const message = JSON.parse(this.buffered.slice(0, end));
        this.buffered = this.buffered.slice(end + 1);
        this.waiting.get(message.id)?.(message);
      }
    });
  }

  request(method: string, params: unknown): Promise<{ result?: unknown; error?: unknown }> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  notify(method: string): void {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`);
  }

  /** A tool's answer: its text content parsed as JSON, with whether the server marked it an error. */
  async tool(name: string, args: Record<string, unknown> = {}): Promise<{ isError: boolean; body: unknown }> {
    const { result, error } = await this.request('tools/call', { name, arguments: args });
    if (error) throw new Error(`${name}: ${JSON.stringify(error)}`);
    const { content, isError } = result as { content: { text: string }[]; isError?: boolean };
    return { isError: isError === true, body: JSON.parse(content[0]!.text) };
  }

  close(): void {
    this.child.kill();
  }
}

beforeAll(async () => {
  project = await createProject('mcp');
  server = new McpServer([
    '--access-token',
    platform().adminKey,
    '--project-ref',
    project.ref,
    '--api-url',
    platform().tenantManagerUrl,
    '--features',
    'database,development,debugging',
  ]);
  const init = await server.request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'supaplane-e2e', version: '1' },
  });
  expect(init.error, server.stderr.join('')).toBeUndefined();
  server.notify('notifications/initialized');
});
afterAll(async () => {
  server?.close();
  if (project) await deleteProject(project.ref);
});

describe("Supabase's MCP server against the operator API", () => {
  it('applies and lists a migration, lists the table, runs SQL, and the app reads it', async () => {
    const applied = await server.tool('apply_migration', {
      name: 'create_notes',
      query:
        'create table public.notes (id int primary key, body text); insert into public.notes values (1, $$hi$$);',
    });
    expect(applied).toEqual({ isError: false, body: { success: true } });
    const migrations = await server.tool('list_migrations');
    expect(migrations.body).toEqual({
      migrations: [{ version: expect.stringMatching(/^\d{14}$/), name: 'create_notes' }],
    });
    const tables = (await server.tool('list_tables', { schemas: ['public'] })).body as {
      tables: { name: string; rls_enabled: boolean; rows: number }[];
    };
    expect(tables.tables).toContainEqual({ name: 'public.notes', rls_enabled: false, rows: 1 });
    const selected = await server.tool('execute_sql', { query: 'select body from public.notes' });
    expect(selected.isError).toBe(false);
    expect(JSON.stringify(selected.body)).toContain('[{\\"body\\":\\"hi\\"}]');

    const { data, error } = await supabaseFor(project.ref, project.secretKey).from('notes').select('body');
    expect(error).toBeNull();
    expect(data).toEqual([{ body: 'hi' }]);
  });

  it('warns that the table is open to the publishable key, generates types, and lists the publishable key', async () => {
    // The server groups Supabase's lints by name, each with its findings.
    const advisors = (await server.tool('get_advisors', { type: 'security' })).body as {
      result: { lints: { name: string; findings: { metadata: { name: string } }[] }[] };
    };
    const open = advisors.result.lints.find((lint) => lint.name === 'rls_disabled_in_public');
    expect(open?.findings.map((f) => f.metadata.name)).toEqual(['notes']);
    const types = (await server.tool('generate_typescript_types')).body as { types: string };
    expect(types.types).toContain('export type Database = {');
    expect(types.types).toMatch(/notes: \{\n\s+Row: \{\n\s+id: number\n\s+body: string \| null/);
    const keys = (await server.tool('get_publishable_keys')).body as {
      keys: { api_key: string; type: string }[];
    };
    expect(keys.keys).toContainEqual(
      expect.objectContaining({ api_key: project.publishableKey, type: 'publishable' }),
    );
  });

  it('reports a failing migration as an error and keeps nothing of it', async () => {
    const failed = await server.tool('apply_migration', {
      name: 'broken',
      query: 'create table public.half (id int); select 1/0;',
    });
    expect(failed.isError).toBe(true);
    expect(JSON.stringify(failed.body)).toContain('division by zero');
    const migrations = (await server.tool('list_migrations')).body as { migrations: { name: string }[] };
    expect(migrations.migrations.map((m) => m.name)).toEqual(['create_notes']);
    const half = await server.tool('execute_sql', { query: "select to_regclass('public.half') as t" });
    expect(JSON.stringify(half.body)).toContain('[{\\"t\\":null}]');
  });
});
