import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, platform, supabaseFor } from './support/clients.js';
import {
  createProject,
  deleteProject,
  eventually,
  projectCredentials,
  sql,
  type TestProject,
  uniqueName,
  waitForStatus,
} from './support/projects.js';

// Supabase's own MCP server (@supabase/mcp-server-supabase, what AI editors run against a project),
// pointed at Supaplane's operator API with `--api-url`, over its stdio transport: the database and
// development tools an assistant uses work unchanged, and so do the account tools an operator's
// assistant uses without `--project-ref` (organizations, cost, create, list, pause, restore).
// (get_project_url is the server's own guess from the API's host name, never asked of the API, and
// logs are not served here: both are left out.)

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

/** The MCP server started with `args` (and the operator API's URL and key), initialized. */
async function startMcpServer(args: string[]): Promise<McpServer> {
  const server = new McpServer([
    '--access-token',
    platform().adminKey,
    '--api-url',
    platform().tenantManagerUrl,
    ...args,
  ]);
  const init = await server.request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'supaplane-e2e', version: '1' },
  });
  expect(init.error, server.stderr.join('')).toBeUndefined();
  server.notify('notifications/initialized');
  return server;
}

describe("Supabase's MCP server against the operator API", () => {
  let project: TestProject;
  let server: McpServer;

  beforeAll(async () => {
    project = await createProject('mcp');
    server = await startMcpServer([
      '--project-ref',
      project.ref,
      '--features',
      'database,development,debugging',
    ]);
  });
  afterAll(async () => {
    server?.close();
    if (project) await deleteProject(project.ref);
  });

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

describe("Supabase's MCP server for an account (no --project-ref) against the operator API", () => {
  let server: McpServer;
  let organizationId: string;
  let region: string;
  let ref: string | undefined;
  let putBackRegion: (() => Promise<unknown>) | undefined;

  /** A region some active cluster serves, as the server's create_project only takes AWS region codes. */
  async function awsRegion(): Promise<string> {
    const listed = await admin('GET', '/v1/clusters');
    expect(listed.status, listed.text).toBe(200);
    const clusters = listed.json() as { id: string; region: string; status: string }[];
    const active = clusters.filter((c) => c.status === 'active');
    const served = active.find((c) => /^[a-z]{2}-[a-z]+-\d$/.test(c.region));
    if (served) return served.region;
    // The local stack's one cluster is in region `local`: name it as an AWS region for this suite.
    const local = active.find((c) => c.region === 'local');
    if (!platform().local || !local) throw new Error('no active worker cluster in an AWS region');
    const patched = await admin('PATCH', `/v1/clusters/${local.id}`, { region: 'us-east-1' });
    expect(patched.status, patched.text).toBe(200);
    putBackRegion = () => admin('PATCH', `/v1/clusters/${local.id}`, { region: 'local' });
    return 'us-east-1';
  }

  beforeAll(async () => {
    region = await awsRegion();
    server = await startMcpServer(['--features', 'account,database,development,functions']);
  });
  afterAll(async () => {
    server?.close();
    if (ref) await deleteProject(ref);
    await putBackRegion?.();
  });

  it("lists the platform's organization and answers the cost of a project: $0, nothing is billed", async () => {
    const organizations = await admin('GET', '/v1/organizations');
    expect(organizations.status, organizations.text).toBe(200);
    const [own] = organizations.json() as { id: string; slug: string; name: string }[];
    organizationId = own!.id;
    expect(await server.tool('list_organizations')).toEqual({
      isError: false,
      body: { organizations: [own] },
    });
    const organization = await server.tool('get_organization', { id: organizationId });
    expect(organization).toEqual({
      isError: false,
      body: expect.objectContaining({ id: organizationId, name: own!.name, plan: 'free' }),
    });
    const cost = await server.tool('get_cost', { type: 'project', organization_id: organizationId });
    expect(cost).toEqual({ isError: false, body: { type: 'project', recurrence: 'monthly', amount: 0 } });
  });

  it('creates a project once its cost is confirmed, and lists and reads it', async () => {
    const confirmed = await server.tool('confirm_cost', {
      type: 'project',
      recurrence: 'monthly',
      amount: 0,
    });
    const { confirmation_id } = confirmed.body as { confirmation_id: string };
    const name = uniqueName('mcp-account');
    const created = await server.tool('create_project', {
      name,
      region,
      organization_id: organizationId,
      confirm_cost_id: confirmation_id,
    });
    expect(created.isError, JSON.stringify(created.body)).toBe(false);
    ref = (created.body as { ref: string }).ref;
    expect(created.body).toMatchObject({ name, region, organization_id: organizationId });

    // The operator API has it, in the region asked for, and it comes up.
    await waitForStatus(ref, 'ACTIVE_HEALTHY');
    const read = await admin('GET', `/v1/projects/${ref}`);
    expect(read.json()).toMatchObject({ ref, name, region, organization_slug: organizationId });

    const listed = (await server.tool('list_projects')).body as { projects: Record<string, unknown>[] };
    expect(listed.projects.find((p) => p['ref'] === ref)).toMatchObject({
      name,
      region,
      organization_id: organizationId,
      organization_slug: organizationId,
      status: 'ACTIVE_HEALTHY',
      created_at: expect.any(String),
    });
    // The id the listing gave (the ref, as on Supabase) reaches the project, as an agent passes it.
    const id = listed.projects.find((p) => p['ref'] === ref)!['id'];
    expect(id).toBe(ref);
    const got = await server.tool('get_project', { id });
    expect(got).toEqual({ isError: false, body: expect.objectContaining({ ref, status: 'ACTIVE_HEALTHY' }) });
  });

  it("lists the new project's extensions and its Edge Functions (none are hosted here)", async () => {
    expect(ref).toBeDefined();
    const extensions = (await server.tool('list_extensions', { project_id: ref })).body as {
      extensions: { name: string; installed_version: string | null }[];
    };
    expect(extensions.extensions).toContainEqual(
      expect.objectContaining({ name: 'plpgsql', installed_version: '1.0' }),
    );
    expect(await server.tool('list_edge_functions', { project_id: ref })).toEqual({
      isError: false,
      body: { functions: [] },
    });
  });

  it('pauses the project (the data API refuses it) and restores it (the data API serves its rows again)', async () => {
    expect(ref).toBeDefined();
    const project = ref as string;
    await sql(
      project,
      "create table public.kept (id int primary key, note text); insert into public.kept values (1, 'still here');",
    );
    const { secretKey } = await projectCredentials(project);
    const readKept = () => supabaseFor(project, secretKey).from('kept').select('note');

    expect(await server.tool('pause_project', { project_id: project })).toEqual({
      isError: false,
      body: { success: true },
    });
    expect((await admin('GET', `/v1/projects/${project}`)).json()).toMatchObject({ status: 'INACTIVE' });
    await eventually(async () => (await readKept()).status === 503, 10_000);

    expect(await server.tool('restore_project', { project_id: project })).toEqual({
      isError: false,
      body: { success: true },
    });
    expect((await admin('GET', `/v1/projects/${project}`)).json()).toMatchObject({
      status: 'ACTIVE_HEALTHY',
    });
    await eventually(async () => (await readKept()).status === 200, 10_000);
    const { data, error } = await readKept();
    expect(error).toBeNull();
    expect(data).toEqual([{ note: 'still here' }]);
  });
});
