import { createHash } from 'node:crypto';
import { ResourceConflictException } from '@aws-sdk/client-lambda';
import { describe, expect, it, vi } from 'vitest';
import { type AwsProviderConfig, parseAwsProviderConfig } from './config.js';
import {
  createAwsFunctionProvider,
  INVOKE_URL_SID,
  INVOKE_VIA_URL_SID,
  restFunctionName,
} from './functions.js';
import { fakeLambda, throttled } from './testing/fake-aws.js';

const GATEWAY_ROLE = 'arn:aws:iam::111111111111:role/supaplane-gateway-task';
const REST_ROLE = 'arn:aws:iam::111111111111:role/supaplane-rest-function';
const REF = 'abcdefghijklmnopqrst';

const config: AwsProviderConfig = {
  region: 'eu-west-1',
  restFunction: {
    artifact: { s3Bucket: 'supaplane-artifacts', s3Key: 'rest/rest-lambda.zip' },
    roleArn: REST_ROLE,
    memoryMiB: 1024,
    timeoutSeconds: 30,
    subnetIds: ['subnet-a', 'subnet-b'],
    securityGroupIds: ['sg-rest'],
    configUrl: 'http://tenant-manager.supaplane.internal:3002',
    logGroup: '/aws/lambda/supaplane-rest',
  },
  gatewayRoleArn: GATEWAY_ROLE,
  tags: { project: 'supaplane' },
};

const input = (extra: Record<string, string> = {}) => ({
  ref: REF,
  environment: { SUPAPLANE_INTERNAL_TOKEN: 'internal-token-0123456789', ...extra },
});

function setup(
  options: { checksUntilAvailable?: number; checksUntilActive?: number; cfg?: AwsProviderConfig } = {},
) {
  const lambda = fakeLambda({ checksUntilActive: options.checksUntilActive ?? 0 });
  const sleep = vi.fn(async (_ms: number) => {});
  const provider = createAwsFunctionProvider(options.cfg ?? config, {
    lambda: lambda.client,
    sleep,
    activePoll: { intervalMs: 1000, maxChecks: 5 },
  });
  return { lambda, sleep, provider };
}

const FIRST_RUN = [
  'CreateFunction',
  'GetFunctionConfiguration', // Pending
  'GetFunctionConfiguration', // Active
  'CreateFunctionUrlConfig',
  'GetPolicy',
  'AddPermission',
  'AddPermission',
];

/** The end state every successful run must reach. */
function expectConverged(lambda: ReturnType<typeof fakeLambda>, env: Record<string, string> = {}) {
  const name = `rest-${REF}`;
  const fn = lambda.functions.get(name)!;
  expect(fn.state).toBe('Active');
  expect((fn.config['Environment'] as { Variables: Record<string, string> }).Variables).toMatchObject({
    SUPAPLANE_PROJECT_REF: REF,
    SUPAPLANE_CONFIG_URL: 'http://tenant-manager.supaplane.internal:3002',
    SUPAPLANE_INTERNAL_TOKEN: 'internal-token-0123456789',
    ...env,
  });
  expect(lambda.urls.get(name)?.AuthType).toBe('AWS_IAM');
  const statements = [...(lambda.policies.get(name)?.values() ?? [])];
  expect(statements.map((s) => [s['Sid'], s['Action'], s['Principal']]).sort()).toEqual([
    [INVOKE_URL_SID, 'lambda:InvokeFunctionUrl', { AWS: GATEWAY_ROLE }],
    [INVOKE_VIA_URL_SID, 'lambda:InvokeFunction', { AWS: GATEWAY_ROLE }],
  ]);
}

