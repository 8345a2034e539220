import { isValidRef } from '@supaplane/keys';

type HostMatch =
  | { kind: 'project'; ref: string }
  /** The bare base domain (key-based routing in local mode only). */
  | { kind: 'base' }
  /** Anything else: load balancer health checks, IPs, typos. */
  | { kind: 'other' }
  /** Not a valid Host at all: repeated, or with a port that is no port (RFC 9112 §3.2 asks for a 400). */
  | { kind: 'invalid' };

const OTHER: HostMatch = { kind: 'other' };
const BASE: HostMatch = { kind: 'base' };
const INVALID: HostMatch = { kind: 'invalid' };
const PORT = /^\d{0,5}$/;

/**
 * Maps `Host: <ref>.<baseDomain>[:port]` to a project ref, lower-cased and validated. `hostHeader` is
 * the header as read by client-head.ts, where a repeated Host reads as its values joined by `, `.
 */
export function matchHost(hostHeader: string | undefined, baseDomain: string): HostMatch {
  if (!hostHeader) return OTHER;
  let host = hostHeader.toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon > 0 && !host.endsWith(']')) {
    const port = host.slice(colon + 1);
    if (!PORT.test(port) || Number(port) > 65_535) return INVALID;
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === baseDomain) return BASE;
  const dot = host.length - baseDomain.length - 1;
  if (dot <= 0 || host.charCodeAt(dot) !== 46 || !host.endsWith(baseDomain)) return otherOrInvalid(host);
  const ref = host.slice(0, dot);
  return isValidRef(ref) && !ref.includes('.') ? { kind: 'project', ref } : otherOrInvalid(host);
}

/** Off the project path only: a comma is in no host name, so it is two Host fields read as one. */
function otherOrInvalid(host: string): HostMatch {
  return host.includes(',') ? INVALID : OTHER;
}
