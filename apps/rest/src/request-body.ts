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
  if (format === 'form') return Object.fromEntries(decodeQueryString(text.trim(), true));
  if (format === 'csv') return parseCsv(text);
  if (!text.trim()) throw invalidBody();
  try {
    return parseJsonExact(text);
  } catch {
    throw invalidBody();
  }
}

/** RFC 4180 CSV → one object per data row, keyed by the header row. */
export function parseCsv(text: string): Record<string, string | null>[] {
  const records = csvRecords(text);
  const header = records.shift();
  if (!header || (header.length === 1 && header[0] === '')) {
    throw apiError(400, 'PGRST102', 'Empty or invalid csv', 'The CSV body needs a header row');
  }
  return records.map((fields, i) => {
    if (fields.length !== header.length) {
      throw apiError(
        400,
        'PGRST102',
        'All lines must have same number of fields',
        `Line ${i + 2} has ${fields.length} fields, the header has ${header.length}`,
      );
    }
    return Object.fromEntries(header.map((name, j) => [name, fields[j] === 'NULL' ? null : fields[j]!]));
  });
}

function csvRecords(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = '';
  let i = 0;
  let quotedField = false;
  const endField = () => {
    fields.push(field);
    field = '';
    quotedField = false;
  };
  const endRecord = () => {
    endField();
    records.push(fields);
    fields = [];
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"' && field === '' && !quotedField) {
      // A quoted field: up to the closing quote, `""` is a quote.
      i++;
      for (;;) {
        if (i >= text.length) throw apiError(400, 'PGRST102', 'Empty or invalid csv', 'Unclosed quote');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i];
        i++;
      }
      quotedField = true;
      continue;
    }
    if (ch === ',') endField();
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
    } else field += ch;
    i++;
  }
  if (field !== '' || quotedField || fields.length) endRecord();
  return records;
}

const keysMustMatch = () => apiError(400, 'PGRST102', 'All object keys must match');

/**
 * A body's rows as PostgREST 12 reads them for a write or a call (ApiRequest payloadAttributes): a
 * list must hold objects only (of the same keys, when `uniform`), one object is one row, and anything
 * else is no row at all.
 */
export function bodyRows(body: unknown, uniform = false): Record<string, unknown>[] {
  if (!Array.isArray(body)) return isObject(body) ? [body] : [];
  const keys = (row: unknown) => (isObject(row) ? Object.keys(row).sort().join(',') : undefined);
  const first = keys(body[0]);
  if (body.some((row) => keys(row) === undefined || (uniform && keys(row) !== first))) throw keysMustMatch();
  return body as Record<string, unknown>[];
}
