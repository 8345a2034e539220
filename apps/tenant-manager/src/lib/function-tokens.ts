import { createHmac } from 'node:crypto';
import { safeEqual } from './crypto.js';
import { REF_PATTERN } from './projects.js';

const PREFIX = 'sfn_';

/**
 * Per-project credentials of the rest functions: `sfn_<ref>_<base64url(HMAC-SHA256(k, "function:" + ref))>`,
 * where `k` is derived from the master key. Nothing is stored: a token is checked by recomputing it.
 * A function token opens only its own project's rest-config (see the internal API guard), so a
 * leaked function environment exposes one project, never the platform's service token.
 */
export interface FunctionTokens {
  mint(ref: string): string;
  /** The ref a well-formed, authentic token was minted for; null for anything else. */
  verify(token: string): string | null;
}

export function createFunctionTokens(masterKey: Buffer): FunctionTokens {
  // A purpose-bound subkey: the master key itself never signs anything outside the secret box.
  const key = createHmac('sha256', masterKey).update('supaplane:function-token-key:v1').digest();
  const mint = (ref: string) =>
    `${PREFIX}${ref}_${createHmac('sha256', key).update(`function:${ref}`).digest('base64url')}`;
  return {
    mint,
    verify(token) {
      if (!token.startsWith(PREFIX)) return null;
      // Refs never contain `_`; the MAC (base64url) may, so the first `_` ends the ref.
      const end = token.indexOf('_', PREFIX.length);
      if (end < 0) return null;
      const ref = token.slice(PREFIX.length, end);
      if (!REF_PATTERN.test(ref)) return null;
      return safeEqual(token, mint(ref)) ? ref : null;
    },
  };
}
