import { createHmac } from 'node:crypto';
import { hashApiKey } from '@supaplane/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type Harness, internal, MASTER_KEY, startHarness } from '../../test/harness.js';
import { createFunctionTokens } from '../lib/function-tokens.js';

let h: Harness;
let tokenA: string;
let tokenB: string;
let keyHashA: string;

const get = (url: string, token: string) =>
  h.tm.internalApp.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  h = await startHarness();
  await h.registerCluster('fntokens', 10);
  for (const ref of ['fn-alpha', 'fn-beta']) {
    const created = await h.createProject(ref);
    expect(created.json().status).toBe('ACTIVE_HEALTHY');
  }
  tokenA = h.functions.live.get('fn-alpha')!.SUPAPLANE_INTERNAL_TOKEN!;
  tokenB = h.functions.live.get('fn-beta')!.SUPAPLANE_INTERNAL_TOKEN!;
  const keys = await h.tm.publicApp.inject({
    url: '/v1/projects/fn-alpha/api-keys?reveal=true',
    headers: admin,
  });
  keyHashA = hashApiKey(keys.json()[0].api_key);
});
afterAll(() => h?.close());

describe('function tokens', () => {
  it('are sfn_<ref>_<base64url HMAC-SHA256 of ref and project id, under a key derived from the master key>', async () => {
    // the project's own uuid (the API's id is its ref, as Supabase's)
    const [{ id }] = (
      await h.db.query(`SELECT id FROM tm.projects WHERE ref = 'fn-alpha' AND status <> 'REMOVED'`)
    ).rows;
    const derived = createHmac('sha256', MASTER_KEY).update('supaplane:function-token-key:v1').digest();
    const mac = createHmac('sha256', derived).update(`function:fn-alpha:${id}`).digest('base64url');
    expect(tokenA).toBe(`sfn_fn-alpha_${mac}`);
    expect(tokenA).not.toContain(MASTER_KEY.toString('base64url'));
    // a different master key gives a different token: nothing is stored, nothing else signs
    expect(createFunctionTokens(Buffer.alloc(32, 9)).mint('fn-alpha', id)).not.toBe(tokenA);
  });

  it("read their own project's rest-config", async () => {
    const response = await get('/internal/v1/projects/fn-alpha/rest-config', tokenA);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ ref: 'fn-alpha', db: { user: 'authenticator_fn-alpha' } });
    const other = await get('/internal/v1/projects/fn-beta/rest-config', tokenB);
    expect(other.json()).toMatchObject({ ref: 'fn-beta' });
  });

  it("are refused for another project's rest-config, project config and key lookups", async () => {
    for (const url of [
      '/internal/v1/projects/fn-beta/rest-config',
      '/internal/v1/projects/fn-alpha/config',
      '/internal/v1/projects/fn-beta/config',
      `/internal/v1/api-keys/${keyHashA}`,
    ]) {
      const response = await get(url, tokenA);
      expect(response.statusCode, url).toBe(403);
      expect(response.json()).toEqual({
        message: "a function token only reads its own project's rest-config",
        code: 'forbidden',
      });
      expect(response.body).not.toContain('password');
    }
  });

  it('refuses tampered, re-targeted and malformed tokens with 401', async () => {
    const last = tokenA.at(-1) === 'A' ? 'B' : 'A';
    const macA = tokenA.slice('sfn_fn-alpha_'.length);
    for (const forged of [
      `${tokenA.slice(0, -1)}${last}`,
      `sfn_fn-beta_${macA}`, // alpha's MAC under beta's ref
      `${tokenA}x`,
      'sfn_fn-alpha_',
      'sfn_fn-alpha',
      'sfn__x',
      tokenA.replace('sfn_', 'sfx_'),
    ]) {
      for (const ref of ['fn-alpha', 'fn-beta']) {
        const response = await get(`/internal/v1/projects/${ref}/rest-config`, forged);
        expect(response.statusCode, forged).toBe(401);
        expect(response.body).not.toContain('password');
      }
    }
  });

  it('of a deleted project open nothing, not even a new project that took its ref', async () => {
    expect((await h.createProject('fn-reused')).json().status).toBe('ACTIVE_HEALTHY');
    const old = h.functions.live.get('fn-reused')!.SUPAPLANE_INTERNAL_TOKEN!;
    const url = '/internal/v1/projects/fn-reused/rest-config';
    expect((await get(url, old)).statusCode).toBe(200);
    const deleted = await h.tm.publicApp.inject({
      method: 'DELETE',
      url: '/v1/projects/fn-reused',
      headers: admin,
    });
    expect(deleted.json()).toMatchObject({ ref: 'fn-reused', id: expect.any(Number) });
    expect((await get(url, old)).statusCode).toBe(401);

    expect((await h.createProject('fn-reused')).json().status).toBe('ACTIVE_HEALTHY');
    const fresh = h.functions.live.get('fn-reused')!.SUPAPLANE_INTERNAL_TOKEN!;
    expect(fresh).not.toBe(old);
    const stale = await get(url, old);
    expect(stale.statusCode).toBe(401);
    expect(stale.body).not.toContain('password');
    expect((await get(url, fresh)).json()).toMatchObject({ ref: 'fn-reused' });
  });

  it('reach a paused function on restore (the start-up reconciliation skips paused projects)', async () => {
    expect((await h.createProject('fn-paused')).json().status).toBe('ACTIVE_HEALTHY');
    const action = (what: string) =>
      h.tm.publicApp.inject({ method: 'POST', url: `/v1/projects/fn-paused/${what}`, headers: admin });
    expect((await action('pause')).json().status).toBe('INACTIVE');
    // a function made before its token changed form (or before an upgrade), paused meanwhile
    const current = h.functions.live.get('fn-paused')!;
    h.functions.live.set('fn-paused', { ...current, SUPAPLANE_INTERNAL_TOKEN: 'sfn_fn-paused_stale' });
    expect((await action('restore')).json().status).toBe('ACTIVE_HEALTHY');
    const token = h.functions.live.get('fn-paused')!.SUPAPLANE_INTERNAL_TOKEN!;
    expect(token).toBe(current.SUPAPLANE_INTERNAL_TOKEN);
    expect((await get('/internal/v1/projects/fn-paused/rest-config', token)).statusCode).toBe(200);
  });

  it('leave the service token working for every route', async () => {
    for (const url of [
      '/internal/v1/projects/fn-alpha/rest-config',
      '/internal/v1/projects/fn-beta/config',
      `/internal/v1/api-keys/${keyHashA}`,
    ]) {
      const response = await h.tm.internalApp.inject({ url, headers: internal });
      expect(response.statusCode, url).toBe(200);
    }
  });
});