describe('AWS function provider: ensureRestFunction', () => {
  it('creates rest-<ref> from the artifact, waits for Active, adds an IAM-auth URL and gateway-only permissions', async () => {
    const { lambda, sleep, provider } = setup();
    const fn = await provider.ensureRestFunction(input());
    expect(fn).toEqual({
      name: `rest-${REF}`,
      url: 'https://uabcdefghijklmnopqrst.lambda-url.eu-west-1.on.aws/',
      region: 'eu-west-1',
    });
    expect(lambda.calls()).toEqual(FIRST_RUN);
    const create = lambda.mock.commandCalls(
      (await import('@aws-sdk/client-lambda')).CreateFunctionCommand,
    )[0]!.args[0].input;
    expect(create).toMatchObject({
      FunctionName: `rest-${REF}`,
      Role: REST_ROLE,
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      MemorySize: 1024,
      Timeout: 30,
      PackageType: 'Zip',
      Code: { S3Bucket: 'supaplane-artifacts', S3Key: 'rest/rest-lambda.zip' },
      VpcConfig: { SubnetIds: ['subnet-a', 'subnet-b'], SecurityGroupIds: ['sg-rest'] },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: '/aws/lambda/supaplane-rest', SystemLogLevel: 'INFO' },
      Tags: { project: 'supaplane', 'supaplane:ref': REF },
    });
    const [urlCall] = lambda.mock
      .calls()
      .filter((c) => c.args[0].constructor.name === 'CreateFunctionUrlConfigCommand');
    expect(urlCall!.args[0].input).toEqual({ FunctionName: `rest-${REF}`, AuthType: 'AWS_IAM' });
    const permissions = lambda.mock
      .calls()
      .filter((c) => c.args[0].constructor.name === 'AddPermissionCommand')
      .map((c) => c.args[0].input);
    expect(permissions).toEqual([
      {
        FunctionName: `rest-${REF}`,
        StatementId: INVOKE_URL_SID,
        Action: 'lambda:InvokeFunctionUrl',
        Principal: GATEWAY_ROLE,
        FunctionUrlAuthType: 'AWS_IAM',
      },
      {
        FunctionName: `rest-${REF}`,
        StatementId: INVOKE_VIA_URL_SID,
        Action: 'lambda:InvokeFunction',
        Principal: GATEWAY_ROLE,
        InvokedViaFunctionUrl: true,
      },
    ]);
    expect(sleep.mock.calls).toEqual([[1000]]);
    expectConverged(lambda);
  });

  it('is idempotent: a second run updates the configuration and adds nothing twice', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    lambda.mock.resetHistory();
    const again = await provider.ensureRestFunction(input({ REST_MAX_ROWS: '500' }));
    expect(again.url).toBe('https://uabcdefghijklmnopqrst.lambda-url.eu-west-1.on.aws/');
    expect(lambda.calls()).toEqual([
      'CreateFunction', // ResourceConflictException
      'GetFunctionConfiguration',
      'UpdateFunctionConfiguration',
      'TagResource',
      'GetFunctionConcurrency', // not stopped: left as it is
      'GetFunctionConfiguration', // InProgress
      'GetFunctionConfiguration', // Successful
      'CreateFunctionUrlConfig', // ResourceConflictException
      'GetFunctionUrlConfig',
      'GetPolicy',
    ]);
    expectConverged(lambda, { REST_MAX_ROWS: '500' });
  });

  it("leaves an up-to-date function's configuration alone (an update replaces its warm instances), and updates what differs", async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    lambda.mock.resetHistory();
    // What every tenant-manager start does for every project: nothing changed, nothing is updated.
    await provider.ensureRestFunction(input());
    expect(lambda.calls()).not.toContain('UpdateFunctionConfiguration');
    expect(lambda.calls()).toContain('TagResource');
    expectConverged(lambda);
    for (const changed of [
      { ...config, restFunction: { ...config.restFunction, memoryMiB: 2048 } },
      { ...config, restFunction: { ...config.restFunction, timeoutSeconds: 20 } },
      { ...config, restFunction: { ...config.restFunction, securityGroupIds: ['sg-other'] } },
      { ...config, restFunction: { ...config.restFunction, logGroup: '/aws/lambda/other' } },
      { ...config, restFunction: { ...config.restFunction, runtime: 'nodejs24.x' as const } },
    ]) {
      lambda.mock.resetHistory();
      const later = createAwsFunctionProvider(changed, { lambda: lambda.client, sleep: async () => {} });
      await later.ensureRestFunction(input());
      expect(lambda.calls(), JSON.stringify(changed.restFunction)).toContain('UpdateFunctionConfiguration');
    }
    lambda.mock.resetHistory();
    await provider.ensureRestFunction(input({ REST_MAX_ROWS: '10' }));
    expect(lambda.calls()).toContain('UpdateFunctionConfiguration');
  });

  const firstRunSteps = FIRST_RUN.map((step, i) => ({
    step,
    nth: FIRST_RUN.slice(0, i + 1).filter((s) => s === step).length,
  }));
  it.each(firstRunSteps)(
    'converges after a failure at $step (call $nth) of the first run',
    async ({ step, nth }) => {
      const { lambda, provider } = setup();
      lambda.failAt(step, nth);
      await expect(provider.ensureRestFunction(input())).rejects.toThrow(`injected failure at ${step}`);
      const fn = await provider.ensureRestFunction(input());
      expect(fn.url).toBe('https://uabcdefghijklmnopqrst.lambda-url.eu-west-1.on.aws/');
      expectConverged(lambda);
    },
  );

  it.each(['UpdateFunctionConfiguration', 'TagResource', 'GetFunctionUrlConfig', 'GetPolicy'])(
    'converges after a failure at %s while updating an existing function',
    async (step) => {
      const { lambda, provider } = setup();
      await provider.ensureRestFunction(input());
      lambda.failAt(step);
      await expect(provider.ensureRestFunction(input({ REST_MAX_ROWS: '10' }))).rejects.toThrow(
        `injected failure at ${step}`,
      );
      await provider.ensureRestFunction(input({ REST_MAX_ROWS: '10' }));
      expectConverged(lambda, { REST_MAX_ROWS: '10' });
      expect(lambda.functions.get(`rest-${REF}`)!.tags).toEqual({
        project: 'supaplane',
        'supaplane:ref': REF,
      });
    },
  );

  it('switches a URL that lost IAM auth back to AWS_IAM and replaces a grant to another principal', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    const name = `rest-${REF}`;
    lambda.urls.get(name)!.AuthType = 'NONE';
    lambda.policies.get(name)!.get(INVOKE_URL_SID)!['Principal'] = { AWS: 'arn:aws:iam::999999999999:root' };
    lambda.mock.resetHistory();
    await provider.ensureRestFunction(input());
    expect(lambda.calls()).toContain('UpdateFunctionUrlConfig');
    expect(lambda.calls().filter((c) => c === 'RemovePermission' || c === 'AddPermission')).toEqual([
      'RemovePermission',
      'AddPermission',
    ]);
    expectConverged(lambda);
  });

  it('adds a grant refused while an update of the function was in progress, once the function is ready', async () => {
    const { lambda, provider } = setup();
    const busy = () =>
      new ResourceConflictException({
        message: 'The operation cannot be performed at this time. An update is in progress for resource',
        $metadata: {},
      });
    lambda.failAt('AddPermission', 1, busy());
    lambda.failAt('AddPermission', 3, busy());
    await provider.ensureRestFunction({ ref: REF, environment: {} });
    const statements = lambda.policies.get(`rest-${REF}`)!;
    expect([...statements.keys()].sort()).toEqual([INVOKE_VIA_URL_SID, INVOKE_URL_SID].sort());
    for (const statement of statements.values())
      expect(statement['Principal']).toEqual({ AWS: GATEWAY_ROLE });

    // Still busy after three tries: the step fails (and is retried), never reports a function the
    // gateway cannot invoke.
    const stuck = setup();
    for (const nth of [1, 2, 3]) stuck.lambda.failAt('AddPermission', nth, busy());
    await expect(stuck.provider.ensureRestFunction({ ref: REF, environment: {} })).rejects.toThrow(
      /update is in progress/,
    );
  });

  it('retries throttled calls with growing backoff, and gives up after the attempt limit', async () => {
    const { lambda, sleep, provider } = setup();
    lambda.failAt('CreateFunction', 1, throttled());
    lambda.failAt('CreateFunction', 2, throttled());
    await provider.ensureRestFunction(input());
    expect(lambda.calls().slice(0, 3)).toEqual(['CreateFunction', 'CreateFunction', 'CreateFunction']);
    const [first, second] = sleep.mock.calls.map(([ms]) => ms);
    expect(first).toBeGreaterThanOrEqual(160);
    expect(first).toBeLessThanOrEqual(240);
    expect(second).toBeGreaterThanOrEqual(320);
    expect(second).toBeLessThanOrEqual(480);
    expectConverged(lambda);

    const other = setup();
    for (let i = 1; i <= 6; i++) other.lambda.failAt('CreateFunction', i, throttled());
    await expect(other.provider.ensureRestFunction(input())).rejects.toMatchObject({
      name: 'TooManyRequestsException',
    });
    expect(other.lambda.calls()).toEqual(Array(6).fill('CreateFunction'));
  });

  it('waits a bounded time for Active and reports a failed function with its reason', async () => {
    const slow = setup({ checksUntilActive: 100 });
    await expect(slow.provider.ensureRestFunction(input())).rejects.toThrow(
      `timed out waiting for rest-${REF} to become Active (5 checks, 1000 ms apart)`,
    );
    expect(slow.sleep).toHaveBeenCalledTimes(4);
    expect(slow.lambda.calls()).not.toContain('CreateFunctionUrlConfig');

    const broken = setup({
      cfg: { ...config, restFunction: { ...config.restFunction, subnetIds: ['subnet-broken'] } },
    });
    await expect(broken.provider.ensureRestFunction(input())).rejects.toThrow(
      `rest-${REF} failed: bad subnet`,
    );
    // Still broken on a re-run with the same configuration: reported again, not hidden.
    await expect(broken.provider.ensureRestFunction(input())).rejects.toThrow(
      `rest-${REF} failed: bad subnet`,
    );
    // A re-run with a working configuration repairs the failed function instead of giving up on it.
    const fixed = createAwsFunctionProvider(config, {
      lambda: broken.lambda.client,
      sleep: async () => {},
      activePoll: { intervalMs: 1000, maxChecks: 5 },
    });
    await fixed.ensureRestFunction(input());
    expect(broken.lambda.calls()).toContain('UpdateFunctionConfiguration');
    expectConverged(broken.lambda);
  });

  it('sends an inline zip read once when the artifact is a local file', async () => {
    const lambda = fakeLambda();
    const readZip = vi.fn(async () => new Uint8Array([80, 75, 3, 4]));
    const provider = createAwsFunctionProvider(
      { ...config, restFunction: { ...config.restFunction, artifact: { zipFile: '/dist/rest-lambda.zip' } } },
      { lambda: lambda.client, sleep: async () => {}, readZip },
    );
    await provider.ensureRestFunction(input());
    await provider.ensureRestFunction({ ...input(), ref: 'zyxwvutsrqponmlkjihg' });
    expect(readZip).toHaveBeenCalledTimes(1);
    expect(readZip).toHaveBeenCalledWith('/dist/rest-lambda.zip');
    const codes = lambda.mock
      .calls()
      .filter((c) => c.args[0].constructor.name === 'CreateFunctionCommand')
      .map((c) => (c.args[0].input as { Code: unknown }).Code);
    expect(codes).toEqual([
      { ZipFile: new Uint8Array([80, 75, 3, 4]) },
      { ZipFile: new Uint8Array([80, 75, 3, 4]) },
    ]);
  });
});

