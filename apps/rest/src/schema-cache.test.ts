import { describe, expect, it } from 'vitest';
import { closest } from './schema-cache.js';

describe('closest', () => {
  it('suggests a near name, and spends no time comparing a long one with names it cannot be near', () => {
    const names = Array.from({ length: 500 }, (_, i) => `some_table_name_${i}`);
    expect(closest('some_table_nme_42', names)).toBe('some_table_name_42');
    expect(closest('bokks', ['authors', 'books'])).toBe('books');
    expect(closest('x', ['authors', 'books'])).toBeUndefined();
    // A client's 8 KB table name against a project of 500 tables took ~0.7 s of event loop.
    const started = performance.now();
    expect(closest('a'.repeat(8000), names)).toBeUndefined();
    expect(closest(`${'some_table_name_1'.repeat(3)}x`, names)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(100);
  });
});
