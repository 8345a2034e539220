import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  eventually,
  type Harness,
  type InvalidationListener,
  internal,
  pgUrl,
  queryOnce,
  RecordingFunctions,
  startHarness,
  startInvalidationListener,
  TEST_APP_CONFIG,
} from '../../test/harness.js';
import type { AwsProviderConfig } from '../providers/aws/config.js';
import { createAwsFunctionProvider } from '../providers/aws/functions.js';
import { fakeLambda } from '../providers/aws/testing/fake-aws.js';
import type { Provider, RestFunction, RestFunctionInput } from '../providers/types.js';

/** The same functions, now served by an emulator on another port (LAMBDA_PORT changed). */
class MovedFunctions extends RecordingFunctions {
  inFlight = 0;
  maxInFlight = 0;
  /** Refs in the order an ensure made their function runnable (an ensure not asked to keep it stopped). */
  readonly madeRunnable: string[] = [];
  constructor(
    private readonly port: number,
    private readonly failing: readonly string[] = [],
  ) {
    super();
  }
  override async ensureRestFunction(input: RestFunctionInput): Promise<RestFunction> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 40));
      if (this.failing.includes(input.ref)) throw new Error('emulator unreachable');
      await super.ensureRestFunction(input);
      if (!input.stopped) this.madeRunnable.push(input.ref);
      return {
        name: `rest-${input.ref}`,
        url: `http://rest-${input.ref}.lambda-url.local.localhost:${this.port}/`,
        region: 'local',
      };
    } finally {
      this.inFlight--;
    }
  }
}

const config = { ...TEST_APP_CONFIG, provisionConcurrency: 2 };

let redis: InvalidationListener;
let managementUrl: string;
const ACTIVE = ['rc-one', 'rc-three', 'rc-four'];

const restUrl = async (h: Harness, ref: string) => {
  const response = await h.tm.internalApp.inject({
    url: `/internal/v1/projects/${ref}/config`,
    headers: internal,
  });
  const body = response.json() as { upstreams: { rest: { url: string } }; version: number };
  return { url: body.upstreams.rest.url, version: body.version };
};

beforeAll(async () => {
  redis = await startInvalidationListener();
  const first = await startHarness({ redis: redis.publisher });
  managementUrl = first.managementUrl;
  try {
    await first.registerCluster('reconcile', 10);
    for (const ref of [...ACTIVE, 'rc-two']) {
      const created = await first.createProject(ref);
      expect(created.json().status).toBe('ACTIVE_HEALTHY');
    }
    const paused = await first.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects/rc-two/pause',
      headers: admin,
    });
    expect(paused.json().status).toBe('INACTIVE');
    expect((await restUrl(first, 'rc-one')).url).toBe('http://rest-rc-one.lambda-url.local.localhost:9000/');
  } finally {
    await first.close();
  }
});
afterAll(async () => {
  await redis?.stop();
});