describe('AWS function provider: environment encryption', () => {
  const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/0b7c3d52-1111-4222-8333-944455556666';
  const keyed = { ...config, restFunction: { ...config.restFunction, kmsKeyArn: KEY } };
  const keyOf = (lambda: ReturnType<typeof fakeLambda>) =>
    lambda.functions.get(`rest-${REF}`)!.config['KMSKeyArn'];

  it('encrypts a new function environment with the configured key', async () => {
    const { lambda, provider } = setup({ cfg: keyed });
    await provider.ensureRestFunction(input());
    expect(keyOf(lambda)).toBe(KEY);
    expectConverged(lambda);
  });

  it('moves an existing function onto the key at its next ensure, and back to the default without one', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    expect(keyOf(lambda)).toBe('');
    const later = createAwsFunctionProvider(keyed, { lambda: lambda.client, sleep: async () => {} });
    await later.ensureRestFunction(input());
    expect(keyOf(lambda)).toBe(KEY);
    expectConverged(lambda);
    await provider.ensureRestFunction(input());
    expect(keyOf(lambda)).toBe('');
  });

  it('refuses a key that is not a KMS key ARN', () => {
    expect(() =>
      parseAwsProviderConfig({ ...keyed, restFunction: { ...keyed.restFunction, kmsKeyArn: 'alias/rest' } }),
    ).toThrow('restFunction.kmsKeyArn: expected a KMS key ARN');
  });
});

