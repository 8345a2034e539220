// Container entrypoint of the gateway and tenant-manager images: `node entrypoint.mjs <bundle.mjs>`.
// ECS injects secrets as whole variables and cannot splice them into URLs, so the connection URLs
// the services expect are assembled here from their parts, then the service's bundle is started.
const env = process.env;

if (!env.REDIS_URL && env.REDIS_HOST) {
  const auth = env.REDIS_PASSWORD ? `:${encodeURIComponent(env.REDIS_PASSWORD)}@` : '';
  const scheme = env.REDIS_TLS === 'false' ? 'redis' : 'rediss';
  env.REDIS_URL = `${scheme}://${auth}${env.REDIS_HOST}:${env.REDIS_PORT || '6379'}`;
}

if (!env.DATABASE_URL && env.DATABASE_HOST && env.DATABASE_USER) {
  const url = new URL(`postgres://${env.DATABASE_HOST}:${env.DATABASE_PORT || '5432'}/`);
  url.username = encodeURIComponent(env.DATABASE_USER);
  url.password = encodeURIComponent(env.DATABASE_PASSWORD ?? '');
  url.pathname = `/${encodeURIComponent(env.DATABASE_NAME || 'postgres')}`;
  if (env.DATABASE_SSLMODE) url.searchParams.set('sslmode', env.DATABASE_SSLMODE);
  env.DATABASE_URL = url.toString();
}

// The parts are not needed any more; keep secrets out of the service's environment dumps.
for (const name of ['REDIS_PASSWORD', 'DATABASE_PASSWORD']) delete env[name];

const bundle = process.argv[2];
if (!bundle) {
  console.error('usage: node entrypoint.mjs <bundle.mjs>');
  process.exit(2);
}
await import(new URL(bundle, `file://${process.cwd()}/`).href);
