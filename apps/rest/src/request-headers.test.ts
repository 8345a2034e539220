import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { checkStrict, negotiate, readPreferences } from './request-headers.js';

/** Prefer read, then checked as a planned request is (PGRST122). */
const parsePrefer = (...args: Parameters<typeof readPreferences>) => {
  const { prefer, invalid } = readPreferences(...args);
  checkStrict(prefer, invalid);
  return prefer;
};

const refusal = (accept: string) => {
  try {
    negotiate(accept);
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, ...error.body };
    throw error;
  }
  throw new Error(`expected ${accept} to be refused`);
};

describe('Accept as PostgREST 12 reads it (wai parseHttpAccept, then the first type it produces)', () => {
  it('orders by quality, then by specificity (parameters count, stars subtract), then as sent', () => {
    expect(negotiate('*/*, text/csv').media).toBe('csv');
    expect(negotiate('application/json, text/csv').media).toBe('json');
    expect(negotiate('text/csv;q=0.5, application/json').media).toBe('json');
    expect(negotiate('application/json;q=0.5, text/csv').media).toBe('csv');
    expect(negotiate('application/json, application/vnd.pgrst.object+json;nulls=stripped')).toEqual({
      media: 'object',
      stripNulls: true,
    });
  });

  it('a quality that is no number counts as 1, and q=0 is still a type to serve', () => {
    expect(negotiate('application/json;q=0.5, text/csv;q=x').media).toBe('csv');
    expect(negotiate('text/csv;q=0').media).toBe('csv');
  });

  it('types and parameter names in any case', () => {
    expect(negotiate('ApplicatIon/vnd.PgRsT.object+json;NULLS=stripped')).toEqual({
      media: 'object',
      stripNulls: true,
    });
    expect(negotiate('TEXT/CSV').media).toBe('csv');
  });

  it('`application/*` and `text/*` are no type PostgREST produces: 406 PGRST107', () => {
    for (const accept of ['application/*', 'text/*']) {
      expect(refusal(accept)).toEqual({
        status: 406,
        code: 'PGRST107',
        details: null,
        hint: null,
        message: `None of these media types are available: ${accept}`,
      });
    }
  });
});

describe('Prefer as PostgREST 12 reads it (Preferences.fromHeaders)', () => {
  it('matches each comma-separated preference exactly once stripped: spaces around `=` or another case make it unknown', () => {
    expect(parsePrefer('count=exact,    return=representation ', 'commit')).toEqual({
      count: 'exact',
      return: 'representation',
    });
    expect(parsePrefer('count = exact, Return=minimal, return =minimal', 'commit')).toEqual({});
    expect(() => parsePrefer('handling=strict, count = exact', 'commit')).toThrow(
      expect.objectContaining({
        body: expect.objectContaining({ details: 'Invalid preferences: count = exact' }),
      }),
    );
  });
});

describe('Prefer: timezone as PostgREST 12 reads it', () => {
  const zones = new Set(['UTC', 'Europe/Paris']);
  it('the first timezone= decides: a later one never replaces it, and when it names no zone every timezone= is invalid', () => {
    expect(parsePrefer('timezone=UTC, timezone=Europe/Paris', 'commit', zones)).toEqual({ timezone: 'UTC' });
    expect(parsePrefer('timezone=UTC, timezone=Nope', 'commit', zones)).toEqual({ timezone: 'UTC' });
    expect(parsePrefer('timezone=Nope, timezone=UTC', 'commit', zones)).toEqual({});
    expect(() => parsePrefer('handling=strict, timezone=Nope, timezone=UTC', 'commit', zones)).toThrow(
      expect.objectContaining({
        body: expect.objectContaining({ details: 'Invalid preferences: timezone=Nope, timezone=UTC' }),
      }),
    );
  });
});

describe('Prefer tokens as PostgREST 12.2 matches them (Preferences.hs fromHeaders)', () => {
  const strictDetails = (value: string) => {
    try {
      parsePrefer(value, 'commit');
    } catch (error) {
      if (error instanceof ApiError) return error.body.details;
      throw error;
    }
    return undefined;
  };

  it('a preference is the whole token: `count=exact=1` or a bare `max-affected` is none, and invalid', () => {
    expect(parsePrefer('count=exact=1, return=minimal=x', 'commit')).toEqual({});
    expect(strictDetails('handling=strict, count=exact=1, max-affected')).toBe(
      'Invalid preferences: count=exact=1, max-affected',
    );
  });

  it('an empty token (`a,,b`, a trailing comma) is an invalid preference', () => {
    expect(parsePrefer('count=exact,', 'commit')).toEqual({ count: 'exact' });
    expect(strictDetails('handling=strict,,count=exact')).toBe('Invalid preferences: ');
  });

  it('the first max-affected= is read as an integer, sign included; a later one never replaces it', () => {
    expect(parsePrefer('max-affected=x, max-affected=5', 'commit')).toEqual({});
    expect(parsePrefer('max-affected=-1', 'commit')).toEqual({ maxAffected: -1 });
    expect(parsePrefer('max-affected=3, max-affected=5', 'commit')).toEqual({ maxAffected: 3 });
    expect(strictDetails('handling=strict, max-affected=x')).toBeUndefined();
  });

  it('a repeated preference is no error: the first of each kind is used', () => {
    expect(
      parsePrefer(
        'handling=strict, count=exact, count=planned, return=minimal, return=representation',
        'commit',
      ),
    ).toEqual({
      handling: 'strict',
      count: 'exact',
      return: 'minimal',
    });
  });
});
