import { describe, expect, it } from 'vitest';
import { ConfigError, LAMBDA_BODY_LIMIT, loadGatewayConfig } from './config.js';
import { createUpstreamAllowlist } from './upstream-allowlist.js';

const base = { TENANT_MANAGER_INTERNAL_URL: 'http://127.0.0.1:3002', INTERNAL_SERVICE_TOKEN: 't' };

describe('gateway config', () => {
  it('applies the documented defaults in AWS mode', () => {
    const config = loadGatewayConfig({ ...base, BASE_DOMAIN: 'Supa.Example.com', AWS_REGION: 'eu-west-1' });
    expect(config).toMatchObject({
      port: 8000,
      host: '0.0.0.0',
      baseDomain: 'supa.example.com',
      localMode: false,
      redisUrl: null,
      staticAwsCredentials: null,
      bodyLimitBytes: LAMBDA_BODY_LIMIT,
      upstreamHostAllowlist: ['*.lambda-url.eu-west-1.on.aws'],
      // The ALB in front of the gateway appends one X-Forwarded-For entry.
      trustedProxyHops: 1,
    });
    expect(LAMBDA_BODY_LIMIT).toBe(6_291_456);
  });

  it('uses static credentials and the emulator allowlist in local mode', () => {
    const config = loadGatewayConfig({
      ...base,
      LOCAL_MODE: 'true',
      LOCAL_AWS_ACCESS_KEY_ID: 'AKID',
      LOCAL_AWS_SECRET_ACCESS_KEY: 'secret',
      REDIS_URL: 'redis://127.0.0.1:6390',
      GATEWAY_PORT: '8100',
    });
    expect(config).toMatchObject({
      port: 8100,
      baseDomain: 'localhost',
      awsRegion: 'local',
      redisUrl: 'redis://127.0.0.1:6390',
      staticAwsCredentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
      upstreamHostAllowlist: ['*.lambda-url.*.localhost'],
      trustedProxyHops: 0,
    });
  });

  it('refuses incomplete or invalid settings with a clear message', () => {
    expect(() => loadGatewayConfig({ BASE_DOMAIN: 'x.com', INTERNAL_SERVICE_TOKEN: 't' })).toThrow(
      'TENANT_MANAGER_INTERNAL_URL is required',
    );
    expect(() => loadGatewayConfig({ ...base })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ ...base, BASE_DOMAIN: 'x.com', GATEWAY_PORT: 'eighty' })).toThrow(
      'GATEWAY_PORT must be an integer',
    );
    expect(() => loadGatewayConfig({ ...base, LOCAL_MODE: '1' })).toThrow(/LOCAL_AWS_ACCESS_KEY_ID/);
    expect(() =>
      loadGatewayConfig({ ...base, BASE_DOMAIN: 'x.com', GATEWAY_TRUSTED_PROXY_HOPS: '-1' }),
    ).toThrow('GATEWAY_TRUSTED_PROXY_HOPS must be an integer from 0 to 10');
  });

  it.each([
    ['LOCAL_MODE', 'ture'],
    ['AWS_REGION', 'eu west 1'],
    ['BASE_DOMAIN', 'https://supa.example.com'],
    ['BASE_DOMAIN', 'supa.example.com:443'],
    ['TENANT_MANAGER_INTERNAL_URL', 'tenant-manager:3002'],
    ['REDIS_URL', 'cache.internal:6379'],
    ['REDIS_URL', 'http://:secret-password@cache.internal:6379'],
    ['UPSTREAM_HOST_ALLOWLIST', 'https://*.lambda-url.eu-west-1.on.aws'],
    ['LOG_LEVEL', 'verbose'],
    ['GATEWAY_PORT', '70000'],
    ['GATEWAY_METRICS_PORT', '8000'],
    ['GATEWAY_METRICS_PORT', '-1'],
    ['GATEWAY_UPSTREAM_TIMEOUT_MS', '30s'],
    ['GATEWAY_UPSTREAM_TIMEOUT_MS', '0'],
    ['GATEWAY_SHUTDOWN_GRACE_MS', '3000000000'],
    ['GATEWAY_USAGE_FLUSH_MS', '1.5'],
    ['GATEWAY_CACHE_MAX_ENTRIES', '0'],
  ])('refuses %s=%s with a message naming it, never its value', (name, value) => {
    const load = () => loadGatewayConfig({ ...base, BASE_DOMAIN: 'x.com', [name]: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(new RegExp(`^${name} `));
    expect(load).not.toThrow('secret-password');
  });

  it('matches upstream hosts label by label', () => {
    const allowed = createUpstreamAllowlist(['*.lambda-url.eu-west-1.on.aws', '*.lambda-url.*.localhost']);
    expect(allowed(new URL('https://abc123.lambda-url.eu-west-1.on.aws/'))).toBe(true);
    expect(allowed(new URL('http://rest-x.lambda-url.local.localhost:9000/'))).toBe(true);
    expect(allowed(new URL('https://a.b.lambda-url.eu-west-1.on.aws/'))).toBe(false);
    expect(allowed(new URL('https://abc.lambda-url.eu-west-1.on.aws.evil.com/'))).toBe(false);
    expect(allowed(new URL('https://abc.lambda-url.us-east-1.on.aws/'))).toBe(false);
    expect(allowed(new URL('https://user:pw@abc.lambda-url.eu-west-1.on.aws/'))).toBe(false);
    expect(allowed(new URL('file://abc.lambda-url.eu-west-1.on.aws/'))).toBe(false);
  });
});
