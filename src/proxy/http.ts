/**
 * The proxy's two small HTTP servers (node:http: two routes do not need a framework, and
 * the proxy starts in a pod's critical path): readiness on the health port, Prometheus text
 * on the metrics port. Only GET (and HEAD) of the one path each; everything else is 404/405.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthSource {
  /** 200 when true, 503 when false. */
  ready(): boolean;
  /** A word for the body: starting, ready, draining, stopped. */
  phase(): string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function route(path: string, handle: Handler): Handler {
  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    handle(req, res);
  };
}

// Probes and scrapes are tiny requests; a client that sends nothing for 10 s is gone.
const REQUEST_TIMEOUT_MS = 10_000;

function server(handler: Handler): http.Server {
  const s = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, handler);
  s.keepAliveTimeout = 5_000;
  return s;
}

/** GET <path>: 200 "ready" while ready, 503 with the phase otherwise. */
export function healthServer(path: string, health: HealthSource): http.Server {
  return server(
    route(path, (_req, res) => {
      const ok = health.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${health.phase()}\n`);
    }),
  );
}

/** GET <path>: the registry's metrics in Prometheus text format. */
export function metricsServer(path: string, registry: Registry): http.Server {
  return server(
    route(path, (_req, res) => {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
      );
    }),
  );
}
