/** What `pnpm start` shows of a running stack: the banner it prints and the `local-stack.json` it writes. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DemoProject } from './operator-setup.js';

/** The URLs and keys an app or an operator needs. */
export interface StackSummary {
  readonly gatewayUrl: string;
  readonly tenantManagerUrl: string;
  readonly internalUrl: string;
  readonly adminKey: string;
  readonly baseDomain: string;
  readonly demoProject: DemoProject;
}

/**
 * Writes `<dataDir>/local-stack.json` (0600), what scripts and operators read:
 * `{gatewayUrl, tenantManagerUrl, internalUrl, adminKey, baseDomain, demoProject, pid}`, `pid` being
 * this process, the stack's (how a second start on the data dir finds it running). Returns its path.
 */
export async function writeStackSummary(dataDir: string, stack: StackSummary): Promise<string> {
  const { gatewayUrl, tenantManagerUrl, internalUrl, adminKey, baseDomain, demoProject } = stack;
  const file = join(dataDir, 'local-stack.json');
  const summary = {
    gatewayUrl,
    tenantManagerUrl,
    internalUrl,
    adminKey,
    baseDomain,
    demoProject,
    pid: process.pid,
  };
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** The banner `pnpm start` prints: every command in it works when pasted. */
export function describeStack(stack: StackSummary): string {
  const gateway = new URL(stack.gatewayUrl);
  const projectUrl = `${gateway.protocol}//${stack.demoProject.ref}.${stack.baseDomain}:${gateway.port}`;
  const { ref, publishableKey, secretKey } = stack.demoProject;
  return `
Supaplane is running.

  Gateway (apps use this)   ${stack.gatewayUrl}
  Demo project URL          ${projectUrl}   (browsers and curl resolve *.localhost; Node: use the gateway URL)
  Tenant-manager API        ${stack.tenantManagerUrl}   (OpenAPI at ${stack.tenantManagerUrl}/docs)
  Internal API              ${stack.internalUrl}   (gateway and functions only, never apps)
  Admin key                 ${stack.adminKey}

  Demo project ref          ${ref}
  Publishable key           ${publishableKey}
  Secret key                ${secretKey}
  Database (migrations)     ${stack.demoProject.databaseUrl}

Data API (the demo's todos table, readable with the publishable key):

  curl '${stack.gatewayUrl}/rest/v1/todos?select=*' -H 'apikey: ${publishableKey}'

supabase-js (in a new directory, not this checkout: npm i @supabase/supabase-js ws;
save as demo.mjs and run node demo.mjs; ws is for Node 20, which has no WebSocket of its own):

  import { createClient } from '@supabase/supabase-js';
  import ws from 'ws';

  const supabase = createClient('${stack.gatewayUrl}', '${publishableKey}', {
    realtime: { transport: ws },
  });
  const { data, error } = await supabase.from('todos').select('*');
  console.log(error ?? data);

Operator API:

  curl -H 'Authorization: Bearer ${stack.adminKey}' ${stack.tenantManagerUrl}/v1/projects
  curl -H 'Authorization: Bearer ${stack.adminKey}' ${stack.tenantManagerUrl}/v1/projects/${ref}/usage

Database, directly (migrations, psql, ORMs; as the project's owner role):

  psql '${stack.demoProject.databaseUrl}' -c 'select * from todos'

Ctrl-C stops everything.
`;
}
