import type { DescribedRestFunction, FunctionProvider, Provider, RestFunction } from './types.js';

interface LocalProviderOptions {
  /** Control API of the local Lambda emulator, e.g. http://127.0.0.1:9000. */
  readonly emulatorUrl: string;
  readonly internalServiceToken: string;
  readonly region?: string;
  readonly timeoutMs?: number;
}

const functionName = (ref: string) => `rest-${ref}`;

/** Rest functions hosted by the local Lambda Function URL emulator (apps/lambda-local). */
export function createLocalFunctionProvider(options: LocalProviderOptions): FunctionProvider {
  const base = options.emulatorUrl.replace(/\/+$/, '');
  const region = options.region ?? 'local';
  const timeoutMs = options.timeoutMs ?? 10_000;
  /** A control API request; `action` is a sub-resource of the function (`stop`). */
  const call = async (
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    name: string | null,
    body?: unknown,
    action?: 'stop',
  ) => {
    const path =
      name === null
        ? '/functions'
        : `/functions/${encodeURIComponent(name)}${action === undefined ? '' : `/${action}`}`;
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.internalServiceToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Nothing to delete, or to stop: done.
    if ((method === 'DELETE' || action === 'stop') && response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`lambda emulator ${method} ${name ?? 'functions'} answered ${response.status}`);
    }
    return response.status === 204 ? null : ((await response.json()) as unknown);
  };
  return {
    async ensureRestFunction(input): Promise<RestFunction> {
      const name = functionName(input.ref);
      // A stopped registration is never started and its URL refuses requests as a stopped Lambda's does
      // (the emulator's stand-in for a reserved concurrency of 0): one PUT, runnable at no moment.
      const body = {
        runtime: 'rest',
        environment: input.environment,
        ...(input.stopped ? { stopped: true } : {}),
      };
      const result = (await call('PUT', name, body)) as {
        name?: string;
        url?: string;
      } | null;
      if (!result?.url) throw new Error('lambda emulator answered without a function url');
      // The URL names the region the emulator signs for: http://NAME.lambda-url.<region>.localhost:PORT/
      const signedRegion = /\.lambda-url\.([a-z0-9-]+)\./.exec(new URL(result.url).hostname)?.[1] ?? region;
      return { name, url: result.url.endsWith('/') ? result.url : `${result.url}/`, region: signedRegion };
    },
    async deleteRestFunction(ref) {
      await call('DELETE', functionName(ref));
    },
    async stopRestFunction(ref) {
      // Closes its instances at once (invocations under way finish) and keeps the registration, stopped;
      // the restore's ensure makes it runnable again, at the same URL.
      await call('POST', functionName(ref), undefined, 'stop');
    },
    async describeRestFunction(ref): Promise<DescribedRestFunction | null> {
      // The emulator lists its functions (no per-function GET), each `cold`, `warm` or `stopped`.
      const name = functionName(ref);
      const listed = (await call('GET', null)) as {
        functions?: { name: string; url: string; state?: string }[];
      } | null;
      const fn = listed?.functions?.find((f) => f.name === name);
      if (!fn) return null;
      const url = fn.url.endsWith('/') ? fn.url : `${fn.url}/`;
      return { name, url, state: fn.state === 'stopped' ? 'stopped' : 'active' };
    },
  };
}

export function createLocalProvider(options: LocalProviderOptions): Provider {
  return { name: 'local', functions: createLocalFunctionProvider(options) };
}