describe('AWS function provider: deleteRestFunction', () => {
  it('deletes the URL and the function; deleting what is gone succeeds', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    lambda.mock.resetHistory();
    await provider.deleteRestFunction(REF);
    expect(lambda.calls()).toEqual(['DeleteFunctionUrlConfig', 'DeleteFunction']);
    expect(lambda.snapshot()).toEqual({ functions: {}, urls: {}, policies: {} });
    await expect(provider.deleteRestFunction(REF)).resolves.toBeUndefined();
  });

  it.each(['DeleteFunctionUrlConfig', 'DeleteFunction'])('converges after a failure at %s', async (step) => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    lambda.failAt(step);
    await expect(provider.deleteRestFunction(REF)).rejects.toThrow(`injected failure at ${step}`);
    await provider.deleteRestFunction(REF);
    expect(lambda.snapshot()).toEqual({ functions: {}, urls: {}, policies: {} });
  });
});

describe('AWS function provider: stopRestFunction (pause) and the restore', () => {
  it('stops the function with a reserved concurrency of 0, and the next ensure lifts it', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    const name = `rest-${REF}`;
    lambda.mock.resetHistory();
    await provider.stopRestFunction!(REF);
    expect(lambda.calls()).toEqual(['PutFunctionConcurrency']);
    expect(lambda.functions.get(name)?.reserved).toBe(0);
    await provider.ensureRestFunction(input());
    expect(lambda.functions.get(name)?.reserved).toBeUndefined();
    expect(lambda.calls()).toContain('DeleteFunctionConcurrency');
    expectConverged(lambda);
    // An ensure of a running function reads its concurrency and leaves it alone.
    lambda.mock.resetHistory();
    await provider.ensureRestFunction(input());
    expect(lambda.calls()).toContain('GetFunctionConcurrency');
    expect(lambda.calls()).not.toContain('DeleteFunctionConcurrency');
    // Stopping what is gone succeeds (a pause racing a delete).
    await provider.deleteRestFunction(REF);
    await expect(provider.stopRestFunction!(REF)).resolves.toBeUndefined();
  });
});

