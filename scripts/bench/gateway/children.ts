/** Child processes of the gateway benchmarks (bench and profile): started with tsx, killed at the end. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Loads the gateway package's (dev) dependencies: undici, autocannon, fastify. */
export const requireFromGateway = createRequire(`${root}gateway/package.json`);

/** Every process started through {@link startChild}; the caller kills them when done. */
export const children: ChildProcess[] = [];

/** `node [nodeArgs] --import tsx <args>` from the repository root, with `env` added. */
export function startChild(
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  stdout: 'pipe' | 'ignore' = 'pipe',
  node: string = process.execPath,
): ChildProcess {
  const child = spawn(node, [...nodeArgs, '--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit'],
  });
  children.push(child);
  return child;
}

/** The first line a child prints (its ready message); rejects if it exits first. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve(buffer.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

/** The benchmark's internal API token and project base domain (the upstream child serves both). */
export const BENCH_TOKEN = 'bench-internal-token';
export const BENCH_BASE_DOMAIN = 'supaplane.bench';

/** Environment of a gateway child in local mode against the upstream child's test registry. */
export function gatewayEnv(options: {
  port: number;
  registryUrl: string;
  redisUrl?: string;
  logLevel: string;
}): Record<string, string> {
  return {
    LOCAL_MODE: 'true',
    BASE_DOMAIN: BENCH_BASE_DOMAIN,
    GATEWAY_PORT: String(options.port),
    TENANT_MANAGER_INTERNAL_URL: options.registryUrl,
    INTERNAL_SERVICE_TOKEN: BENCH_TOKEN,
    LOCAL_AWS_ACCESS_KEY_ID: 'AKIDBENCH',
    LOCAL_AWS_SECRET_ACCESS_KEY: 'bench-secret',
    REDIS_URL: options.redisUrl ?? '',
    LOG_LEVEL: options.logLevel,
  };
}
