/**
 * The listening webhook: the app from app.ts behind an HTTPS server that this module owns,
 * so that it can swap the certificate (setSecureContext), bound its connections, and drain
 * them on shutdown.
 */
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import { CertError, errorMessage } from '../errors/index.js';
import { certificateInfo } from '../certs/info.js';
import { buildApp, type AppDeps } from './app.js';
import { ConnectionTracker, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connections.js';
import { formatAuthority, type ListenAddress } from './listen.js';
import { createConnectionMetrics, createTlsMetrics } from './metrics.js';
import type { TlsMaterial, TlsSource } from './tls.js';

/**
 * TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD cipher only, no static
 * RSA key exchange and no CBC. Go's client (the API server) and every current client offer
 * them. The TLS 1.3 suites are OpenSSL's defaults, listed because node drops TLS 1.3
 * altogether when `ciphers` names none of them.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Connection limits; docs/webhook.md explains each. All in milliseconds. */
export interface ServerTimeouts {
  /** A TLS handshake must finish within this. */
  handshake: number;
  /** Request headers must arrive within this after the request starts. */
  headers: number;
  /** The whole request (headers and body) must arrive within this. */
  request: number;
  /** An idle keep-alive connection is closed after this. */
  keepAlive: number;
  /** How often Node checks the header and request deadlines. */
  checkInterval: number;
  /**
   * On close (SIGTERM), how long the server keeps serving: it still accepts connections and
   * answers every request, each with `Connection: close`, and closes connections that are
   * really idle once the clients have gone quiet (connections.ts). It stops earlier once no
   * connection is open and none has arrived for `drainIdle`, counted from SIGTERM at the earliest.
   */
  drain: number;
  /**
   * While draining, once no connection or request has arrived for this long, connections
   * idle this long are closed, and the drain ends when none is left.
   */
  drainIdle: number;
  /** After the drain, reviews still in flight get this long before their connections are cut. */
  shutdownGrace: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ServerTimeouts> = Object.freeze({
  // A handshake takes milliseconds; 10 s is Go's own TLSHandshakeTimeout on the client side.
  handshake: 10_000,
  headers: 10_000,
  // The API server waits at most 30 s (timeoutSeconds' ceiling) for a webhook: a request
  // still arriving after that has no one waiting for the answer.
  request: 30_000,
  // Longer than the API server's idle timeout (90 s, Go's default transport) so the client,
  // not the server, closes idle connections: a server-side close can race a POST the client
  // is sending on that connection, and Go does not retry a POST.
  keepAlive: 120_000,
  // Node's default is 30 s, which would let a slow client overstay its deadline by that much.
  checkInterval: 1_000,
  // The Deployment gives 30 s from the preStop hook (a 5 s sleep) to SIGKILL: 15 s of drain
  // and 8 s of grace leave 2 s to exit. The API server learns within the preStop sleep that
  // the replica is no longer an endpoint; the drain covers one that has not yet.
  drain: 15_000,
  // The API server keeps calling a replica until its endpoint informer has seen it go
  // (milliseconds, seconds on a loaded control plane), but under load its pooled
  // connections to the other replica may carry every review for seconds before it dials
  // this one again. 5 s after SIGTERM, and 5 s without any new connection or request, mean
  // it has moved on; its pooled connections to this replica then sit unused, and closing
  // them races nothing it is doing. (2 s let a dial 2-3 s after SIGTERM be refused while
  // the endpoint was still listed.)
  drainIdle: 5_000,
  shutdownGrace: 8_000,
});

export interface StartServerOptions {
  listen: ListenAddress;
  tls: TlsSource;
  timeouts?: Partial<ServerTimeouts>;
  connections?: Partial<ConnectionLimits>;
}

export interface WebhookServer {
  readonly app: FastifyInstance;
  readonly server: https.Server;
  /** The bound address (the real port when 0 was asked for). */
  readonly address: ListenAddress;
  /** https://HOST:PORT */
  readonly url: string;
  /**
   * Serves `material` to new connections from now on; open connections keep theirs.
   * Returns false when it equals the current material. Throws CertError (and keeps the
   * current material) when the pair is unusable: unparsable, or a key that does not match.
   */
  updateTls(material: TlsMaterial): boolean;
  /**
   * Drains (ServerTimeouts.drain: /readyz 503, every answer `Connection: close`, really
   * idle connections closed), then stops accepting, lets in-flight reviews finish and cuts
   * what is left after the grace period. Idempotent.
   */
  close(): Promise<void>;
}

/** Builds the app, loads TLS from `options.tls`, listens, and starts watching the source. */
export async function startServer(deps: AppDeps, options: StartServerOptions): Promise<WebhookServer> {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const connectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.connections };
  const tlsMetrics = createTlsMetrics(deps.registry);
  let draining = false;

  let current = checkMaterial(await options.tls.load());
  let httpsServer: https.Server | undefined;
  const serverFactory: FastifyServerFactory = (handler) => {
    const s = https.createServer(
      {
        cert: current.cert,
        key: current.key,
        minVersion: 'TLSv1.2',
        ciphers: TLS_CIPHERS,
        honorCipherOrder: true,
        handshakeTimeout: timeouts.handshake,
        headersTimeout: timeouts.headers,
        requestTimeout: timeouts.request,
        keepAliveTimeout: timeouts.keepAlive,
        connectionsCheckingInterval: timeouts.checkInterval,
      },
      handler,
    );
    httpsServer = s;
    return s;
  };
  const app = buildApp({ ...deps, draining: () => draining }, { serverFactory });
  if (httpsServer === undefined) throw new Error('fastify did not call the server factory');
  const server: https.Server = httpsServer;
  const connections = new ConnectionTracker(server, connectionLimits);
  createConnectionMetrics(deps.registry, () => connections.stats());
  tlsMetrics.notAfter.set(certificateInfo(current.cert).notAfter.getTime() / 1000);

  try {
    await app.listen({
      host: options.listen.host,
      port: options.listen.port,
      // fastify cannot tell that the server from serverFactory speaks TLS.
      listenTextResolver: (address) => `HTTPS server bound to ${address.replace(/^http:/, 'https:')}`,
    });
  } catch (e) {
    await app.close();
    throw e;
  }
  const bound = server.address();
  const address: ListenAddress = {
    host: options.listen.host,
    port: typeof bound === 'object' && bound !== null ? bound.port : options.listen.port,
  };
  const url = `https://${formatAuthority(address)}`;

  const updateTls = (material: TlsMaterial): boolean => {
    if (material.cert === current.cert && material.key === current.key) return false;
    let checked: CheckedMaterial;
    try {
      checked = checkMaterial(material);
    } catch (e) {
      tlsMetrics.reloads.inc({ result: 'rejected' });
      throw e;
    }
    server.setSecureContext({ cert: checked.cert, key: checked.key });
    current = checked;
    tlsMetrics.reloads.inc({ result: 'success' });
    tlsMetrics.notAfter.set(checked.notAfter.getTime() / 1000);
    app.log.info({ notAfter: checked.notAfter.toISOString(), fingerprint256: checked.fingerprint256 }, 'serving certificate updated');
    return true;
  };

  const stopWatching = options.tls.watch?.(
    (material) => {
      try {
        updateTls(material);
      } catch (e) {
        app.log.warn({ err: e }, 'new serving certificate rejected; keeping the current one');
      }
    },
    (e) => app.log.warn({ err: e }, 'cannot read the new serving certificate; keeping the current one'),
  );

  app.log.info(
    {
      url,
      tls: options.tls.description,
      notAfter: current.notAfter.toISOString(),
      fingerprint256: current.fingerprint256,
    },
    'webhook listening',
  );
  if (options.tls.notice !== undefined) app.log.warn({ tls: options.tls.description, fingerprint256: current.fingerprint256 }, options.tls.notice);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching?.();
      draining = true;
      const started = Date.now();
      app.log.info({ drainMs: timeouts.drain, connections: connections.open }, 'draining: answering with Connection: close, closing idle connections');
      // Idle connections are closed only once no request and no connection has arrived
      // for drainIdle: while a client still sends reviews here (it has not yet seen the
      // endpoint go), it may reach for any of its pooled connections at any moment, and
      // each one it uses is answered with Connection: close instead. And the drain is not
      // over at the first moment without a connection, for the same reason.
      // Quiet is counted from SIGTERM at the earliest: a replica idle before it may still be
      // an endpoint for a while, and a connection can arrive any time until it is not.
      while (Date.now() - started < timeouts.drain) {
        if (Math.min(connections.quietMs, Date.now() - started) >= timeouts.drainIdle) {
          await connections.closeIdle(timeouts.drainIdle);
          if (connections.open === 0) break;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(timeouts.checkInterval, 250)));
      }
      app.log.info({ drainedMs: Date.now() - started, connections: connections.open }, 'drain over: no new connections, finishing in-flight reviews');
      // Node's server.close() (inside app.close()) also closes the connections it
      // considers idle; after the drain, that is what is meant.
      const cut = setTimeout(() => {
        app.log.warn({ graceMs: timeouts.shutdownGrace }, 'shutdown grace period over; closing remaining connections');
        server.closeAllConnections();
      }, timeouts.shutdownGrace);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
    })();
    return closing;
  };

  return { app, server, address, url, updateTls, close };
}

interface CheckedMaterial extends TlsMaterial {
  notAfter: Date;
  fingerprint256: string;
}

/** OpenSSL parses the pair and checks that the key matches the certificate. */
function checkMaterial(material: TlsMaterial): CheckedMaterial {
  try {
    createSecureContext({ cert: material.cert, key: material.key });
  } catch (e) {
    throw new CertError(`unusable TLS certificate or key: ${errorMessage(e)}`, { cause: e });
  }
  const info = certificateInfo(material.cert);
  return { ...material, notAfter: info.notAfter, fingerprint256: info.fingerprint256 };
}
