/** The stack's five listening ports: defaults, the variables that move them, and the free-port check. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, stablePorts } from '@supaplane/local-services';

export type StackPorts = {
  readonly pgPort: number;
  readonly gatewayPort: number;
  readonly tmPublicPort: number;
  readonly tmInternalPort: number;
  readonly lambdaPort: number;
};

/** Each port's default and the variable `pnpm start` reads it from (also named in messages). */
const STACK_PORTS: Record<keyof StackPorts, { readonly variable: string; readonly fallback: number }> = {
  pgPort: { variable: 'PG_PORT', fallback: 54329 },
  gatewayPort: { variable: 'GATEWAY_PORT', fallback: 8000 },
  tmPublicPort: { variable: 'TM_PUBLIC_PORT', fallback: 3001 },
  tmInternalPort: { variable: 'TM_INTERNAL_PORT', fallback: 3002 },
  lambdaPort: { variable: 'LAMBDA_PORT', fallback: 9000 },
};

/** `given`'s ports, each missing one its default. */
export function stackPorts(given: (name: keyof StackPorts) => number | undefined): StackPorts {
  const names = Object.keys(STACK_PORTS) as Array<keyof StackPorts>;
  return Object.fromEntries(
    names.map((name) => [name, given(name) ?? STACK_PORTS[name].fallback]),
  ) as StackPorts;
}

/** The ports set in `env` (PG_PORT, GATEWAY_PORT, …), each unset one its default; a bad value throws. */
export function portsFromEnv(env: NodeJS.ProcessEnv): StackPorts {
  return stackPorts((name) => {
    const { variable } = STACK_PORTS[name];
    const raw = env[variable];
    if (!raw) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > 65_535)
      throw new Error(`${variable} must be a port number`);
    return value;
  });
}

/**
 * Distinct free ports for every service, for suites that start a stack of their own (and restart it on
 * the same ports: below the ephemeral range, see `stablePorts`).
 */
export async function freeStackPorts(): Promise<StackPorts> {
  const [pgPort, gatewayPort, tmPublicPort, tmInternalPort, lambdaPort] = (await stablePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { pgPort, gatewayPort, tmPublicPort, tmInternalPort, lambdaPort };
}

/**
 * Fails before anything starts when a port is taken (most often by a stack already running), naming
 * the port, its variable and what to do, instead of a half-started stack failing on the first bind.
 * The PostgreSQL port is left to PostgreSQL's start when the data dir's own server holds it: a server
 * a killed stack left behind is taken over there, and one still in use is reported as such.
 */
export async function ensurePortsFree(ports: StackPorts, dataDir: string): Promise<void> {
  // Line 4 of postmaster.pid is the port the data dir's server listens on.
  const postmaster = await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '');
  const ownServerPort = Number(postmaster.split('\n')[3]);
  const taken: Array<{ port: number; variable: string }> = [];
  for (const [name, port] of Object.entries(ports) as Array<[keyof StackPorts, number]>) {
    if (name === 'pgPort' && port === ownServerPort) continue;
    const free = await freePort(port).then(
      () => true,
      () => false,
    );
    if (!free) taken.push({ port, variable: STACK_PORTS[name].variable });
  }
  const [first] = taken;
  if (!first) return;
  const listed = taken.map(({ port, variable }) => `${port} (${variable})`).join(', ');
  throw new Error(
    `port ${listed} ${taken.length > 1 ? 'are' : 'is'} already in use. Is another local stack running? Stop it with Ctrl-C, or start this one on other ports (e.g. ${first.variable}=${first.port + 1} bash scripts/up.sh)`,
  );
}
