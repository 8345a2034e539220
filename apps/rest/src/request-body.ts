import { apiError, isObject } from './errors.js';
import { parseJsonExact } from './json-number.js';
import { decodeQueryString } from './query-parser.js';

/**
 * Request bodies as PostgREST accepts them: JSON, CSV (header row = columns, `NULL` = null) and
 * `application/x-www-form-urlencoded` (one object of strings). Keys end up as column or argument
 * names, which the planner checks against the schema cache before quoting them. A function with a
 * single unnamed `text`, `xml` or `bytea` parameter also takes a raw `text/plain`, `text/xml` or
 * `application/octet-stream` body as that argument.
 */

export type RawFormat = 'text' | 'xml' | 'binary';
export type BodyFormat = 'json' | 'csv' | 'form' | RawFormat;

/** The parameter type a raw body fills. */
export const RAW_PARAMETER_TYPE: Readonly<Record<RawFormat, string>> = {
  text: 'text',
  xml: 'xml',
  binary: 'bytea',
};

const FORMATS: Readonly<Record<string, BodyFormat>> = {
  'application/json': 'json',
  'text/csv': 'csv',
  'application/x-www-form-urlencoded': 'form',
  'text/plain': 'text',
  'text/xml': 'xml',
  'application/octet-stream': 'binary',
};

export const isRawFormat = (format: BodyFormat): format is RawFormat => format in RAW_PARAMETER_TYPE;

/**
 * What PostgREST 12 (MediaType.decodeMediaType) reads of a media type: the type and subtype at its
 * start; what follows them is not looked at.
 */
const MEDIA_TYPE = /^([A-Za-z0-9.*]+)\/([A-Za-z0-9.*+-]+)/;

/**
 * The body format a `Content-Type` names (none means JSON; an empty one is no type). Raw formats
 * only where `raw` allows them (function calls); anything else is PostgREST's 400 naming the type:
 * a known one by its name, another as sent.
 */
export function bodyFormat(contentType: string | undefined, raw = false): BodyFormat {
  if (contentType === undefined) return 'json';
  const m = MEDIA_TYPE.exec(contentType);
  const type = m ? `${m[1]}/${m[2]}`.toLowerCase() : '';
  const format = Object.hasOwn(FORMATS, type) ? FORMATS[type]! : undefined;
  if (format === undefined || (!raw && isRawFormat(format))) {
    throw apiError(400, 'PGRST102', `Content-Type not acceptable: ${format ? type : contentType}`);
  }
  return format;
}

export const invalidBody = () => apiError(400, 'PGRST102', 'Empty or invalid json');

export function parseBody(body: Buffer | string | undefined, format: BodyFormat = 'json'): unknown {
  if (format === 'binary') return Buffer.isBuffer(body) ? body : Buffer.from(body ?? '');
  const text = body === undefined ? '' : body.toString();
  if (format === 'text' || format === 'xml') return text;
  if (format === 'form') return Object.fromEntries(decodeQueryString(text, true));
  if (format === 'csv') return parseCsv(text);
  if (!text.trim()) throw invalidBody();
  try {
    return parseJsonExact(text);
  } catch {
    throw invalidBody();
  }
}

/**
 * A CSV body as PostgREST 12 reads it (cassava's decodeByName, then ApiRequest.hs csvToJson): a
 * header line, then one object per record keyed by the header's names (a record shorter than the
 * header has fewer keys, fields beyond it are dropped, a blank line is skipped), `NULL` as null.
 * Rows whose keys differ from the first's are refused, as PostgREST's payloadAttributes does.
 */
export function parseCsv(text: string): Record<string, string | null>[] {
  const { header, records } = csvRecords(text);
  const rows = records.map((fields) => {
    const row: Record<string, string | null> = {};
    for (let j = 0; j < Math.min(header.length, fields.length); j++) {
      row[header[j]!] = fields[j] === 'NULL' ? null : fields[j]!;
    }
    return row;
  });
  if (!haveSameKeys(rows)) throw apiError(400, 'PGRST102', 'All lines must have same number of fields');
  return rows;
}