/** The reserved-concurrency writes sent, in order: `Put <n>` or `Delete` (which makes a function runnable). */
function concurrencyWrites(lambda: ReturnType<typeof fakeLambda>): string[] {
  return lambda.mock.calls().flatMap((c) => {
    const command = c.args[0] as {
      constructor: { name: string };
      input: { ReservedConcurrentExecutions?: number };
    };
    if (command.constructor.name === 'PutFunctionConcurrencyCommand')
      return [`Put ${command.input.ReservedConcurrentExecutions}`];
    return command.constructor.name === 'DeleteFunctionConcurrencyCommand' ? ['Delete'] : [];
  });
}

describe('AWS function provider: a stopped ensure (the start-up reconcile of a paused project)', () => {
  const name = `rest-${REF}`;
  const stopped = (extra: Record<string, string> = {}) => ({ ...input(extra), stopped: true });
  /** A provider on the same fake whose artifact differs from the function's code (a new release). */
  const released = (lambda: ReturnType<typeof fakeLambda>) => {
    const artifact = {
      s3Bucket: 'supaplane-artifacts',
      s3Key: 'rest/rest-lambda.zip',
      codeSha256: 'release-2',
    };
    return createAwsFunctionProvider(
      { ...config, restFunction: { ...config.restFunction, artifact } },
      { lambda: lambda.client, sleep: async () => {}, activePoll: { intervalMs: 1000, maxChecks: 5 } },
    );
  };

  it('brings a paused function current and leaves its reserved concurrency of 0 as it is; the restore lifts it', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    await provider.stopRestFunction!(REF);
    lambda.mock.resetHistory();
    const fn = await provider.ensureRestFunction(stopped({ REST_MAX_ROWS: '500' }));
    expect(fn.url).toBe('https://uabcdefghijklmnopqrst.lambda-url.eu-west-1.on.aws/');
    expect(lambda.calls()).toEqual([
      'CreateFunction', // ResourceConflictException
      'GetFunctionConfiguration',
      'GetFunctionConcurrency', // 0: stopped already, nothing written
      'UpdateFunctionConfiguration',
      'TagResource',
      'GetFunctionConfiguration', // InProgress
      'GetFunctionConfiguration', // Successful
      'CreateFunctionUrlConfig', // ResourceConflictException
      'GetFunctionUrlConfig',
      'GetPolicy',
    ]);
    expect(concurrencyWrites(lambda)).toEqual([]);
    expect(lambda.functions.get(name)?.reserved).toBe(0);
    expectConverged(lambda, { REST_MAX_ROWS: '500' });
    // The restore's ensure (not stopped) makes it runnable, as it always did.
    lambda.mock.resetHistory();
    await provider.ensureRestFunction(input({ REST_MAX_ROWS: '500' }));
    expect(concurrencyWrites(lambda)).toEqual(['Delete']);
    expect(lambda.functions.get(name)?.reserved).toBeUndefined();
  });

  it('stops a function found runnable before its code or configuration changes, so no new instance of it starts', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(input());
    lambda.mock.resetHistory();
    await released(lambda).ensureRestFunction(stopped({ REST_MAX_ROWS: '500' }));
    expect(lambda.calls()).toEqual([
      'CreateFunction', // ResourceConflictException
      'GetFunctionConfiguration',
      'GetFunctionConcurrency', // none reserved: runnable
      'PutFunctionConcurrency', // 0, before anything else
      'UpdateFunctionCode',
      'GetFunctionConfiguration', // InProgress
      'GetFunctionConfiguration', // Successful
      'UpdateFunctionConfiguration',
      'TagResource',
      'GetFunctionConfiguration', // InProgress
      'GetFunctionConfiguration', // Successful
      'CreateFunctionUrlConfig', // ResourceConflictException
      'GetFunctionUrlConfig',
      'GetPolicy',
    ]);
    expect(concurrencyWrites(lambda)).toEqual(['Put 0']);
    expect(lambda.functions.get(name)?.reserved).toBe(0);
    expectConverged(lambda, { REST_MAX_ROWS: '500' });
  });

  it('creates a missing function stopped before it has a URL or a grant', async () => {
    const { lambda, provider } = setup();
    await provider.ensureRestFunction(stopped());
    expect(lambda.calls()).toEqual([
      'CreateFunction',
      'GetFunctionConfiguration', // Pending
      'GetFunctionConfiguration', // Active
      'PutFunctionConcurrency',
      'CreateFunctionUrlConfig',
      'GetPolicy',
      'AddPermission',
      'AddPermission',
    ]);
    expect(concurrencyWrites(lambda)).toEqual(['Put 0']);
    expect(lambda.functions.get(name)?.reserved).toBe(0);
    expectConverged(lambda);
  });

  it("never lifts a paused function's reserved concurrency of 0, whichever call fails, and a re-run converges stopped", async () => {
    // Every call a stopped ensure of an out-of-date paused function makes.
    const probe = setup();
    await probe.provider.ensureRestFunction(input());
    await probe.provider.stopRestFunction!(REF);
    probe.lambda.mock.resetHistory();
    await released(probe.lambda).ensureRestFunction(stopped({ REST_MAX_ROWS: '500' }));
    const commands = [...new Set(probe.lambda.calls())];
    expect(commands).toEqual([
      'CreateFunction',
      'GetFunctionConfiguration',
      'GetFunctionConcurrency',
      'UpdateFunctionCode',
      'UpdateFunctionConfiguration',
      'TagResource',
      'CreateFunctionUrlConfig',
      'GetFunctionUrlConfig',
      'GetPolicy',
    ]);
    for (const command of commands) {
      const { lambda, provider } = setup();
      await provider.ensureRestFunction(input());
      await provider.stopRestFunction!(REF);
      lambda.mock.resetHistory();
      lambda.failAt(command);
      await expect(
        released(lambda).ensureRestFunction(stopped({ REST_MAX_ROWS: '500' })),
        command,
      ).rejects.toThrow(`injected failure at ${command}`);
      expect(lambda.functions.get(name)?.reserved, command).toBe(0);
      await released(lambda).ensureRestFunction(stopped({ REST_MAX_ROWS: '500' }));
      expect(lambda.functions.get(name)?.reserved, command).toBe(0);
      expect(concurrencyWrites(lambda), command).toEqual([]);
      expectConverged(lambda, { REST_MAX_ROWS: '500' });
    }
  });
});

