/**
 * `startProxy`: what `siding proxy` does once its flags are parsed. Checks it can work
 * (UID, resolver), binds every listener, reports ready, and carries out the lifecycle's
 * actions (lifecycle.ts) until it stops. Every outside dependency is passed in.
 */
import type http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ProxyError } from '../errors/index.js';
import { DnsForwarder } from './dns.js';
import { parseResolvConf, type Nameserver } from './dnsmsg.js';
import { isLoopback } from './guard.js';
import { healthServer, metricsServer } from './http.js';
import { step, type LifeAction, type LifeEvent, type Phase } from './lifecycle.js';
import type { Logger } from './log.js';
import { createProxyMetrics, type ProxyMetrics } from './metrics.js';
import { METRICS_PATH, PASSTHROUGH_SOURCE, type Direction, type ProxyOptions } from './options.js';
import { unmapped } from './origdst.js';
import { Relay } from './relay.js';
import type { OriginalDstReader } from './sockopt.js';

export interface ProxyDeps {
  readonly log: Logger;
  /** Default: libc's getsockopt through koffi (sockopt.ts). */
  readonly originalDst?: OriginalDstReader;
  readonly readFile: (path: string) => string;
  /** The process's real UID and GID. */
  readonly ids: { readonly uid: number; readonly gid: number };
  /** This host's interface addresses (os.networkInterfaces by default). */
  readonly addresses?: () => string[];
}

export interface RunningProxy {
  readonly phase: Phase;
  /** The ports actually bound (as asked, or the kernel's choice for port 0). */
  readonly ports: Readonly<Record<'outbound' | 'inbound' | 'health' | 'metrics', number>>;
  readonly metrics: ProxyMetrics;
  /** SIGTERM/SIGINT: start the drain (a second call stops at once). */
  terminate(): void;
  /** Resolves once everything is closed. */
  readonly stopped: Promise<void>;
}

function interfaceAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

function listen(server: net.Server | http.Server, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Without a host, Node.js binds :: (dual-stack) and falls back to 0.0.0.0 without IPv6.
    server.listen({ port, backlog: 4096, ...(host === undefined ? {} : { host }) }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : port);
    });
  });
}

function closeServer(server: net.Server | http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
}

/** Whether a TCP socket can be bound to `address` (port 0), e.g. the IPv6 passthrough source. */
async function canBind(address: string): Promise<boolean> {
  const s = net.createServer();
  try {
    await listen(s, 0, address);
    return true;
  } catch {
    return false;
  } finally {
    await closeServer(s);
  }
}

