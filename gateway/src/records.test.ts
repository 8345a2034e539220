import { describe, expect, it } from 'vitest';
import { parseProjectRecord } from './records.js';

// The tenant-manager's project record (docs/contracts.md), as a gateway reads it.
const base = {
  ref: 'abcdefghijklmnopqrst',
  status: 'ACTIVE_HEALTHY',
  jwtSecret: 'project-secret-project-secret-project-secret',
  jwks: { keys: [] },
  upstreams: {},
  version: 4,
};
const keyA = {
  kid: '0b6f2c1e-95a4-4f0e-8a57-1d2c3b4a5e01',
  k: Buffer.from('shared-secret-a-0123456789').toString('base64url'),
};

describe('sharedKeys in the project record', () => {
  it("carries the HS256 signing keys' kid and secret, apart from the public jwks", () => {
    const record = parseProjectRecord({ ...base, sharedKeys: [keyA] });
    expect(record?.sharedKeys).toEqual([keyA]);
    expect(record?.jwks).toEqual({ keys: [] });
  });

  it('is none when the record has no such field (a tenant-manager older than it), or null', () => {
    expect(parseProjectRecord(base)?.sharedKeys).toEqual([]);
    expect(parseProjectRecord({ ...base, sharedKeys: null })?.sharedKeys).toEqual([]);
  });

  it('makes the whole record invalid when malformed, as any other malformed field does', () => {
    for (const bad of [
      {},
      'k',
      [keyA, 7],
      [{ kid: keyA.kid }],
      [{ k: keyA.k }],
      [{ kid: keyA.kid, k: '%%%' }],
      [{ kid: '', k: keyA.k }],
    ]) {
      expect(parseProjectRecord({ ...base, sharedKeys: bad }), JSON.stringify(bad)).toBeNull();
    }
  });
});
