/**
 * The TCP relay: one accepted, redirected connection in, one connection to its original
 * destination out, bytes piped both ways until both sides are done.
 *
 * - Backpressure: stream.pipe in both directions; the accepted socket is not read until the
 *   upstream connection is up (pauseOnConnect on the listener), so an early client waits in
 *   the kernel's buffers, not in ours.
 * - Half-close: both sockets allow half-open; a FIN from one side ends the other side's
 *   writable half (pipe's end()), and the other direction goes on until its own FIN.
 * - Reset: an error on one side (ECONNRESET, EPIPE, ...) resets the other (RST, SO_LINGER 0).
 * - A failed or timed-out upstream connect resets the client.
 * Decisions (loop guard, outcome) are pure functions; this file only moves sockets.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { loopVerdict } from './guard.js';
import type { Logger } from './log.js';
import type { ByteTotals, Outcome, ProxyMetrics } from './metrics.js';
import { PASSTHROUGH_SOURCE, type Direction } from './options.js';
import type { Endpoint } from './origdst.js';
import type { OriginalDstReader } from './sockopt.js';

export interface RelaySettings {
  /** The capture listeners' ports (loop guard). */
  readonly ownPorts: ReadonlySet<number>;
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
}

export interface RelayDeps {
  readonly originalDst: OriginalDstReader;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  /** Whether an address is this host's (loop guard). */
  readonly isLocal: (address: string) => boolean;
  /** Called each time the last open connection ends. */
  readonly onIdle: () => void;
}

/** The outcome of an error on one side of an established relay. */
export function errorOutcome(code: string | undefined): Outcome {
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED' ? 'reset' : 'error';
}

