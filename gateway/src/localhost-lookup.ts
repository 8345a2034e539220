import { lookup as dnsLookup } from 'node:dns';

/** `*.localhost` does not resolve in Node; local function URLs live on loopback. */
export const localhostLookup: typeof dnsLookup = ((hostname: string, options: unknown, callback: unknown) => {
  const cb = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
  const opts = (typeof options === 'object' && options !== null ? options : {}) as { all?: boolean };
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
    return;
  }
  dnsLookup(hostname, opts as never, cb as never);
}) as typeof dnsLookup;
