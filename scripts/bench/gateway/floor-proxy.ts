/**
 * Bench child: the least a Node proxy can do (no key, no JWT, no SigV4), on plain node:http or on
 * Fastify, relaying through undici's dispatch API like the gateway. Shows what the runtime costs per
 * request before any gateway logic, and what a framework would add on top.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { requireFromGateway } from './children.js';

const { Agent } = requireFromGateway('undici') as {
  Agent: new (options: object) => { dispatch(options: object, handler: object): boolean };
};
const fastify = requireFromGateway('fastify') as (options: object) => {
  all(
    path: string,
    handler: (request: { raw: IncomingMessage }, reply: { hijack(): void; raw: ServerResponse }) => void,
  ): void;
  listen(options: { port: number; host: string }): Promise<string>;
};

const origin = `http://127.0.0.1:${process.env.FLOOR_UPSTREAM_PORT}`;
const port = Number(process.env.FLOOR_PORT);
const agent = new Agent({ connections: 256 });

function relay(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  const responseHeaders: Record<string, string> = {};
  let status = 502;
  // Like nginx here: the client's headers go upstream, minus hop-by-hop ones and with the same Host.
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name !== 'connection' && name !== 'keep-alive') headers.push(raw[i]!, raw[i + 1]!);
  }
  agent.dispatch(
    { origin, path: req.url ?? '/', method: 'GET', headers },
    {
      onConnect() {},
      onHeaders(statusCode: number, rawResponse: Buffer[]) {
        status = statusCode;
        for (let i = 0; i < rawResponse.length; i += 2) {
          const name = rawResponse[i]!.toString('latin1').toLowerCase();
          if (name !== 'connection' && name !== 'keep-alive') {
            responseHeaders[name] = rawResponse[i + 1]!.toString('latin1');
          }
        }
        return true;
      },
      onData(chunk: Buffer) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        res.writeHead(status, responseHeaders);
        res.end(Buffer.concat(chunks));
      },
      onError() {
        res.statusCode = 502;
        res.end();
      },
    },
  );
}

if (process.env.FLOOR_FRAMEWORK === 'fastify') {
  const app = fastify({ logger: false });
  app.all('/*', (request, reply) => {
    reply.hijack();
    relay(request.raw, reply.raw);
  });
  await app.listen({ port, host: '127.0.0.1' });
} else {
  await new Promise<void>((resolve) => createServer(relay).listen(port, '127.0.0.1', resolve));
}
process.stdout.write('ready\n');
// A normal exit on SIGTERM, so that `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => process.exit(0));
