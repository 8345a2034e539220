import { createHmac } from 'node:crypto';
import { safeEqual } from './crypto.js';
import { REF_PATTERN } from './projects.js';

const PREFIX = 'sfn_';

/**
 * Per-project credentials of the rest functions:
 * `sfn_<ref>_<base64url(HMAC-SHA256(k, "function:" + ref + ":" + project id))>`, where `k` is derived
 * from the master key. Nothing is stored: a token is checked by recomputing it for the live project
 * that holds the ref. The project id is in the MAC because a ref is freed by a delete and may be
 * taken again: the new project must not accept the old project's function token.
 * A function token opens only its own project's rest-config (see the internal API guard), so a
 * leaked function environment exposes one project, never the platform's service token.
 */
export interface FunctionTokens {
  mint(ref: string, projectId: string): string;
  /** The ref a well-formed token names (not proof of anything: see `verify`); null for anything else. */
  refOf(token: string): string | null;
  /** Whether `token` is the one minted for this project. */
  verify(token: string, ref: string, projectId: string): boolean;
}

export function createFunctionTokens(masterKey: Buffer): FunctionTokens {
  // A purpose-bound subkey: the master key itself never signs anything outside the secret box.
  const key = createHmac('sha256', masterKey).update('supaplane:function-token-key:v1').digest();
  const mint = (ref: string, projectId: string) =>
    `${PREFIX}${ref}_${createHmac('sha256', key).update(`function:${ref}:${projectId}`).digest('base64url')}`;
  return {
    mint,
    refOf(token) {
      if (!token.startsWith(PREFIX)) return null;
      // Refs never contain `_`; the MAC (base64url) may, so the first `_` ends the ref.
      const end = token.indexOf('_', PREFIX.length);
      if (end < 0) return null;
      const ref = token.slice(PREFIX.length, end);
      return REF_PATTERN.test(ref) ? ref : null;
    },
    verify: (token, ref, projectId) => safeEqual(token, mint(ref, projectId)),
  };
}
