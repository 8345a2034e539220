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
 * Fails before anything starts when this data dir's stack already runs (naming its pid and where its
 * URLs and keys are), or when a port is taken, naming each with its variable and a free port to move
 * it to, instead of a half-started stack failing on the first bind. The PostgreSQL port is left to
 * PostgreSQL's start when the data dir's own server holds it: a server a killed stack left behind is
 * taken over there, and one still in use is reported as such.
 */
export async function ensurePortsFree(ports: StackPorts, dataDir: string): Promise<void> {
  const running = await runningStack(dataDir);
  if (running) {
    throw new Error(
      `the local stack of ${dataDir} is already running (pid ${running.pid}): its URLs and keys are in ${running.file}; use it, or stop it first (Ctrl-C in its terminal, or kill -INT ${running.pid})`,
    );
  }
  // Line 4 of postmaster.pid is the port the data dir's server listens on.
  const postmaster = await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '');
  const ownServerPort = Number(postmaster.split('\n')[3]);
  const taken: Array<{ port: number; variable: string }> = [];
  for (const [name, port] of Object.entries(ports) as Array<[keyof StackPorts, number]>) {
    if (name === 'pgPort' && port === ownServerPort) continue;
    if (!(await isFree(port))) taken.push({ port, variable: STACK_PORTS[name].variable });
  }
  if (taken.length === 0) return;
  const listed = taken.map(({ port, variable }) => `${port} (${variable})`).join(', ');
  // A free port above each taken one, none of them one the stack already uses or another suggestion.
  const avoid = new Set<number>(Object.values(ports));
  const moves: string[] = [];
  for (const { port, variable } of taken) {
    let other = port + 1;
    while (other < 65_535 && (avoid.has(other) || !(await isFree(other)))) other++;
    avoid.add(other);
    moves.push(`${variable}=${other}`);
  }
  throw new Error(
    `port ${listed} ${taken.length > 1 ? 'are' : 'is'} already in use, by another program or a local stack on another data dir: stop it, or start this one on other ports, e.g. ${moves.join(' ')} bash scripts/up.sh`,
  );
}

const isFree = (port: number) =>
  freePort(port).then(
    () => true,
    () => false,
  );

/**
 * The stack that wrote `<dataDir>/local-stack.json`, while it still runs: its pid is alive and, where
 * /proc tells, still the local stack (not a pid reused since a crash).
 */
async function runningStack(dataDir: string): Promise<{ pid: number; file: string } | undefined> {
  const file = join(dataDir, 'local-stack.json');
  const pid = await readFile(file, 'utf8')
    .then((text) => Number(JSON.parse(text).pid))
    .catch(() => 0);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined && !cmdline.includes('local-stack')) return undefined;
  return { pid, file };
}
