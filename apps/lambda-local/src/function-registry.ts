import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FunctionUrlEvent } from './function-url-event.js';

/** A function's code: called with the event, may be called concurrently (Lambda would scale out). */
export type Handler = ((event: FunctionUrlEvent) => Promise<unknown>) & { close?(): Promise<void> };

/** Creates a fresh instance of a function from its environment (one cold start). */
export type RuntimeFactory = (environment: Record<string, string>) => Promise<Handler> | Handler;

interface FunctionRegistration {
  readonly name: string;
  readonly runtime: string;
  readonly environment: Record<string, string>;
  /**
   * Takes no invocation (Lambda's reserved concurrency of 0, a paused project's function): kept
   * registered with its environment and URL, never started, until a registration without it.
   */
  readonly stopped: boolean;
}

type FunctionState = 'cold' | 'warm' | 'stopped';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

interface Instance {
  readonly handler: Promise<Handler>;
  /** Invocations running on this instance. */
  inflight: number;
  /** Set when the instance was replaced or stopped while in use: called once its last invocation ends. */
  onDrained?: () => void;
  closed?: boolean;
}

interface Entry {
  registration: FunctionRegistration;
  /** Set from the first request until the instance is stopped. */
  instance?: Instance;
  /** Invocations of the function, on any of its instances. */
  inflight: number;
  idleTimer?: NodeJS.Timeout;
}

/** Lower-case DNS label: the name becomes the first label of the Function URL host. */
export const FUNCTION_NAME = /^[a-z0-9](?:[a-z0-9-]{0,62})$/;

interface FunctionRegistryOptions {
  readonly runtimes: Readonly<Record<string, RuntimeFactory>>;
  readonly idleMs: number;
  /** How long an invocation (its cold start included) may run before it fails as timed out. */
  readonly timeoutMs: number;
  readonly dataDir?: string;
  readonly logger: Logger;
}

/** An invocation ran past the function's timeout (Lambda's "Task timed out"). */
class FunctionTimeoutError extends Error {}

/**
 * Registered functions and their instances: cold start on first invocation, reuse while warm, stop
 * (handler.close()) after `idleMs` without requests. Registrations persist in `<dataDir>/functions.json`.
 */
