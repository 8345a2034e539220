import type { HttpResult } from './clients.js';

/** One answer seen under load, with when it was sent and answered (`Date.now()` ms). */
export interface Answer {
  readonly client: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number;
  readonly text: string;
}

export interface Traffic {
  /** Every answer so far, in the order they came back. */
  readonly answers: readonly Answer[];
  /**
   * Resolves once every client has `count` answers to requests it sent at or after `since` (an event to
   * await instead of a sleep).
   */
  sentSince(since: number, count: number): Promise<void>;
  /** Stops sending, waits for the requests in flight, returns every answer. */
  stop(): Promise<Answer[]>;
}

/**
 * Several clients sending back to back at once, each its own request in a loop, until `stop()` —
 * traffic that keeps running while the operator changes a project. A request that throws (connection
 * reset) is recorded as status 0 with the error's message.
 */
export function traffic(
  clients: Record<string, () => Promise<Pick<HttpResult, 'status' | 'text'>>>,
): Traffic {
  const answers: Answer[] = [];
  const waiters = new Set<() => void>();
  let running = true;
  const loops = Object.entries(clients).map(async ([client, send]) => {
    while (running) {
      const sentAt = Date.now();
      let status = 0;
      let text = '';
      try {
        ({ status, text } = await send());
      } catch (error) {
        text = (error as Error).message;
      }
      answers.push({ client, sentAt, answeredAt: Date.now(), status, text });
      for (const wake of waiters) wake();
    }
  });
  return {
    answers,
    sentSince(since, count) {
      const reached = () =>
        Object.keys(clients).every((client) => answersOf(answers, client, since).length >= count);
      return new Promise((resolve) => {
        if (reached()) return resolve();
        const wake = () => {
          if (!reached()) return;
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** The answers of one client, optionally only those sent at or after `since`. */
export const answersOf = (answers: readonly Answer[], client: string, since = 0) =>
  answers.filter((a) => a.client === client && a.sentAt >= since);

/** Milliseconds from sending to answer. */
export const latency = (a: Answer) => a.answeredAt - a.sentAt;
