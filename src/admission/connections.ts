/**
 * The HTTPS server's connections: how many are open (a bound, with the longest-idle one
 * making room when it is reached), and closing idle ones without racing a request.
 *
 * Why "really idle": an HTTP/1.1 server may close a keep-alive connection between
 * requests, but a client may be sending its next request at that very moment, and Go (the
 * API server) does not retry a POST that was written to a connection the server then
 * closed. Node's closeIdleConnections() closes every connection that has no request being
 * parsed, including one whose next request is in the kernel's buffer and not yet read.
 * Here a connection counts as idle only when it has no request in progress, has received
 * no byte since its last answer, and has stayed so for a minimum time; and the check runs
 * in a setImmediate callback, after the event loop has read whatever the sockets hold.
 */
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface ConnectionLimits {
  /** Open TCP connections, TLS handshakes included; a new one past this is refused or makes room. */
  max: number;
  /** At the bound, a new connection closes the longest-idle one that has been idle at least this long (ms). */
  evictIdleMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  // An idle TLS keep-alive connection costs node 24 (OpenSSL 3.5) 57 KiB at the TLS layer
  // and 73 KiB with HTTP on top, measured over 1,000 connections; a replica in cluster mode
  // holding 499 of 4,000 opened grew by 55-59 MiB. 256 of them cost about 25 MiB of the
  // Deployment's 256Mi. The API server opens one connection per concurrent call to a
  // replica and keeps up to 25 idle ones per API server (client-go's MaxIdleConnsPerHost):
  // 256 is room for hundreds of reviews in flight at once, each answered in about a
  // millisecond, and an idle connection makes way for a new one.
  max: 256,
  // Idle for a second while the API server sends hundreds of reviews a second means the
  // client does not need that connection; it is closed to admit a new one (as nginx frees
  // idle keep-alive connections when it runs out).
  evictIdleMs: 1000,
});

interface Tracked {
  readonly socket: TLSSocket;
  /** Requests on this connection whose answer is not finished. */
  active: number;
  /** When the last answer finished (or the handshake did). */
  idleSince: number;
  /** socket.bytesRead at that moment: a later request's first bytes change it. */
  bytesAtIdle: number;
}

export interface ConnectionStats {
  open: number;
  refused: number;
  evicted: number;
}

export class ConnectionTracker {
  private openCount = 0;
  private lastArrival: number;
  private refusedCount = 0;
  private evictedCount = 0;
  // Insertion order is handshake order; idleness is checked per entry.
  private readonly tracked = new Map<TLSSocket, Tracked>();

  constructor(
    server: Server,
    private readonly limits: Readonly<ConnectionLimits>,
    private readonly now: () => number = Date.now,
  ) {
    this.lastArrival = now();
    server.on('connection', (raw: Socket) => this.onConnection(raw));
    server.on('secureConnection', (socket: TLSSocket) => {
      const t: Tracked = { socket, active: 0, idleSince: this.now(), bytesAtIdle: socket.bytesRead };
      this.tracked.set(socket, t);
      socket.once('close', () => this.tracked.delete(socket));
    });
    server.on('request', (req: { socket: Socket }, res: NodeJS.EventEmitter) => {
      this.lastArrival = this.now();
      const t = this.tracked.get(req.socket as TLSSocket);
      if (t === undefined) return;
      t.active += 1;
      res.once('close', () => {
        t.active -= 1;
        t.idleSince = this.now();
        t.bytesAtIdle = t.socket.bytesRead;
      });
    });
  }

  stats(): ConnectionStats {
    return { open: this.openCount, refused: this.refusedCount, evicted: this.evictedCount };
  }

  /** Open TCP connections (handshakes included). */
  get open(): number {
    return this.openCount;
  }

  /** Milliseconds since the last connection or request arrived. */
  get quietMs(): number {
    return this.now() - this.lastArrival;
  }

  private onConnection(raw: Socket): void {
    this.lastArrival = this.now();
    if (this.openCount >= this.limits.max) {
      const victim = this.longestIdle(this.limits.evictIdleMs);
      if (victim === undefined) {
        this.refusedCount += 1;
        raw.destroy();
        return;
      }
      this.evictedCount += 1;
      this.tracked.delete(victim.socket);
      victim.socket.destroy();
    }
    this.openCount += 1;
    raw.once('close', () => {
      this.openCount -= 1;
    });
  }

  private reallyIdle(t: Tracked, minIdleMs: number, at: number): boolean {
    return t.active === 0 && t.socket.bytesRead === t.bytesAtIdle && at - t.idleSince >= minIdleMs;
  }

  private longestIdle(minIdleMs: number): Tracked | undefined {
    const at = this.now();
    let best: Tracked | undefined;
    for (const t of this.tracked.values()) {
      if (this.reallyIdle(t, minIdleMs, at) && (best === undefined || t.idleSince < best.idleSince)) best = t;
    }
    return best;
  }

  /**
   * Closes every connection idle (as defined above) for at least `minIdleMs`, once the
   * event loop has read what the sockets hold; resolves with how many it closed.
   */
  closeIdle(minIdleMs: number): Promise<number> {
    return new Promise((resolve) => {
      setImmediate(() => {
        const at = this.now();
        let closed = 0;
        for (const t of [...this.tracked.values()]) {
          if (!this.reallyIdle(t, minIdleMs, at)) continue;
          this.tracked.delete(t.socket);
          t.socket.destroy();
          closed += 1;
        }
        resolve(closed);
      });
    });
  }
}