export class FunctionRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Stopped instances still finishing invocations, by the function name they ran. */
  private readonly draining = new Map<Instance, string>();
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: FunctionRegistryOptions) {}

  private get file(): string | undefined {
    return this.options.dataDir ? join(this.options.dataDir, 'functions.json') : undefined;
  }

  /** Loads persisted registrations; a missing file is an empty registry. */
  async load(): Promise<void> {
    const file = this.file;
    if (!file) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const saved = JSON.parse(text) as { functions?: FunctionRegistration[] };
    for (const r of saved.functions ?? []) {
      this.entries.set(r.name, {
        registration: {
          name: r.name,
          runtime: r.runtime,
          environment: r.environment ?? {},
          stopped: r.stopped === true,
        },
        inflight: 0,
      });
    }
  }

  hasRuntime(runtime: string): boolean {
    return Object.hasOwn(this.options.runtimes, runtime);
  }

  list(): Array<FunctionRegistration & { state: FunctionState }> {
    return [...this.entries.values()].map((e) => ({
      ...e.registration,
      state: e.registration.stopped ? 'stopped' : e.instance ? 'warm' : 'cold',
    }));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * Creates or replaces a registration; a changed one stops its warm instance so the next call is cold
   * (a stopped one takes no call at all).
   */
  async put(registration: FunctionRegistration): Promise<void> {
    const existing = this.entries.get(registration.name);
    if (existing && sameRegistration(existing.registration, registration)) return;
    if (existing) {
      existing.registration = registration;
      await this.stop(existing);
    } else {
      this.entries.set(registration.name, { registration, inflight: 0 });
    }
    await this.save();
  }

  /** Stops the function (see `stopped`) and its instance at once; false when it is not registered. */
  async stopFunction(name: string): Promise<boolean> {
    const entry = this.entries.get(name);
    if (!entry) return false;
    if (entry.registration.stopped) return true;
    entry.registration = { ...entry.registration, stopped: true };
    await this.stop(entry);
    await this.save();
    return true;
  }

  async delete(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    await this.stop(entry);
    await this.save();
  }

  /**
   * Runs one invocation; `undefined` when the function does not exist, `stopped` when it takes none.
   * Throws what the function throws.
   */
  async invoke(name: string, event: FunctionUrlEvent): Promise<{ result: unknown } | 'stopped' | undefined> {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    if (entry.registration.stopped) return 'stopped';
    entry.inflight++;
    clearTimeout(entry.idleTimer);
    const instance = this.instance(entry);
    instance.inflight++;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new FunctionTimeoutError(`Task timed out after ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
    });
    try {
      const run = instance.handler.then((handler) => handler(event));
      run.catch(() => {});
      return { result: await Promise.race([run, timedOut]) };
    } catch (error) {
      // Lambda resets an environment whose invocation timed out: the next request starts a new one.
      if (error instanceof FunctionTimeoutError && entry.instance === instance) void this.stop(entry);
      throw error;
    } finally {
      clearTimeout(timer);
      instance.inflight--;
      if (instance.inflight === 0) instance.onDrained?.();
      entry.inflight--;
      if (entry.inflight === 0 && entry.instance && this.entries.get(name) === entry)
        this.scheduleIdleStop(entry);
    }
  }

  /** Stops every instance at once, in use or not (registrations stay). */
  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.stop(e)));
    await Promise.all([...this.draining].map(([instance, name]) => this.closeInstance(name, instance)));
    await this.saving.catch(() => {});
  }

  private instance(entry: Entry): Instance {
    if (!entry.instance) {
      const { name, runtime, environment } = entry.registration;
      const factory = this.options.runtimes[runtime];
      const started = Date.now();
      const instance: Instance = {
        inflight: 0,
        handler: (async () => {
          if (!factory) throw new Error(`runtime ${runtime} is not available in this emulator`);
          const handler = await factory({ ...environment });
          this.options.logger.info({ function: name, runtime, ms: Date.now() - started }, 'cold start');
          return handler;
        })(),
      };
      entry.instance = instance;
      // A failed cold start is not cached: the next request tries again.
      instance.handler.catch(() => {
        if (entry.instance === instance) entry.instance = undefined;
      });
    }
    return entry.instance;
  }

  private scheduleIdleStop(entry: Entry): void {
    clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      if (entry.inflight === 0) void this.stop(entry);
    }, this.options.idleMs);
    entry.idleTimer.unref();
  }

  /**
   * Detaches the entry's instance so the next request starts a new one, and closes it: now when no
   * invocation uses it, else once the last one ends (invocations under way finish on the instance
   * they started on, as on Lambda; the returned promise does not wait for them).
   */
  private async stop(entry: Entry): Promise<void> {
    clearTimeout(entry.idleTimer);
    const instance = entry.instance;
    entry.instance = undefined;
    if (!instance) return;
    const name = entry.registration.name;
    if (instance.inflight === 0) return this.closeInstance(name, instance);
    this.draining.set(instance, name);
    instance.onDrained = () => void this.closeInstance(name, instance);
  }

  private async closeInstance(name: string, instance: Instance): Promise<void> {
    if (instance.closed) return;
    instance.closed = true;
    this.draining.delete(instance);
    const handler = await instance.handler.catch(() => undefined);
    if (!handler?.close) return;
    try {
      await handler.close();
      this.options.logger.info({ function: name }, 'instance stopped');
    } catch (error) {
      this.options.logger.warn({ function: name, err: String(error) }, 'instance close failed');
    }
  }

  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const body = JSON.stringify(
      { functions: [...this.entries.values()].map((e) => e.registration) },
      null,
      2,
    );
    // Writes are serialised and atomic (temp file + rename); the file holds tokens, so 0600.
    this.saving = this.saving
      .catch(() => {})
      .then(async () => {
        await mkdir(this.options.dataDir!, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      });
    return this.saving;
  }
}

function sameRegistration(a: FunctionRegistration, b: FunctionRegistration): boolean {
  if (a.runtime !== b.runtime || a.stopped !== b.stopped) return false;
  const ka = Object.keys(a.environment).sort();
  const kb = Object.keys(b.environment).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a.environment[k] === b.environment[k]);
}
