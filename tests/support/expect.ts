import { expect } from 'vitest';
import type { HttpResult } from './clients.js';

/** The body shape every gateway and data-API error shares: JSON with a message, never a stack trace. */
function expectJsonError(res: HttpResult, status: number): Record<string, unknown> {
  expect(res.status, res.text).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/application\/json/);
  expect(res.text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
  const body = res.json() as Record<string, unknown>;
  expect(typeof body.message, res.text).toBe('string');
  return body;
}

/** Supabase's answer when no key is sent: 401 `{"message":"No API key found in request","hint":…}`. */
export function expectNoApiKey(res: HttpResult): void {
  const body = expectJsonError(res, 401);
  expect(body.message).toBe('No API key found in request');
  expect(typeof body.hint).toBe('string');
}

/** Supabase's answer for an unknown, revoked or other project's key: 401 `{"message":"Invalid API key",…}`. */
export function expectInvalidApiKey(res: HttpResult): void {
  const body = expectJsonError(res, 401);
  expect(body.message).toBe('Invalid API key');
  expect(typeof body.hint).toBe('string');
}

/** A PostgREST error: `{code, details, hint, message}` with the given status and code. */
export function expectPostgrestError(res: HttpResult, status: number, code: string): Record<string, unknown> {
  const body = expectJsonError(res, status);
  expect(body.code, res.text).toBe(code);
  expect(body).toHaveProperty('details');
  expect(body).toHaveProperty('hint');
  return body;
}

/** A paused project: 503 with a JSON message that says so. */
export function expectPaused(res: HttpResult): void {
  const body = expectJsonError(res, 503);
  expect(String(body.message)).toMatch(/paus/i);
}

/** Any JSON error with this status (for errors whose exact wording is ours, not Supabase's). */
export { expectJsonError };
