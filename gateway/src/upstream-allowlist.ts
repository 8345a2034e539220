/**
 * Host patterns for upstream URLs: `*` stands for exactly one DNS label. A pattern with a port
 * (`*.localhost:9000`) also pins the port. Checked when a project config is loaded, so a poisoned
 * cache entry can never make the gateway sign or send a request elsewhere.
 */
export function createUpstreamAllowlist(patterns: readonly string[]): (url: URL) => boolean {
  const compiled = patterns.map((pattern) => {
    const withPort = /:\d+$/.test(pattern);
    const source = pattern
      .toLowerCase()
      .split('.')
      .map((label) => (label === '*' ? '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?' : escapeRegExp(label)))
      .join('\\.');
    return { withPort, regex: new RegExp(`^${source}$`) };
  });
  return (url) => {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
    if (url.username || url.password) return false;
    const hostname = url.hostname.toLowerCase();
    return compiled.some(({ withPort, regex }) =>
      regex.test(withPort ? `${hostname}:${url.port}` : hostname),
    );
  };
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
