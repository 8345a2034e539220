import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { aws_logs as logs } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { estimatedMaxConnections, InfraConfigError, parseInfraConfig } from '../lib/config.js';

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
  });

  it('explains that desiredCount is gone: autoscaling sets the count, from minCount up', () => {
    expect(
      problemsOf((c) => {
        c.gateway.desiredCount = 2;
        c.tenantManager.desiredCount = 1;
      }),
    ).toEqual([
      expect.stringMatching(/^gateway\.desiredCount: no longer read: .*minCount.*remove it$/),
      expect.stringMatching(/^tenantManager\.desiredCount: no longer read: .*minCount.*remove it$/),
    ]);
  });

  it('refuses a name prefix that would make invalid RDS, ElastiCache or ECR names', () => {
    const hint =
      'namePrefix: must be 3-20 lower-case letters, digits or single hyphens, starting with a letter and not ending with a hyphen';
    for (const prefix of ['supaplane-', 'supa--plane', '1supa', 'ab'])
      expect(
        problemsOf((c) => {
          c.namePrefix = prefix;
        }),
        prefix,
      ).toEqual([hint]);
    expect(
      problemsOf((c) => {
        c.namePrefix = 'supa-plane-2';
      }),
    ).toEqual([]);
  });

  it('refuses a rest function timeout the statement timeout, the gateway and the ALB cannot line up with', () => {
    // Below 10 s a statement the data API allows (8 s) outlives the function, which leaves it running
    // in the database; above 50 s the gateway (timeout + 5 s) would wait past the ALB's 60 s idle timeout.
    for (const seconds of [5, 9, 51, 120, 900])
      expect(
        problemsOf((c) => {
          c.restFunction.timeoutSeconds = seconds;
        }),
        String(seconds),
      ).toEqual([expect.stringMatching(/^restFunction\.timeoutSeconds: must be between 10 and 50 \(.+\)$/)]);
    for (const seconds of [10, 30, 50])
      expect(
        problemsOf((c) => {
          c.restFunction.timeoutSeconds = seconds;
        }),
      ).toEqual([]);
  });

  it("refuses a name prefix under which another stack's IAM scope would reach this stack's functions or clusters", () => {
    // Stack `supaplane` may manage supaplane-rest-* functions and supaplane-worker-* clusters: a stack
    // prefixed `supaplane-rest` or `supaplane-worker-2` would put its own there.
    for (const prefix of ['supaplane-rest', 'supaplane-worker', 'acme-rest-eu', 'acme-worker-2'])
      expect(
        problemsOf((c) => {
          c.namePrefix = prefix;
        }),
        prefix,
      ).toEqual([
        expect.stringMatching(/^namePrefix: must not have a part "rest" or "worker" after a hyphen \(.+\)$/),
      ]);
    for (const prefix of ['supaplane-restaurant', 'rest-api', 'workers-eu', 'acme-prod'])
      expect(
        problemsOf((c) => {
          c.namePrefix = prefix;
        }),
        prefix,
      ).toEqual([]);
  });

  it('refuses a VPC range too small for the subnets of maxAzs zones, or with an invalid address', () => {
    expect(
      problemsOf((c) => {
        c.vpc.cidr = '10.0.0.0/18';
      }),
    ).toEqual([]);
    expect(
      problemsOf((c) => {
        c.vpc.cidr = '10.0.0.0/18';
        c.vpc.maxAzs = 3;
      }),
    ).toEqual([
      'vpc.cidr: a /18 cannot hold the subnets of 3 AZs (a /24, a /20 and a /24 each); use /17 or larger',
    ]);
    expect(
      problemsOf((c) => {
        c.vpc.cidr = '10.0.0.0/24';
      }),
    ).toEqual([
      'vpc.cidr: a /24 cannot hold the subnets of 2 AZs (a /24, a /20 and a /24 each); use /18 or larger',
    ]);
    expect(
      problemsOf((c) => {
        c.vpc.cidr = '999.0.0.0/16';
      }),
    ).toEqual(['vpc.cidr: 999.0.0.0 is not an IPv4 address']);
    expect(
      problemsOf((c) => {
        c.vpc.cidr = '10.0.0.0/17';
        c.vpc.maxAzs = 6;
      }),
    ).toEqual([]);
  });

  it('keeps database logs as long as the other logs unless databaseLogRetentionDays says otherwise', () => {
    const config = shipped('production');
    expect(parseInfraConfig(config).databaseLogRetentionDays).toBe(config.logRetentionDays);
    expect(config.databaseLogRetentionDays).toBeUndefined();
    expect(parseInfraConfig({ ...config, databaseLogRetentionDays: 30 }).databaseLogRetentionDays).toBe(30);
    expect(
      problemsOf((c) => {
        c.databaseLogRetentionDays = 10;
      }),
    ).toEqual([expect.stringMatching(/^databaseLogRetentionDays: must be one of 1, 3, 5, 7, 14, 30/)]);
  });

  it('accepts every retention CloudWatch Logs does, such as three or six years', () => {
    const config = shipped('production');
    const finite = Object.values(logs.RetentionDays).filter(
      (d): d is number => typeof d === 'number' && d !== logs.RetentionDays.INFINITE,
    );
    expect(finite).toContain(1096);
    for (const days of finite)
      for (const field of ['logRetentionDays', 'databaseLogRetentionDays'] as const)
        expect(parseInfraConfig({ ...config, [field]: days })[field], `${field} ${days}`).toBe(days);
  });

  it('rejects a config that is not an object', () => {
    expect(() => parseInfraConfig(null)).toThrow(/: expected an object/);
  });
});

