/** The request headers these read: a ClientHead (client-head.ts) or node's `req.headers`. */
type HeaderValue = string | string[] | undefined;
interface CredentialHeaders {
  readonly authorization?: HeaderValue;
  readonly apikey?: HeaderValue;
}
interface BrowserHeaders {
  readonly 'user-agent'?: HeaderValue;
  readonly origin?: HeaderValue;
}

interface ClientCredentials {
  /** The opaque API key, from `apikey` header, `apikey` query param or `Authorization: Bearer sb_…`. */
  readonly apiKey: string | null;
  /** A user JWT from `Authorization: Bearer …` (anything that is not an `sb_` key). */
  readonly userToken: string | null;
  /** Why `Authorization` is no Bearer credential (PostgREST's PGRST301 message), or null. */
  readonly authorizationError: string | null;
  /**
   * `Authorization: Bearer sb_…` names another key than `apikey` (header or query): a confused
   * client, or someone hoping one of the two is honoured. Neither is chosen.
   */
  readonly conflictingKeys: boolean;
}

const BEARER = /^bearer\s+(\S+)\s*$/i;
/** The scheme with nothing after it (node trims the space a client sent after `Bearer`). */
const EMPTY_BEARER = /^bearer\s*$/i;

function first(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Where the key and the user token come from, in Supabase's order of precedence. */
export function readClientCredentials(
  headers: CredentialHeaders,
  queryApiKey: string | null,
): ClientCredentials {
  const authorization = first(headers.authorization);
  let bearer: string | null = null;
  let authorizationError: string | null = null;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (match) bearer = match[1]!;
    else if (EMPTY_BEARER.test(authorization))
      authorizationError = 'Empty JWT is sent in Authorization header';
    else authorizationError = 'Authorization header must use the Bearer scheme';
  }
  const bearerIsKey = bearer?.startsWith('sb_') === true;
  const headerKey = first(headers.apikey);
  const apiKey = headerKey || queryApiKey || (bearerIsKey ? bearer : null);
  return {
    apiKey: apiKey || null,
    userToken: bearer !== null && !bearerIsKey ? bearer : null,
    authorizationError,
    conflictingKeys: bearerIsKey && apiKey !== bearer,
  };
}

const BROWSER_UA = /^Mozilla\/\d/;

/**
 * A browser is talking to us: a browser `User-Agent`, or an `Origin` header (sent by browsers on
 * cross-origin requests). `sec-fetch-*` is not a signal: Node's fetch sends `sec-fetch-mode: cors`.
 */
export function isBrowserRequest(headers: BrowserHeaders): boolean {
  const ua = first(headers['user-agent']);
  if (ua && BROWSER_UA.test(ua)) return true;
  return headers.origin !== undefined;
}