/** Reads the resolver file for --redirect-dns; throws ProxyError when it names no usable nameserver. */
function nameservers(path: string, deps: ProxyDeps): Nameserver[] {
  let text: string;
  try {
    text = deps.readFile(path);
  } catch (e) {
    throw new ProxyError(`--redirect-dns: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const conf = parseResolvConf(text);
  for (const line of conf.ignored) deps.log.warn({ file: path, line }, 'resolver line ignored');
  if (conf.nameservers.length === 0) throw new ProxyError(`--redirect-dns: ${path} names no nameserver to forward DNS queries to`);
  return [...conf.nameservers];
}

/**
 * Starts the proxy. Throws ProxyError (exit 1) when it cannot work: it runs as a user the
 * redirect captures (every connection it made would come back to it), a port is taken, the
 * resolver file names no nameserver, or getsockopt cannot be loaded.
 */
export async function startProxy(opts: ProxyOptions, deps: ProxyDeps): Promise<RunningProxy> {
  const started = performance.now();
  const { log } = deps;
  if (deps.ids.uid !== opts.uid && deps.ids.gid !== opts.gid) {
    throw new ProxyError(
      `siding proxy runs as UID ${deps.ids.uid} GID ${deps.ids.gid}, but the redirect lets through only UID ${opts.uid} / GID ${opts.gid} (--uid/--gid): ` +
        'its own connections would be redirected back to it. Run it as that user, or pass the IDs siding init was given.',
    );
  }
  const dnsServers = opts.dns.enabled ? nameservers(opts.dns.resolvConf, deps) : [];
  let originalDst = deps.originalDst;
  if (originalDst === undefined) {
    try {
      originalDst = (await import('./sockopt.js')).loadOriginalDstReader();
    } catch (e) {
      throw new ProxyError(`cannot load getsockopt for SO_ORIGINAL_DST: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  const addressesOf = deps.addresses ?? interfaceAddresses;
  let local = new Set(addressesOf().map(unmapped));
  const isLocal = (address: string): boolean => {
    if (isLoopback(address) || local.has(address)) return true;
    // Rare (only for a capture port): addresses may have been added since start.
    local = new Set(addressesOf().map(unmapped));
    return local.has(address);
  };

  let phase: Phase = 'starting';
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let timer: NodeJS.Timeout | undefined;
  const settings = { drainMs: opts.drainSeconds * 1000, exitWhenIdle: opts.exitWhenIdle };

  // The metrics read the relay's counts when scraped; the relay counts into the metrics.
  const metrics = createProxyMetrics({ active: (d) => relay.active(d), bytes: () => relay.bytes() });
  const relay = new Relay(
    { ownPorts: new Set([opts.outboundPort, opts.inboundPort]), maxConnections: opts.maxConnections, connectTimeoutMs: opts.connectTimeoutMs },
    { originalDst, metrics, log, isLocal, onIdle: () => dispatch({ kind: 'idle' }) },
  );

  const listener = (direction: Direction): net.Server =>
    net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => relay.handle(direction, socket));
  const outbound = listener('outbound');
  const inbound = listener('inbound');
  const health = healthServer(opts.readinessPath, { ready: () => phase === 'ready', phase: () => phase });
  const stats = metricsServer(METRICS_PATH, metrics.registry);
  const dns = opts.dns.enabled ? new DnsForwarder(opts.dns.port, dnsServers, { log, metrics }) : undefined;

  const stopAll = async (): Promise<void> => {
    if (timer !== undefined) clearTimeout(timer);
    dns?.stop();
    const closing = Promise.all([outbound, inbound, health, stats].map(closeServer));
    // A connection accepted after the drain's reset would keep its listener from closing.
    relay.closeAll();
    await closing;
    log.info({ uptimeSeconds: Math.round((performance.now() - started) / 100) / 10 }, 'stopped');
    resolveStopped();
  };

  function perform(action: LifeAction): void {
    switch (action.kind) {
      case 'not-ready':
        log.info({ drainSeconds: opts.drainSeconds, open: relay.open, exitWhenIdle: opts.exitWhenIdle }, 'draining: not ready, inbound closed, outbound still accepting');
        return;
      case 'stop-inbound':
        void closeServer(inbound);
        return;
      case 'start-timer':
        timer = setTimeout(() => dispatch({ kind: 'deadline' }), action.ms);
        return;
      case 'close-connections':
        log.info({ open: relay.open }, 'drain over: resetting the connections still open');
        relay.closeAll();
        return;
      case 'stop':
        void stopAll();
        return;
    }
  }

  function dispatch(event: LifeEvent): void {
    const next = step(phase, event, relay.open, settings);
    phase = next.phase;
    for (const a of next.actions) perform(a);
  }

  const ports = { outbound: 0, inbound: 0, health: 0, metrics: 0 };
  try {
    [ports.outbound, ports.inbound, ports.health, ports.metrics] = await Promise.all([
      listen(outbound, opts.outboundPort),
      listen(inbound, opts.inboundPort),
      listen(health, opts.healthPort),
      listen(stats, opts.metricsPort),
      dns?.start(),
    ]);
  } catch (e) {
    dns?.stop();
    await Promise.all([outbound, inbound, health, stats].map(closeServer));
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProxyError(`cannot listen: ${code === 'EADDRINUSE' ? `${(e as Error).message} (another process has the port)` : (e as Error).message}`, { cause: e });
  }
  // siding init adds ::6 to lo when it programs IPv6; without it IPv6 inbound cannot reach the app.
  const ipv6 = addressesOf().some((a) => a.includes(':') && !a.startsWith('fe80') && a !== '::1');
  if (ipv6 && !(await canBind(PASSTHROUGH_SOURCE.ipv6))) {
    log.warn({ address: PASSTHROUGH_SOURCE.ipv6 }, 'the IPv6 passthrough source is not on lo: IPv6 inbound connections will fail (siding init adds it)');
  }
  if (phase === 'starting') dispatch({ kind: 'listening' });
  log.info(
    {
      ...ports,
      dns: opts.dns.enabled ? { port: opts.dns.port, nameservers: dnsServers.map((n) => n.address) } : false,
      // performance.now() counts from the process's start: Node.js itself, loading, binding.
      startupMs: Math.round(performance.now()),
    },
    'ready',
  );

  return {
    get phase() {
      return phase;
    },
    ports,
    metrics,
    terminate: () => dispatch({ kind: 'terminate' }),
    stopped,
  };
}
