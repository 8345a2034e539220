import { isValidRef } from '@supaplane/keys';

export type HostMatch =
  | { kind: 'project'; ref: string }
  /** The bare base domain (key-based routing in local mode only). */
  | { kind: 'base' }
  /** Anything else: load balancer health checks, IPs, typos. */
  | { kind: 'other' };

const OTHER: HostMatch = { kind: 'other' };
const BASE: HostMatch = { kind: 'base' };

/** Maps `Host: <ref>.<baseDomain>[:port]` to a project ref, lower-cased and validated. */
export function matchHost(hostHeader: string | undefined, baseDomain: string): HostMatch {
  if (!hostHeader) return OTHER;
  let host = hostHeader.toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon > 0 && !host.endsWith(']')) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === baseDomain) return BASE;
  const dot = host.length - baseDomain.length - 1;
  if (dot <= 0 || host.charCodeAt(dot) !== 46 || !host.endsWith(baseDomain)) return OTHER;
  const ref = host.slice(0, dot);
  return isValidRef(ref) && !ref.includes('.') ? { kind: 'project', ref } : OTHER;
}