describe('directDatabaseAccessCidrs', () => {
  const withCidrs = (cidrs: unknown) =>
    problemsOf((c) => {
      c.directDatabaseAccessCidrs = cidrs;
    });

  it('defaults to none, takes IPv4 ranges, and refuses what is no range or most of the internet', () => {
    expect(parseInfraConfig(shipped('test')).directDatabaseAccessCidrs).toEqual([]);
    expect(withCidrs(['10.8.0.0/16'])).toEqual([]);
    expect(withCidrs(['10.8.0.0', '300.1.1.1/16', '0.0.0.0/0'])).toEqual([
      'directDatabaseAccessCidrs[0]: must be an IPv4 CIDR such as 10.8.0.0/16',
      'directDatabaseAccessCidrs[1]: must be an IPv4 CIDR such as 10.8.0.0/16',
      "directDatabaseAccessCidrs[2]: a /0 is most of the internet; name the VPN's or peered network's range",
    ]);
    expect(withCidrs('10.8.0.0/16')).toEqual(['directDatabaseAccessCidrs: expected a list of IPv4 CIDRs']);
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

describe('projectLimits', () => {
  const withLimits = (value: unknown) =>
    problemsOf((c) => {
      c.projectLimits = value;
    });
  const limits = (mutate: (c: Config) => void) => {
    const config = structuredClone(shipped('test'));
    mutate(config);
    return parseInfraConfig(config).projectLimits;
  };

  it('defaults to the tenant-manager defaults when omitted, wholly or field by field, without changing the input', () => {
    const raw = shipped('test');
    expect(raw.projectLimits).toBeUndefined();
    expect(parseInfraConfig(raw).projectLimits).toEqual({
      dbConnectionLimit: 60,
      requestsPerSecond: null,
      burst: null,
      dbSizeLimitMb: null,
    });
    expect(raw.projectLimits).toBeUndefined();
    expect(
      limits((c) => {
        c.projectLimits = { requestsPerSecond: 20 };
      }),
    ).toEqual({ dbConnectionLimit: 60, requestsPerSecond: 20, burst: null, dbSizeLimitMb: null });
  });

  it('keeps set values', () => {
    expect(
      limits((c) => {
        c.projectLimits = { dbConnectionLimit: 40, requestsPerSecond: 100, burst: 100, dbSizeLimitMb: 8192 };
      }),
    ).toEqual({ dbConnectionLimit: 40, requestsPerSecond: 100, burst: 100, dbSizeLimitMb: 8192 });
    expect(
      limits((c) => {
        c.projectLimits = { dbConnectionLimit: 1, requestsPerSecond: 1_000_000, burst: 10_000_000 };
      }),
    ).toEqual({ dbConnectionLimit: 1, requestsPerSecond: 1_000_000, burst: 10_000_000, dbSizeLimitMb: null });
  });

  it('refuses values out of range or not integers, naming the field', () => {
    expect(withLimits({ dbConnectionLimit: 0 })).toEqual([
      'projectLimits.dbConnectionLimit: must be between 1 and 10000',
    ]);
    expect(withLimits({ dbConnectionLimit: 10.5 })).toEqual([
      'projectLimits.dbConnectionLimit: expected an integer',
    ]);
    expect(withLimits({ dbConnectionLimit: '60' })).toEqual([
      'projectLimits.dbConnectionLimit: expected a number',
    ]);
    expect(withLimits({ requestsPerSecond: 0 })).toEqual([
      'projectLimits.requestsPerSecond: must be between 1 and 1000000',
    ]);
    expect(withLimits({ requestsPerSecond: 2.5 })).toEqual([
      'projectLimits.requestsPerSecond: expected an integer',
    ]);
    expect(withLimits({ requestsPerSecond: 10, burst: 0 })).toEqual([
      'projectLimits.burst: must be between 1 and 10000000',
    ]);
    expect(withLimits({ requestsPerSecond: 10, burst: 10_000_001 })).toEqual([
      'projectLimits.burst: must be between 1 and 10000000',
    ]);
    expect(withLimits({ requestsPerSecond: 10, burst: 12.5 })).toEqual([
      'projectLimits.burst: expected an integer',
    ]);
    expect(withLimits({ dbSizeLimitMb: 0 })).toEqual([
      'projectLimits.dbSizeLimitMb: must be between 1 and 10000000',
    ]);
    expect(withLimits({ dbSizeLimitMb: 1.5 })).toEqual(['projectLimits.dbSizeLimitMb: expected an integer']);
    expect(withLimits({ rps: 10 })).toEqual(['projectLimits.rps: unknown field']);
    expect(withLimits(60)).toEqual(['projectLimits: expected an object']);
  });

  it('refuses a burst below the rate, or a burst without a rate', () => {
    expect(withLimits({ requestsPerSecond: 100, burst: 99 })).toEqual([
      'projectLimits.burst: must be at least requestsPerSecond',
    ]);
    expect(withLimits({ burst: 100 })).toEqual([
      'projectLimits.burst: needs requestsPerSecond (a burst without a rate limits nothing)',
    ]);
    expect(withLimits({ requestsPerSecond: null, burst: 100 })).toEqual([
      'projectLimits.burst: needs requestsPerSecond (a burst without a rate limits nothing)',
    ]);
  });

  it('refuses a connection limit above half of what the worker cluster allows', () => {
    // config.test.json: worker 0.5-4 ACU, ~756 connections, so at most 378 per project.
    expect(
      problemsOf((c) => {
        c.projectLimits = { dbConnectionLimit: 378 };
      }),
    ).toEqual([]);
    expect(
      problemsOf((c) => {
        c.projectLimits = { dbConnectionLimit: 379 };
      }),
    ).toEqual([
      'projectLimits.dbConnectionLimit: 379 is more than half of the ~756 connections a worker cluster of ' +
        '0.5-4 ACU allows; lower it or raise workerDatabase.maxCapacity',
    ]);
    // The bound follows workerDatabase: 8 ACU makes room for it.
    expect(
      problemsOf((c) => {
        c.projectLimits = { dbConnectionLimit: 379 };
        c.workerDatabase.maxCapacity = 8;
      }),
    ).toEqual([]);
    // The smallest worker still takes the default.
    expect(
      problemsOf((c) => {
        c.workerDatabase.maxCapacity = 1;
      }),
    ).toEqual([]);
    // Whatever the size, 10000 (the tenant-manager's own maximum) is never half of a cluster.
    const production = problemsOf((c) => {
      c.projectLimits = { dbConnectionLimit: 10_000 };
      c.workerDatabase.minCapacity = 1;
      c.workerDatabase.maxCapacity = 256;
    });
    expect(production).toHaveLength(1);
    expect(production[0]).toMatch(/^projectLimits\.dbConnectionLimit: 10000 is more than half of the ~5000 /);
  });

  it('estimates max_connections at or below the documented Aurora PostgreSQL defaults', () => {
    // Aurora user guide, "Maximum connections for Aurora Serverless v2": default max_connections of
    // Aurora PostgreSQL by maximum ACU (minimum 1 ACU); with a minimum of 0.5 ACU it is capped at 2,000.
    const documented: [maxCapacity: number, connections: number][] = [
      [1, 189],
      [4, 823],
      [8, 1669],
      [16, 3360],
      [32, 5000],
      [64, 5000],
      [128, 5000],
    ];
    for (const [maxCapacity, connections] of documented) {
      const estimate = estimatedMaxConnections({ minCapacity: 1, maxCapacity });
      expect(estimate, `${maxCapacity} ACU`).toBeLessThanOrEqual(connections);
      expect(estimate, `${maxCapacity} ACU`).toBeGreaterThanOrEqual(connections * 0.85);
    }
    expect(estimatedMaxConnections({ minCapacity: 0.5, maxCapacity: 16 })).toBe(2000);
    expect(estimatedMaxConnections({ minCapacity: 0, maxCapacity: 64 })).toBe(2000);
    expect(estimatedMaxConnections({ minCapacity: 0.5, maxCapacity: 4 })).toBe(756);
  });
});
