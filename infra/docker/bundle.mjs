#!/usr/bin/env node
// Bundles a service entry point (gateway/src/main.ts, apps/tenant-manager/src/main.ts) into one ESM
// file with esbuild, so images carry no TypeScript tooling: `node infra/docker/bundle.mjs <entry> <outfile>`.
// esbuild is resolved from the workspace (apps/rest depends on it for the Lambda artifact).
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function loadEsbuild() {
  const require = createRequire(join(root, 'apps/rest/package.json'));
  return import(pathToFileURL(require.resolve('esbuild')).href);
}

// CommonJS dependencies bundled into ESM still expect require, __filename and __dirname.
const BANNER = [
  "import { createRequire as __cr } from 'node:module';",
  "import { fileURLToPath as __fu } from 'node:url';",
  "import { dirname as __dn } from 'node:path';",
  'const require = __cr(import.meta.url);',
  'const __filename = __fu(import.meta.url);',
  'const __dirname = __dn(__filename);',
].join('\n');

/**
 * Bundles `entry` into `outfile` (ESM, Node 20). Returns the list of bundled input files.
 * Packages that read files next to their own sources get those files copied (see below).
 */
export async function bundle({ entry, outfile, minify = false }) {
  const esbuild = await loadEsbuild();
  const result = await esbuild.build({
    entryPoints: [resolve(entry)],
    outfile: resolve(outfile),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify,
    sourcemap: true,
    legalComments: 'none',
    // Optional native binding of pg, never installed.
    external: ['pg-native'],
    banner: { js: BANNER },
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  // @fastify/swagger-ui serves ./static from both its index.js and lib/routes.js directories; with
  // every module sharing the bundle's __dirname those are <outdir>/static and <outdir>/../static.
  const swagger = inputs.find((p) => p.endsWith('@fastify/swagger-ui/index.js'));
  if (swagger) {
    const source = join(dirname(resolve(root, swagger)), 'static');
    const outdir = dirname(resolve(outfile));
    for (const target of [join(outdir, 'static'), join(outdir, '..', 'static')]) {
      if (existsSync(source)) {
        mkdirSync(target, { recursive: true });
        cpSync(source, target, { recursive: true });
      }
    }
  }
  return inputs;
}

/**
 * The node flags an image starts its service with: the `--` options between `node` and the script in
 * the Dockerfile's `ENTRYPOINT ["node", …]`. The benchmark and the packaging test start the bundle
 * the same way, so what they measure and prove is what the image runs.
 */
export function entrypointNodeFlags(dockerfile) {
  const match = readFileSync(dockerfile, 'utf8').match(/^ENTRYPOINT\s+(\[.*\])\s*$/m);
  if (!match) throw new Error(`${dockerfile}: no ENTRYPOINT ["node", ...] line`);
  const [command, ...args] = JSON.parse(match[1]);
  if (command !== 'node') throw new Error(`${dockerfile}: ENTRYPOINT does not start node`);
  const script = args.findIndex((arg) => !arg.startsWith('--'));
  return script < 0 ? args : args.slice(0, script);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, outfile] = process.argv.slice(2);
  if (!entry || !outfile) {
    console.error('usage: node infra/docker/bundle.mjs <entry.ts> <outfile.mjs>');
    process.exit(2);
  }
  const inputs = await bundle({ entry, outfile });
  console.log(`bundled ${entry} -> ${outfile} (${inputs.length} modules)`);
}