/** Socket handles carry their file descriptor on Linux; Node.js has no public accessor. */
function fdOf(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

class Pair {
  outcome: Outcome | undefined;
  up: net.Socket | undefined;
  connected = false;
  closed = 0;
  constructor(
    readonly direction: Direction,
    readonly down: net.Socket,
    readonly target: Endpoint,
    readonly started: number,
  ) {}
}

export class Relay {
  private readonly live = new Set<Pair>();
  private readonly activeBy: Record<Direction, number> = { outbound: 0, inbound: 0 };
  private readonly closedBytes: ByteTotals = { outbound: { upstream: 0, downstream: 0 }, inbound: { upstream: 0, downstream: 0 } };
  private limitLogged = false;
  private readonly debug: boolean;

  constructor(
    private readonly settings: RelaySettings,
    private readonly deps: RelayDeps,
  ) {
    this.debug = deps.log.isLevelEnabled('debug');
  }

  /** Connections open now, both directions. */
  get open(): number {
    return this.live.size;
  }

  active(direction: Direction): number {
    return this.activeBy[direction];
  }

  /** Bytes read from each side so far: closed connections plus the open ones. */
  bytes(): ByteTotals {
    const t: ByteTotals = {
      outbound: { ...this.closedBytes.outbound },
      inbound: { ...this.closedBytes.inbound },
    };
    for (const p of this.live) {
      t[p.direction].upstream += p.down.bytesRead;
      t[p.direction].downstream += p.up?.bytesRead ?? 0;
    }
    return t;
  }

  /** Takes an accepted connection: checks it, connects upstream, pipes. Never throws. */
  handle(direction: Direction, down: net.Socket): void {
    down.on('error', () => undefined);
    if (this.live.size >= this.settings.maxConnections) {
      if (!this.limitLogged) {
        this.deps.log.warn({ direction, max: this.settings.maxConnections }, 'connection limit reached: refusing new connections');
        this.limitLogged = true;
      }
      this.refuse(direction, down, 'over_limit');
      return;
    }
    this.limitLogged = false;
    const fd = fdOf(down);
    const localAddress = down.localAddress;
    const localPort = down.localPort;
    const original = fd === undefined || localAddress === undefined ? 'no file descriptor' : this.deps.originalDst.read(fd, localAddress);
    if (typeof original === 'string') {
      this.deps.log.warn({ direction, client: down.remoteAddress, error: original }, 'cannot read the original destination: connection refused');
      this.refuse(direction, down, 'original_dst_error');
      return;
    }
    const verdict = loopVerdict({
      original,
      localAddress: localAddress ?? '',
      localPort: localPort ?? 0,
      ownPorts: this.settings.ownPorts,
      isLocal: this.deps.isLocal,
    });
    if (verdict.loop) {
      this.deps.log.warn({ direction, client: down.remoteAddress, destination: `${original.address}:${original.port}`, reason: verdict.reason }, 'loop guard: connection refused');
      this.refuse(direction, down, 'loop');
      return;
    }
    this.connect(new Pair(direction, down, original, performance.now()));
  }

  /** Resets every open connection (the end of the drain). */
  closeAll(): void {
    for (const p of [...this.live]) {
      p.outcome ??= 'drain_closed';
      p.down.resetAndDestroy();
      if (p.up !== undefined && !p.up.destroyed) {
        if (p.connected) p.up.resetAndDestroy();
        else p.up.destroy();
      }
    }
  }

  private refuse(direction: Direction, down: net.Socket, outcome: Outcome): void {
    down.resetAndDestroy();
    this.deps.metrics.ended(direction, outcome);
  }

  private connect(p: Pair): void {
    const { direction, down, target } = p;
    this.live.add(p);
    this.activeBy[direction] += 1;
    const options: net.TcpNetConnectOpts = { host: target.address, port: target.port, allowHalfOpen: true, noDelay: true };
    // Inbound connections reach the app from the passthrough source, which the redirect lets through on lo.
    if (direction === 'inbound') options.localAddress = target.family === 4 ? PASSTHROUGH_SOURCE.ipv4 : PASSTHROUGH_SOURCE.ipv6;
    const up = net.connect(options);
    p.up = up;
    up.setTimeout(this.settings.connectTimeoutMs);

    up.once('timeout', () => {
      if (p.connected) return;
      p.outcome ??= 'connect_timeout';
      this.deps.log.warn({ direction, destination: `${target.address}:${target.port}`, timeoutMs: this.settings.connectTimeoutMs }, 'connect timed out');
      up.destroy();
      down.resetAndDestroy();
    });
    up.once('connect', () => {
      p.connected = true;
      up.setTimeout(0);
      this.deps.metrics.connected(direction, (performance.now() - p.started) / 1000);
      if (down.destroyed) {
        up.resetAndDestroy();
        return;
      }
      down.pipe(up);
      up.pipe(down);
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      if (!p.connected) {
        p.outcome ??= 'connect_error';
        this.deps.log.warn({ direction, destination: `${target.address}:${target.port}`, error: e.code ?? e.message }, 'connect failed');
      } else {
        p.outcome ??= errorOutcome(e.code);
      }
      if (!down.destroyed) down.resetAndDestroy();
    });
    down.on('error', (e: NodeJS.ErrnoException) => {
      p.outcome ??= errorOutcome(e.code);
      if (up.destroyed) return;
      if (p.connected) up.resetAndDestroy();
      else up.destroy();
    });
    const closed = (): void => {
      p.closed += 1;
      if (p.closed === 2) this.finish(p);
    };
    down.once('close', closed);
    up.once('close', closed);
  }

  private finish(p: Pair): void {
    const outcome = p.outcome ?? 'ok';
    const upstream = p.down.bytesRead;
    const downstream = p.up?.bytesRead ?? 0;
    this.live.delete(p);
    this.activeBy[p.direction] -= 1;
    this.closedBytes[p.direction].upstream += upstream;
    this.closedBytes[p.direction].downstream += downstream;
    this.deps.metrics.ended(p.direction, outcome);
    if (this.debug) {
      this.deps.log.debug(
        {
          direction: p.direction,
          client: `${p.down.remoteAddress ?? '?'}:${p.down.remotePort ?? '?'}`,
          destination: `${p.target.address}:${p.target.port}`,
          outcome,
          upstreamBytes: upstream,
          downstreamBytes: downstream,
          ms: Math.round((performance.now() - p.started) * 10) / 10,
        },
        'connection',
      );
    }
    if (this.live.size === 0) this.deps.onIdle();
  }
}

