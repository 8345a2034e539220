import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A TCP port that was free on 127.0.0.1 a moment ago (`port` 0: one the kernel picks). */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** The first port of the kernel's ephemeral range (Linux), else the IANA default. */
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // not Linux
  }
  return 49152;
}

/**
 * `n` distinct free ports below the kernel's ephemeral range, for services restarted on the same
 * ports: a port from the kernel's pick lies in that range, where any outgoing connection may take it
 * as its source port while the service is down, and the restart then fails with EADDRINUSE.
 */
export async function stablePorts(n: number): Promise<number[]> {
  const high = ephemeralRangeStart();
  const low = Math.max(1025, Math.min(10_000, high - 1_000));
  const ports = new Set<number>();
  for (let tries = 0; ports.size < n && tries < 200; tries++) {
    const candidate = low + Math.floor(Math.random() * (high - low));
    if (ports.has(candidate)) continue;
    try {
      ports.add(await freePort(candidate));
    } catch {
      // taken: try another
    }
  }
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
