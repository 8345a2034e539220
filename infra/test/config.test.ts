import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InfraConfigError, parseInfraConfig } from '../lib/config.js';

// biome-ignore lint/suspicious/noExplicitAny: tests break the JSON on purpose
type Config = any;

const shipped = (name: string) =>
  JSON.parse(readFileSync(new URL(`../config.${name}.json`, import.meta.url), 'utf8'));

function problemsOf(mutate: (c: Config) => void): string[] {
  const config = structuredClone(shipped('test'));
  mutate(config);
  try {
    parseInfraConfig(config);
  } catch (error) {
    expect(error).toBeInstanceOf(InfraConfigError);
    return [...(error as InfraConfigError).problems];
  }
  return [];
}

describe('parseInfraConfig', () => {
  it('accepts both shipped configs', () => {
    expect(parseInfraConfig(shipped('test')).namePrefix).toBe('supaplane-test');
    expect(parseInfraConfig(shipped('production')).redis.multiAz).toBe(true);
  });

  it('names the bad field, with the reason', () => {
    expect(
      problemsOf((c) => {
        c.vpc.natGateways = 'two';
      }),
    ).toEqual(['vpc.natGateways: expected a number']);
    expect(
      problemsOf((c) => {
        c.managementDatabase.minCapacity = 0.7;
      }),
    ).toEqual(['managementDatabase.minCapacity: must be a multiple of 0.5']);
    expect(
      problemsOf((c) => {
        c.workerDatabase.engineVersion = '15.4';
      }),
    ).toEqual(['workerDatabase.engineVersion: must be an Aurora PostgreSQL 16 version such as 16.6']);
    expect(
      problemsOf((c) => {
        c.waf.managedRulesMode = 'log';
      }),
    ).toEqual(['waf.managedRulesMode: must be one of block, count']);
    expect(
      problemsOf((c) => {
        c.account = '1234';
      }),
    ).toEqual(['account: must be a 12-digit AWS account id']);
  });

  it('reports missing, unknown and every bad field at once', () => {
    const problems = problemsOf((c) => {
      delete c.redis.nodeType;
      c.gateway.cpus = 2;
      c.alarms.email = 'not-an-address';
    });
    expect(problems).toEqual([
      'redis.nodeType: is required',
      'gateway.cpus: unknown field',
      'alarms.email: must be an e-mail address or null',
    ]);
  });

  it('checks relations between fields', () => {
    expect(
      problemsOf((c) => {
        c.workerDatabase.minCapacity = 8;
      }),
    ).toEqual(['workerDatabase.minCapacity: must not exceed maxCapacity']);
    expect(
      problemsOf((c) => {
        c.redis.multiAz = true;
      }),
    ).toEqual(['redis.replicas: multiAz needs at least 1 replica']);
    expect(
      problemsOf((c) => {
        c.gateway.memoryMiB = 4096;
      }),
    ).toEqual(['gateway.memoryMiB: must be 2 to 8 times cpu for Fargate']);
    expect(
      problemsOf((c) => {
        c.region = 'us-east-1';
      }),
    ).toEqual(['certificateArn: must be in the same region as the stack']);
    expect(
      problemsOf((c) => {
        c.gateway.desiredCount = 5;
      }),
    ).toEqual(['gateway.desiredCount: must be between minCount and maxCount']);
  });

  it('rejects a config that is not an object', () => {
    expect(() => parseInfraConfig(null)).toThrow(/: expected an object/);
  });
});

describe('bin/app.ts', () => {
  it('refuses a bad config.json naming every bad field, before synthesizing anything', async () => {
    const { execFile } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const config = structuredClone(shipped('test'));
    config.vpc.maxAzs = 1;
    config.tenantManager.imageTag = 'bad tag';
    const file = join(mkdtempSync(join(tmpdir(), 'infra-config-')), 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const infra = new URL('..', import.meta.url).pathname;
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'bin/app.ts'],
        { cwd: infra, env: { ...process.env, CONFIG: file } },
        (error, _stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code) : 0, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}: invalid infra config:`);
    expect(result.stderr).toContain('  - vpc.maxAzs: must be between 2 and 6');
    expect(result.stderr).toContain('  - tenantManager.imageTag: must be a valid image tag');
    expect(result.stderr).not.toContain('    at ');
  });
});

describe('restFunction.artifactSha256', () => {
  it('accepts null or a base64 SHA-256, and names the field otherwise', () => {
    const sha = createHash('sha256').update('zip').digest('base64');
    expect(
      problemsOf((c) => {
        c.restFunction.artifactSha256 = sha;
      }),
    ).toEqual([]);
    expect(
      problemsOf((c) => {
        c.restFunction.artifactSha256 = 'abc';
      }),
    ).toEqual(['restFunction.artifactSha256: must be a base64 SHA-256 (44 characters) or null']);
  });
});
