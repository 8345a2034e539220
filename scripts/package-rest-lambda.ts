/**
 * Packages @supaplane/rest's Lambda handler for AWS Lambda (ESM built for Node 20+, deployed as nodejs22.x):
 *   npx tsx scripts/package-rest-lambda.ts [--out dist]  →  dist/rest-lambda/index.mjs + dist/rest-lambda.zip
 * The zip's `index.mjs` exports `handler`, so the function handler is `index.handler`. Upload the zip
 * to the stack's RestArtifactBucket as rest/rest-lambda.zip (build-and-push.sh does that).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Zippable, zipSync } from 'fflate';
// @ts-expect-error plain ESM helper without type declarations
import { bundle } from '../infra/docker/bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda entry: one handler per cold start, configured from the function's environment. */
const REST_LAMBDA_ENTRY = `import { createLambdaHandler } from '@supaplane/rest';
export const handler = createLambdaHandler(process.env);
`;

interface PackageOptions {
  /** Output directory. Default `<repo>/dist`. */
  readonly outDir?: string;
  /** Entry source; default {@link REST_LAMBDA_ENTRY}. Resolved from the repository root. */
  readonly entrySource?: string;
}

/** Bundles the handler and zips it; returns the paths written. */
export async function packageRestLambda(options: PackageOptions = {}) {
  const outDir = resolve(options.outDir ?? join(root, 'dist'));
  const dir = join(outDir, 'rest-lambda');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // The entry must sit inside the workspace so that `@supaplane/rest` resolves from root node_modules.
  const entry = join(root, 'node_modules', `.supaplane-rest-lambda-entry-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(entry, options.entrySource ?? REST_LAMBDA_ENTRY);
  try {
    await bundle({ entry, outfile: join(dir, 'index.mjs'), minify: true });
  } finally {
    rmSync(entry, { force: true });
  }
  const files = ['index.mjs', 'index.mjs.map'].map((name) => ({ name, data: readFileSync(join(dir, name)) }));
  const zipPath = join(outDir, 'rest-lambda.zip');
  writeFileSync(zipPath, zip(files));
  return { dir, zipPath };
}

/** Timestamp of every entry: local midnight, 1 January 1980 (the zip epoch) in any time zone. */
const ZIP_EPOCH = new Date(1980, 0, 1);
/** Unix `-rw-r--r--` in the high half of the external attributes (with `os: 3`, Unix). */
const READABLE_FILE = (0o100644 << 16) >>> 0;

/**
 * The Lambda deployment zip: deflated files, no directories, fixed timestamps and modes, so the
 * artifact is byte-for-byte reproducible.
 */
export function zip(files: readonly { name: string; data: Buffer }[]): Buffer {
  const entries: Zippable = {};
  for (const file of files) {
    entries[file.name] = [file.data, { level: 9, mtime: ZIP_EPOCH, os: 3, attrs: READABLE_FILE }];
  }
  return Buffer.from(zipSync(entries));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? process.argv[outIndex + 1] : undefined;
  const { zipPath } = await packageRestLambda({ outDir });
  console.log(
    `rest Lambda artifact: ${relative(process.cwd(), zipPath)} (handler index.handler, runtime nodejs22.x)`,
  );
}
