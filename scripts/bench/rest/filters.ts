/**
 * Filter parsing: parseOpExpr (the common shapes read directly) against the same values through
 * PostgREST's grammar alone (parseOpExprByGrammar), in the same run. Prints µs per value and the ratio.
 *
 *   npx tsx scripts/bench/rest/filters.ts        (BENCH_ITERATIONS to tune)
 */
import { parseOpExpr, parseOpExprByGrammar } from '../../../apps/rest/src/filter-expr.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 100_000);
const VALUES = [
  'eq.42',
  'not.eq.42',
  'ilike.*hello*',
  'gte.2026-01-01',
  'in.(active,pending,done)',
  'is.null',
];

function microseconds(parse: (text: string) => unknown): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) for (const value of VALUES) parse(value);
  return Number(process.hrtime.bigint() - started) / 1000 / ITERATIONS / VALUES.length;
}

for (let round = 1; round <= 3; round++) {
  const grammar = microseconds(parseOpExprByGrammar);
  const direct = microseconds(parseOpExpr);
  console.log(
    `round ${round}: parseOpExpr ${direct.toFixed(3)} µs per value, grammar alone ${grammar.toFixed(3)} µs ` +
      `(${(grammar / direct).toFixed(1)}x) over ${VALUES.join(' ')}`,
  );
}