describe('AWS function provider: names', () => {
  it("keeps two stacks' functions apart by their prefix, and deletes only its own", async () => {
    const lambda = fakeLambda({ checksUntilActive: 0 });
    const stack = (namePrefix: string) =>
      createAwsFunctionProvider(
        { ...config, restFunction: { ...config.restFunction, namePrefix } },
        { lambda: lambda.client, sleep: async () => {}, activePoll: { intervalMs: 1, maxChecks: 5 } },
      );
    const staging = stack('supaplane-staging-rest-');
    const prod = stack('supaplane-rest-');
    expect((await staging.ensureRestFunction(input())).name).toBe(`supaplane-staging-rest-${REF}`);
    expect((await prod.ensureRestFunction(input())).name).toBe(`supaplane-rest-${REF}`);
    await staging.deleteRestFunction(REF);
    expect(Object.keys(lambda.snapshot().functions)).toEqual([`supaplane-rest-${REF}`]);
  });

  it("stays within Lambda's 64 characters with the longest prefix and ref, distinct and stable", () => {
    const prefix = `${'p'.repeat(20)}-rest-`;
    const long = 'a'.repeat(39);
    const name = restFunctionName(`${long}b`, prefix);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name.startsWith(`${prefix}aaaa`)).toBe(true);
    expect(restFunctionName(`${long}b`, prefix)).toBe(name);
    expect(restFunctionName(`${long}c`, prefix)).not.toBe(name);
    expect(restFunctionName(REF, prefix)).toBe(`${prefix}${REF}`);
    expect(restFunctionName(REF)).toBe(`rest-${REF}`);
  });
});