/** cassava's grammar: fields split by `,`, lines by `\n`, `\r\n` or `\r`; a header must end its line. */
function csvRecords(text: string): { header: string[]; records: string[][] } {
  let pos = 0;
  /** cassava's error: attoparsec's message, then what was left to read, as Haskell shows it. */
  const failure = (message: string) => {
    const left = Buffer.from(text.slice(pos));
    const shown =
      left.length > 100 ? `${left.subarray(0, 100).toString('latin1')} (truncated)` : haskellShow(left);
    return apiError(400, 'PGRST102', `parse error (${message}) at ${shown}`);
  };
  const field = (): string => {
    if (text[pos] !== '"') {
      const start = pos;
      while (pos < text.length && !'",\n\r'.includes(text[pos]!)) pos++;
      return text.slice(start, pos);
    }
    // A quoted field: up to a quote not followed by another; its last character is dropped (the
    // closing quote, or, unclosed at the end, whatever came last), and `""` is a quote.
    const start = ++pos;
    let afterQuote = false;
    while (pos < text.length && (!afterQuote || text[pos] === '"')) {
      afterQuote = text[pos] === '"' ? !afterQuote : false;
      pos++;
    }
    if (pos === start) throw failure('Failed reading: trailing double quote');
    const inner = text.slice(start, pos - 1);
    // Only an unclosed field can leave a lone quote at its end: cassava's unescaping then runs out.
    if (inner.replaceAll('""', '').includes('"')) throw failure('Failed reading: insufficient input');
    return inner.replaceAll('""', '"');
  };
  const record = () => {
    const fields = [field()];
    while (text[pos] === ',') {
      pos++;
      fields.push(field());
    }
    return fields;
  };
  const endOfLine = () => {
    if (text.startsWith('\r\n', pos)) pos += 2;
    else if (text[pos] === '\n' || text[pos] === '\r') pos++;
    else throw failure(pos < text.length ? 'Failed reading: satisfy' : 'not enough input');
  };
  const header = record();
  endOfLine();
  const records: string[][] = [];
  for (;;) {
    const fields = record();
    if (fields.length > 1 || fields[0] !== '') records.push(fields);
    if (pos >= text.length) return { header, records };
    endOfLine();
  }
}

const ASCII_NAMES =
  'NUL SOH STX ETX EOT ENQ ACK a b t n v f r SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US'.split(
    ' ',
  );

/** Haskell's `show` of bytes read as characters, as cassava prints what it could not parse. */
function haskellShow(bytes: Buffer): string {
  let out = '"';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const next = bytes[i + 1];
    let piece: string;
    if (b === 0x22) piece = '\\"';
    else if (b === 0x5c) piece = '\\\\';
    else if (b >= 0x20 && b < 0x7f) piece = String.fromCharCode(b);
    else if (b === 0x7f) piece = '\\DEL';
    else if (b < 0x20) {
      piece = `\\${ASCII_NAMES[b]}`;
      // `\SO` before an `H` would read as `\SOH`.
      if (b === 0x0e && next === 0x48) piece += '\\&';
    } else {
      piece = `\\${b}`;
      // A numeric escape before a digit is closed with `\&`.
      if (next !== undefined && next >= 0x30 && next <= 0x39) piece += '\\&';
    }
    out += piece;
  }
  return `${out}"`;
}

const keysMustMatch = () => apiError(400, 'PGRST102', 'All object keys must match');

/** Whether every row has the first one's keys (PostgREST payloadAttributes: they are the columns). */
function haveSameKeys(rows: readonly object[]): boolean {
  const keysOf = (row: object) => Object.keys(row).sort().join(',');
  const first = rows.length > 0 ? keysOf(rows[0]!) : '';
  return rows.every((row) => keysOf(row) === first);
}

/** Whether a parsed body holds rows: one object, or a list of objects only. */
export const holdsRows = (body: unknown): boolean =>
  isObject(body) || (Array.isArray(body) && body.every(isObject));

/**
 * A body's rows as PostgREST 12 reads them for a write or a call (ApiRequest payloadAttributes): a
 * list must hold objects only (of the same keys, when `uniform`), one object is one row, and anything
 * else is no row at all.
 */
export function bodyRows(body: unknown, uniform = false): Record<string, unknown>[] {
  if (!Array.isArray(body)) return isObject(body) ? [body] : [];
  if (!body.every(isObject) || (uniform && !haveSameKeys(body))) throw keysMustMatch();
  return body as Record<string, unknown>[];
}
