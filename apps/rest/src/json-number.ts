import { randomBytes } from 'node:crypto';

// Numbers in request bodies as PostgREST passes them on: PostgREST hands Postgres the body's JSON text
// (json_to_recordset, json_to_record), so a column or argument reads a number with every digit it was
// sent with. A JavaScript number keeps about 17 significant digits; these keep the rest.

/** Starts the strings that stand for numbers while parsing and serialising: a NUL, then a per-process nonce. */
const MARK = `\u0000${randomBytes(6).toString('hex')}:`;
/** MARK as JSON.stringify writes it inside a string literal. */
const MARK_JSON = JSON.stringify(MARK).slice(1, -1);
const QUOTED_MARK = new RegExp(`"${MARK_JSON.replaceAll('\\', '\\\\')}([^"]*)"`, 'g');
/** A JSON string literal, or a JSON number (outside strings, the only tokens with digits). */
const TOKENS = /"(?:[^"\\]|\\.)*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * A JSON number whose text a JavaScript number would change (past 2^53, more digits than a double
 * keeps, `1.10`, `1e2`, `-0`). PostgREST hands Postgres the body's own text, so each column or
 * argument reads the number as written; this keeps that text for {@link jsonText} and `String()`.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  /** A marker {@link jsonText} turns back into the number (a plain JSON.stringify keeps a NUL Postgres refuses). */
  toJSON(): string {
    return `${MARK}${this.text}`;
  }
}

/**
 * Every JSON number a JavaScript number would write back differently has one of these: 16 or more
 * digits (a double keeps 15 exactly), a fraction ending in 0, six zeros after the point (printed as
 * `1e-7`), an exponent, or a bare `-0`. A number with none of them reads back as sent. Strings may match
 * too; then the exact scan runs for nothing, never the reverse.
 */
const MAYBE_INEXACT = /(?:\d\.?){16}|\.\d*0(?!\d)|\.0{6}|\d[eE]|-0(?![.\d])/;

/** False when every number in the JSON `text` reads back as sent from a JavaScript number. */
export const mayHoldInexactNumber = (text: string): boolean => MAYBE_INEXACT.test(text);

/** JSON.parse, with numbers a JavaScript number would change kept as {@link JsonNumber}. */
export function parseJsonExact(text: string): unknown {
  // Parsed first: the token scan below then only ever sees valid JSON (every string closed).
  const value: unknown = JSON.parse(text);
  if (!mayHoldInexactNumber(text)) return value;
  const parts: string[] = [];
  let from = 0;
  for (const match of text.matchAll(TOKENS)) {
    const token = match[0];
    if (token.startsWith('"') || String(Number(token)) === token) continue;
    parts.push(text.slice(from, match.index), JSON.stringify(MARK + token));
    from = match.index + token.length;
  }
  if (!parts.length) return value;
  parts.push(text.slice(from));
  return JSON.parse(parts.join(''), (_key, v) =>
    typeof v === 'string' && v.startsWith(MARK) ? new JsonNumber(v.slice(MARK.length)) : v,
  );
}

/** JSON.stringify for body values: a {@link JsonNumber} is written as the number it was sent as. */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes(MARK_JSON) ? text.replace(QUOTED_MARK, '$1') : text;
}