describe('AWS function provider: describeRestFunction', () => {
  it('reads the function and its URL without changing them: null before, active after, failed when Lambda says so', async () => {
    const { lambda, provider } = setup();
    expect(await provider.describeRestFunction!(REF)).toBeNull();
    const ensured = await provider.ensureRestFunction(input());
    const before = lambda.calls().length;
    expect(await provider.describeRestFunction!(REF)).toEqual({
      name: `rest-${REF}`,
      url: ensured.url,
      state: 'active',
    });
    expect(lambda.calls().slice(before)).toEqual([
      'GetFunctionConfiguration',
      'GetFunctionUrlConfig',
      'GetFunctionConcurrency',
    ]);
    lambda.functions.get(`rest-${REF}`)!.state = 'Failed';
    expect((await provider.describeRestFunction!(REF))?.state).toBe('failed');
    lambda.urls.delete(`rest-${REF}`);
    expect((await provider.describeRestFunction!(REF))?.url).toBeNull();
  });

  it('describes a function with a reserved concurrency of 0 (a pause) as stopped, failed first, active once an ensure lifts it', async () => {
    const { lambda, provider } = setup();
    const ensured = await provider.ensureRestFunction(input());
    await provider.stopRestFunction!(REF);
    const before = lambda.calls().length;
    expect(await provider.describeRestFunction!(REF)).toEqual({
      name: `rest-${REF}`,
      url: ensured.url,
      state: 'stopped',
    });
    expect(lambda.calls().slice(before)).not.toContain('PutFunctionConcurrency');
    expect(lambda.functions.get(`rest-${REF}`)?.reserved).toBe(0);
    lambda.functions.get(`rest-${REF}`)!.state = 'Failed';
    expect((await provider.describeRestFunction!(REF))?.state).toBe('failed');
    lambda.functions.get(`rest-${REF}`)!.state = 'Active';
    await provider.ensureRestFunction(input());
    expect((await provider.describeRestFunction!(REF))?.state).toBe('active');
  });
});

