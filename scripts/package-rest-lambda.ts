/**
 * Packages @supaplane/rest's Lambda handler for AWS Lambda (ESM built for Node 20+, deployed as nodejs22.x):
 *   npx tsx scripts/package-rest-lambda.ts [--out dist]  →  dist/rest-lambda/index.mjs + dist/rest-lambda.zip
 * The zip's `index.mjs` exports `handler`, so the function handler is `index.handler`. Upload the zip
 * to the stack's RestArtifactBucket as rest/rest-lambda.zip (build-and-push.sh does that).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
// @ts-expect-error plain ESM helper without type declarations
import { bundle } from '../infra/docker/bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda entry: one handler per cold start, configured from the function's environment. */
export const REST_LAMBDA_ENTRY = `import { createLambdaHandler } from '@supaplane/rest';
export const handler = createLambdaHandler(process.env);
`;

export interface PackageOptions {
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

/** A minimal zip writer (deflate, no directories), enough for a Lambda deployment package. */
export function zip(files: readonly { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  // 1980-01-01 00:00: a fixed timestamp keeps the artifact byte-for-byte reproducible.
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const file of files) {
    const name = Buffer.from(file.name, 'utf8');
    const compressed = deflateRawSync(file.data, { level: 9 });
    const crc = crc32(file.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(file.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(file.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // -rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? process.argv[outIndex + 1] : undefined;
  const { zipPath } = await packageRestLambda({ outDir });
  console.log(
    `rest Lambda artifact: ${relative(process.cwd(), zipPath)} (handler index.handler, runtime nodejs22.x)`,
  );
}
