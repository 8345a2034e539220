import { describe, expect, it } from 'vitest';
import { parseOpExpr, parseOpExprByGrammar } from './filter-expr.js';
import { FILTER_OPERATORS } from './query-parser.js';

// parseOpExpr reads the common shapes directly; whatever it answers must be what the grammar answers.

// Every operator the parser knows, and pieces around and inside them.
const PIECES = [
  'not',
  ...FILTER_OPERATORS,
  'any',
  'all',
  'null',
  'true',
  'EQ',
  'Not',
  'x',
  '42',
  '.',
  '.',
  '.',
  '(',
  ')',
  ',',
  ',',
  '"',
  '\\',
  ' ',
  '\t',
  '\u00a0',
  '*',
  '%',
  'é',
  '',
];

/** A deterministic generator (mulberry32), so a failure names its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('parseOpExpr', () => {
  it('answers what the grammar answers, for the shapes it reads directly and for generated values', () => {
    const crafted = [
      'eq.42',
      'not.eq.42',
      'eq.',
      'ilike.*hello*',
      'neq.a.b',
      'isdistinct.x',
      'gte.2026-01-01',
      'eq(any).{1,2}',
      'in.(1,2,3)',
      'not.in.(a,b)',
      'in.()',
      'in.(,)',
      'in.(a,,b)',
      'in.( 1,2)',
      'in.(1,2) ',
      'in.(1,2',
      'in.("a,b",c)',
      'in.(a(b),c)',
      'is.null',
      'fts(english).cat',
      'eqx.1',
      'eq',
      'not.not.eq.1',
      'EQ.1',
      'gtx.1',
      'like.%',
    ];
    const next = random(20261123);
    const pick = () => PIECES[Math.floor(next() * PIECES.length)]!;
    const generated = Array.from({ length: 20_000 }, (_, n) => {
      let text = '';
      // Half of them shaped like a filter (`[not.]op.` first), so that many are accepted.
      if (n % 2 === 0)
        text = `${next() < 0.3 ? 'not.' : ''}${pick()}${next() < 0.8 ? '.' : ''}${next() < 0.3 ? '(' : ''}`;
      const length = Math.floor(next() * 8);
      for (let i = 0; i < length; i++) text += pick();
      return text;
    });
    let direct = 0;
    for (const text of [...crafted, ...generated]) {
      const byGrammar = parseOpExprByGrammar(text);
      expect(parseOpExpr(text), JSON.stringify(text)).toEqual(byGrammar);
      if (byGrammar.ok) direct++;
    }
    // The comparison covers values both accepted and refused.
    expect(direct).toBeGreaterThan(1_000);
  });
});