describe('AWS function provider: code updates', () => {
  const zipConfig = (path: string): AwsProviderConfig => ({
    ...config,
    restFunction: { ...config.restFunction, artifact: { zipFile: path } },
  });
  const shaB64 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('base64');

  it('updates the code of an existing function only when the artifact differs, and converges after a failure', async () => {
    const lambda = fakeLambda();
    let bytes = new Uint8Array([80, 75, 3, 4, 1]);
    const provider = () =>
      createAwsFunctionProvider(zipConfig('/dist/rest-lambda.zip'), {
        lambda: lambda.client,
        sleep: async () => {},
        readZip: async () => bytes,
      });
    await provider().ensureRestFunction(input());
    lambda.mock.resetHistory();
    await provider().ensureRestFunction(input());
    expect(lambda.calls()).not.toContain('UpdateFunctionCode');

    bytes = new Uint8Array([80, 75, 3, 4, 2]);
    lambda.failAt('UpdateFunctionCode');
    await expect(provider().ensureRestFunction(input())).rejects.toThrow(
      'injected failure at UpdateFunctionCode',
    );
    expect(lambda.functions.get(`rest-${REF}`)!.codeSha256).not.toBe(shaB64(bytes));
    lambda.mock.resetHistory();
    await provider().ensureRestFunction(input());
    expect(lambda.calls().slice(0, 5)).toEqual([
      'CreateFunction',
      'GetFunctionConfiguration',
      'UpdateFunctionCode',
      'GetFunctionConfiguration', // InProgress
      'GetFunctionConfiguration', // Successful
    ]);
    expect(lambda.functions.get(`rest-${REF}`)!.codeSha256).toBe(shaB64(bytes));
    expectConverged(lambda);
  });

  it('updates S3-artifact functions when the configured codeSha256 differs, and leaves them alone without one', async () => {
    const lambda = fakeLambda();
    const s3 = (codeSha256?: string) =>
      createAwsFunctionProvider(
        {
          ...config,
          restFunction: {
            ...config.restFunction,
            artifact: { s3Bucket: 'supaplane-artifacts', s3Key: 'rest/rest-lambda.zip', codeSha256 },
          },
        },
        { lambda: lambda.client, sleep: async () => {} },
      );
    await s3().ensureRestFunction(input());
    await s3().ensureRestFunction(input());
    expect(lambda.calls()).not.toContain('UpdateFunctionCode');
    await s3('bmV3LWFydGlmYWN0').ensureRestFunction(input());
    expect(lambda.calls()).toContain('UpdateFunctionCode');
  });
});
