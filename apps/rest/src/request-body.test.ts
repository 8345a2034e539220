import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { parseCsv } from './request-body.js';

const failure = (text: string) => {
  try {
    parseCsv(text);
  } catch (error) {
    if (error instanceof ApiError) return [error.status, error.body];
    throw error;
  }
  throw new Error(`parsed: ${text}`);
};
const parseError = (message: string) => [400, { code: 'PGRST102', message, details: null, hint: null }];

// PostgREST 12.2 reads CSV bodies with cassava's decodeByName (ApiRequest.hs getPayload, csvToJson);
// the errors are cassava's "parse error (…) at <what was left, as Haskell shows it>".
describe('CSV bodies as PostgREST 12 reads them', () => {
  it('keys fields by the header, NULL as null, quoted or not, and skips blank lines', () => {
    expect(parseCsv('a,b\r\n1,NULL\n\n"x,""y""","NULL"\r"",\n')).toEqual([
      { a: '1', b: null },
      { a: 'x,"y"', b: null },
      { a: '', b: '' },
    ]);
    expect(parseCsv('a,b\n')).toEqual([]);
  });

  it('drops fields beyond the header and refuses rows whose keys differ from the first', () => {
    expect(parseCsv('a,b\n1,2,3\n4,5')).toEqual([
      { a: '1', b: '2' },
      { a: '4', b: '5' },
    ]);
    expect(parseCsv('a,b\n1\n2')).toEqual([{ a: '1' }, { a: '2' }]);
    expect(failure('a,b\nfoo,bar\nbaz')).toEqual(parseError('All lines must have same number of fields'));
  });

  it("answers cassava's parse errors", () => {
    expect(failure('')).toEqual(parseError('parse error (not enough input) at ""'));
    expect(failure('a,b')).toEqual(parseError('parse error (not enough input) at ""'));
    expect(failure('a,b\n1,{"k":1}\n')).toEqual(
      parseError('parse error (Failed reading: satisfy) at "\\"k\\":1}\\n"'),
    );
    expect(failure('a,b\n"x"y,1\n')).toEqual(parseError('parse error (Failed reading: satisfy) at "y,1\\n"'));
    expect(failure('a\n"')).toEqual(parseError('parse error (Failed reading: trailing double quote) at ""'));
    expect(failure('a\n"x""')).toEqual(parseError('parse error (Failed reading: insufficient input) at ""'));
    expect(failure('a,b\n1,é"\t\u0001')).toEqual(
      parseError('parse error (Failed reading: satisfy) at "\\"\\t\\SOH"'),
    );
    expect(failure('a,b\n1,x"é1')).toEqual(
      parseError('parse error (Failed reading: satisfy) at "\\"\\195\\169\\&1"'),
    );
    expect(failure(`a,b\n1,"x"${'y'.repeat(120)}`)).toEqual(
      parseError(`parse error (Failed reading: satisfy) at ${'y'.repeat(100)} (truncated)`),
    );
  });
});
