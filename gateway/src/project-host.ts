import { isValidRef } from '@supaplane/keys';

export type HostMatch =
  | { kind: 'project'; ref: string }
  /** The bare base domain (key-based routing in local mode only). */
  | { kind: 'base' }
  /** Anything else: load balancer health checks, IPs, typos. */
  | { kind: 'other' };

/** Maps `Host: <ref>.<baseDomain>[:port]` to a project ref, lower-cased and validated. */
export function matchHost(hostHeader: string | undefined, baseDomain: string): HostMatch {
  if (!hostHeader) return { kind: 'other' };
  let host = hostHeader.toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon > 0 && !host.endsWith(']')) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === baseDomain) return { kind: 'base' };
  if (!host.endsWith(`.${baseDomain}`)) return { kind: 'other' };
  const ref = host.slice(0, host.length - baseDomain.length - 1);
  return isValidRef(ref) && !ref.includes('.') ? { kind: 'project', ref } : { kind: 'other' };
}