describe('rest function reconciliation at start-up', () => {
  it('re-ensures every active and paused function with bounded concurrency, stores moved URLs and invalidates', async () => {
    const moved = new MovedFunctions(9100);
    const h = await startHarness({ managementUrl, functions: moved, redis: redis.publisher, config });
    try {
      const before = (await h.db.query(`SELECT ref, version FROM tm.projects ORDER BY ref`)).rows;
      const summary = await h.tm.functionsReconciled;
      expect(summary).toEqual({ checked: 4, updated: expect.any(Array), failed: [] });
      expect(summary!.updated.sort()).toEqual([...ACTIVE, 'rc-two'].sort());
      // every function got the current environment, the paused project's too, and nothing was stopped
      // separately: the paused project's ensure kept its function stopped
      expect(moved.calls.sort()).toEqual([...ACTIVE, 'rc-two'].map((ref) => `ensure:${ref}`).sort());
      expect(moved.live.get('rc-one')).toEqual({
        SUPAPLANE_PROJECT_REF: 'rc-one',
        SUPAPLANE_CONFIG_URL: 'http://127.0.0.1:3002',
        SUPAPLANE_INTERNAL_TOKEN: h.tm.ctx.functionTokens.mint(
          'rc-one',
          (await h.db.query(`SELECT id FROM tm.projects WHERE ref = 'rc-one'`)).rows[0].id,
        ),
      });
      expect(moved.maxInFlight).toBe(2); // PROVISION_CONCURRENCY 2 bounds it
      const now = await restUrl(h, 'rc-one');
      expect(now.url).toBe('http://rest-rc-one.lambda-url.local.localhost:9100/');
      expect(now.version).toBe(before.find((r) => r.ref === 'rc-one')!.version + 1);
      for (const ref of [...ACTIVE, 'rc-two']) {
        expect(
          await eventually(async () =>
            redis.messages.find(
              (m) => m.ref === ref && m.reason === 'function-updated' && m.kind === 'project',
            ),
          ),
        ).toBeTruthy();
      }
      // the paused project's function was never made runnable, not even for a moment; the others were
      expect(moved.madeRunnable.sort()).toEqual([...ACTIVE].sort());
      expect(moved.stopped).toEqual(new Set(['rc-two']));
      // gateways re-read the paused project's config, which still says paused
      const paused = await h.tm.publicApp.inject({ url: '/v1/projects/rc-two', headers: admin });
      expect(paused.json().status).toBe('INACTIVE');
    } finally {
      await h.close();
    }
  });

  it('leaves unchanged URLs (and versions) alone, and survives a provider failure', async () => {
    const same = new MovedFunctions(9100, ['rc-three']);
    const h = await startHarness({ managementUrl, functions: same, redis: redis.publisher, config });
    try {
      const before = await restUrl(h, 'rc-one');
      const summary = await h.tm.functionsReconciled;
      expect(summary).toEqual({ checked: 3, updated: [], failed: ['rc-three'] });
      expect(await restUrl(h, 'rc-one')).toEqual(before);
      expect((await restUrl(h, 'rc-three')).url).toBe(
        'http://rest-rc-three.lambda-url.local.localhost:9100/',
      );
      // start-up went on regardless
      const listed = await h.tm.publicApp.inject({ url: '/v1/projects', headers: admin });
      expect(listed.json()).toHaveLength(4);
    } finally {
      await h.close();
    }
  });

  it("a restore after the reconcile makes the paused project's function runnable again", async () => {
    const functions = new MovedFunctions(9100);
    const h = await startHarness({ managementUrl, functions, redis: redis.publisher, config });
    try {
      expect((await h.tm.functionsReconciled)?.failed).toEqual([]);
      expect(functions.stopped).toEqual(new Set(['rc-two']));
      const restored = await h.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects/rc-two/restore',
        headers: admin,
      });
      expect(restored.json().status).toBe('ACTIVE_HEALTHY');
      expect(functions.stopped).toEqual(new Set());
      expect(functions.madeRunnable.filter((ref) => ref === 'rc-two')).toEqual(['rc-two']);
    } finally {
      await h.close();
    }
  });

  it('can be turned off', async () => {
    const idle = new MovedFunctions(9200);
    const h = await startHarness({ managementUrl, functions: idle, config, reconcileFunctions: false });
    try {
      expect(await h.tm.functionsReconciled).toBeNull();
      expect(idle.calls).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe('rest function reconciliation on AWS', () => {
  const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/6c1f0a2e-1111-4222-8333-944455556666';
  const aws = (lambda: ReturnType<typeof fakeLambda>, kmsKeyArn?: string): Provider => {
    const config: AwsProviderConfig = {
      region: 'eu-west-1',
      restFunction: {
        artifact: { s3Bucket: 'supaplane-artifacts', s3Key: 'rest/rest-lambda.zip' },
        roleArn: 'arn:aws:iam::111111111111:role/supaplane-rest-function',
        ...(kmsKeyArn ? { kmsKeyArn } : {}),
      },
      gatewayRoleArn: 'arn:aws:iam::111111111111:role/supaplane-gateway-task',
    };
    return {
      name: 'aws',
      functions: createAwsFunctionProvider(config, { lambda: lambda.client, sleep: async () => {} }),
    };
  };
  const REFS = ['rk-active', 'rk-paused'];
  /** The reserved-concurrency calls made for function `name`, in order (`Put <n>` with its value). */
  const concurrencyCalls = (lambda: ReturnType<typeof fakeLambda>, name: string) =>
    lambda.mock
      .calls()
      .map((c) => c.args[0] as { constructor: { name: string }; input: Record<string, unknown> })
      .filter(
        (command) => /Concurrency/.test(command.constructor.name) && command.input['FunctionName'] === name,
      )
      .map((command) => {
        const operation = command.constructor.name.replace(/Command$/, '');
        const reserved = command.input['ReservedConcurrentExecutions'];
        return reserved === undefined ? operation : `${operation} ${reserved}`;
      });
  const keyOf = (lambda: ReturnType<typeof fakeLambda>, ref: string) =>
    lambda.functions.get(`rest-${ref}`)?.config['KMSKeyArn'];

  it("moves paused projects' functions onto the environment key as well, and leaves them paused", async () => {
    const lambda = fakeLambda({ checksUntilActive: 0 });
    // Functions made by a version that did not encrypt their environment with the stack's key.
    const older = await startHarness({ provider: aws(lambda), reconcileFunctions: false });
    const { managementUrl } = older;
    try {
      await older.registerCluster('reconcile-aws', 10);
      for (const ref of REFS) expect((await older.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
      const paused = await older.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects/rk-paused/pause',
        headers: admin,
      });
      expect(paused.json().status).toBe('INACTIVE');
    } finally {
      await older.close();
    }
    for (const ref of REFS) expect(keyOf(lambda, ref)).toBe('');
    const before = lambda.snapshot();
    lambda.mock.resetHistory();

    const h = await startHarness({ managementUrl, provider: aws(lambda, KEY) });
    try {
      expect(await h.tm.functionsReconciled).toEqual({ checked: 2, updated: [], failed: [] });
      for (const ref of REFS) expect(keyOf(lambda, ref)).toBe(KEY);
      // Nothing else about the functions changed: same URL, same grants to the gateway alone.
      const after = lambda.snapshot();
      expect(after.urls).toEqual(before.urls);
      expect(after.policies).toEqual(before.policies);
      // The paused project is still paused: status, and login roles the cluster refuses.
      const status = async (ref: string) =>
        (await h.tm.publicApp.inject({ url: `/v1/projects/${ref}`, headers: admin })).json().status;
      expect(await status('rk-paused')).toBe('INACTIVE');
      // Its function still takes no invocation (the pause's reserved concurrency of 0), the other's does.
      expect(lambda.functions.get('rest-rk-paused')?.reserved).toBe(0);
      expect(lambda.functions.get('rest-rk-active')?.reserved).toBeUndefined();
      // And it took none at any moment of the reconcile: its concurrency was read, never lifted nor set.
      expect(concurrencyCalls(lambda, 'rest-rk-paused')).toEqual(['GetFunctionConcurrency']);
      expect(
        await queryOnce(
          pgUrl(),
          'SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY ($1) ORDER BY 1',
          [['owner_rk-paused', 'authenticator_rk-paused']],
        ),
      ).toEqual([
        { rolname: 'authenticator_rk-paused', rolcanlogin: false },
        { rolname: 'owner_rk-paused', rolcanlogin: false },
      ]);
      // The restore lifts the reserved concurrency: the function serves again.
      lambda.mock.resetHistory();
      const restored = await h.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects/rk-paused/restore',
        headers: admin,
      });
      expect(restored.json().status).toBe('ACTIVE_HEALTHY');
      expect(concurrencyCalls(lambda, 'rest-rk-paused')).toEqual([
        'GetFunctionConcurrency',
        'DeleteFunctionConcurrency',
      ]);
      expect(lambda.functions.get('rest-rk-paused')?.reserved).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});
