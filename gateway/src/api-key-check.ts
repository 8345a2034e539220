import { type ApiKeyType, hashApiKey, verifyApiKey } from '@supaplane/keys';
import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';
import type { ProjectRateLimiter, RateLimit } from './rate-limit.js';
import type { ApiKeyRecord } from './records.js';
import type { TieredCache } from './tiered-cache.js';

/** A key whose checksum passed for `ref`, with its lookup hash. */
interface CheckedKey {
  readonly ref: string;
  readonly type: ApiKeyType;
  readonly hash: string;
}

/**
 * What is checked of an API key on a project host before any lookup: its checksum for the host's ref,
 * and the budget of keys this instance has never held that one client may have looked up for the
 * project (a key whose checksum passes for any ref is easy to make up, and each would cost a Redis read
 * and a tenant-manager call). The budget is the client's, not the project's: one client sending
 * made-up keys must not get 429s answered to the project's other clients and their real keys.
 */
export class ApiKeyChecks {
  /** Checksum and lookup hash of keys already seen, so a warm request hashes nothing. */
  private readonly checked: LRUCache<string, CheckedKey>;

  constructor(
    maxEntries: number,
    private readonly keys: TieredCache<ApiKeyRecord, ApiKeyRecord>,
    /** Per-instance buckets, by ref and client address. */
    private readonly lookupBudget: ProjectRateLimiter,
    /** Keys never held that one client may have looked up for one project; 0 per second turns the bound off. */
    private readonly newKeyBudget: RateLimit,
    private readonly clock: Clock,
  ) {
    this.checked = new LRUCache({ max: maxEntries });
  }

  /** The key's type and hash when its checksum passes for `ref`, else null. */
  forRef(apiKey: string, ref: string): CheckedKey | null {
    let checked = this.checked.get(apiKey);
    if (!checked || checked.ref !== ref) {
      const verified = verifyApiKey(apiKey, ref);
      if (!verified.ok) return null;
      checked = { ref, type: verified.key.type, hash: hashApiKey(apiKey) };
      this.checked.set(apiKey, checked);
    }
    return checked;
  }

  /**
   * For a key not freshly cached: the milliseconds `client` (client-head.ts `clientAddress`) must wait
   * before this instance looks up another key for `ref` it never held, or 0. A stale entry
   * (tenant-manager down) or an expired negative one is no new key, however often it is asked for.
   */
  newKeyWait(ref: string, hash: string, client: string): number {
    const keys = this.keys;
    if (this.newKeyBudget.requestsPerSecond <= 0 || keys.seen(hash) || keys.loading(hash)) return 0;
    return this.lookupBudget.take(`${ref} ${client}`, this.newKeyBudget, this.clock.now());
  }
}
