/**
 * The DNS forwarder, on when the pod's DNS is captured (siding init --redirect-dns): UDP and
 * TCP on 127.0.0.1 and ::1 at the DNS port, where the redirect sends the app's queries, and
 * on to the nameservers of the resolver file. The proxy's own queries leave as its UID, which
 * the redirect lets through.
 *
 * UDP: each query goes out from a socket of its own (a fresh random source port, so answers
 * cannot be confused or spoofed across queries) to the first nameserver; no answer within
 * TRY_MS, the next; none at all, SERVFAIL. TCP: the connection is relayed to the first
 * nameserver that accepts it.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { messageId, servfail, type Nameserver } from './dnsmsg.js';
import type { Logger } from './log.js';
import type { ProxyMetrics } from './metrics.js';

// Resolvers wait 5 s before retrying (glibc's default timeout): 2 s per nameserver answers,
// or moves on, well before the app gives up.
const TRY_MS = 2000;
// Queries waiting for an answer at once. An app resolves a handful at a time; the bound keeps
// a flood from opening a socket per packet without end. Past it, queries are dropped (the
// app retries, as it would on a lost packet).
const MAX_IN_FLIGHT = 1024;
// Largest DNS message over UDP with EDNS (RFC 6891 allows up to 65535; 4096 is the common
// buffer size); anything larger is not a query.
const MAX_UDP_QUERY = 4096;

export interface DnsDeps {
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
}

export class DnsForwarder {
  private readonly sockets: dgram.Socket[] = [];
  private readonly servers: net.Server[] = [];
  private readonly tcpClients = new Set<net.Socket>();
  private inFlight = 0;

  constructor(
    private readonly port: number,
    private readonly nameservers: readonly Nameserver[],
    private readonly deps: DnsDeps,
  ) {}

  /**
   * Binds UDP and TCP on 127.0.0.1 and ::1. IPv4 must bind; ::1 is skipped with a warning
   * when the namespace has no IPv6 (then nothing can be redirected to it either).
   */
  async start(): Promise<void> {
    await this.bindUdp('udp4', '127.0.0.1');
    await this.bindTcp('127.0.0.1');
    try {
      await this.bindUdp('udp6', '::1');
      await this.bindTcp('::1');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EADDRNOTAVAIL' && code !== 'EAFNOSUPPORT') throw e;
      this.deps.log.warn({ port: this.port, error: code }, 'no IPv6 loopback: DNS is served on 127.0.0.1 only');
    }
  }

  stop(): void {
    for (const s of this.sockets) s.close();
    for (const s of this.servers) s.close();
    for (const c of this.tcpClients) c.destroy();
  }

  private bindUdp(type: 'udp4' | 'udp6', address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
      sock.once('error', reject);
      sock.bind({ address, port: this.port }, () => {
        sock.off('error', reject);
        sock.on('error', (e) => this.deps.log.error({ address, error: e.message }, 'DNS socket error'));
        sock.on('message', (msg, rinfo) => this.query(sock, msg, rinfo));
        this.sockets.push(sock);
        resolve();
      });
    });
  }

  private bindTcp(host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => this.relayTcp(c));
      server.once('error', reject);
      server.listen({ host, port: this.port, ipv6Only: host.includes(':') }, () => {
        server.off('error', reject);
        this.servers.push(server);
        resolve();
      });
    });
  }

  private query(listener: dgram.Socket, msg: Buffer, client: dgram.RemoteInfo): void {
    const id = messageId(msg);
    if (id === undefined || msg.length > MAX_UDP_QUERY || this.inFlight >= MAX_IN_FLIGHT) {
      this.deps.metrics.dns('udp', 'dropped');
      return;
    }
    this.inFlight += 1;
    const reply = (answer: Uint8Array | undefined, outcome: 'ok' | 'servfail' | 'dropped'): void => {
      this.inFlight -= 1;
      this.deps.metrics.dns('udp', answer === undefined ? 'dropped' : outcome);
      if (answer !== undefined) listener.send(answer, client.port, client.address);
    };
    const attempt = (i: number): void => {
      const ns = this.nameservers[i];
      if (ns === undefined) {
        reply(servfail(msg), 'servfail');
        return;
      }
      const sock = dgram.createSocket(ns.family === 4 ? 'udp4' : 'udp6');
      let done = false;
      const finish = (next: boolean, answer?: Buffer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.close();
        if (answer !== undefined) reply(answer, 'ok');
        else if (next) attempt(i + 1);
      };
      const timer = setTimeout(() => finish(true), TRY_MS);
      sock.on('error', () => finish(true));
      sock.on('message', (answer, from) => {
        // Only the nameserver's answer to this very query counts.
        if (from.address === ns.address && from.port === 53 && messageId(answer) === id) finish(false, answer);
      });
      sock.send(msg, 53, ns.address);
    };
    attempt(0);
  }

  private relayTcp(client: net.Socket): void {
    this.tcpClients.add(client);
    client.once('close', () => this.tcpClients.delete(client));
    let up: net.Socket | undefined;
    client.on('error', () => {
      if (up !== undefined && !up.destroyed) up.resetAndDestroy();
    });
    const attempt = (i: number): void => {
      const ns = this.nameservers[i];
      if (ns === undefined || client.destroyed) {
        this.deps.metrics.dns('tcp', 'dropped');
        if (!client.destroyed) client.resetAndDestroy();
        return;
      }
      const sock = net.connect({ host: ns.address, port: 53, allowHalfOpen: true });
      up = sock;
      sock.setTimeout(TRY_MS);
      let state: 'connecting' | 'connected' | 'abandoned' = 'connecting';
      const next = (): void => {
        if (state !== 'connecting') return;
        state = 'abandoned';
        sock.destroy();
        attempt(i + 1);
      };
      sock.once('timeout', next);
      sock.on('error', () => {
        if (state === 'connecting') next();
        else if (state === 'connected' && !client.destroyed) client.resetAndDestroy();
      });
      sock.once('connect', () => {
        if (state !== 'connecting') return;
        state = 'connected';
        sock.setTimeout(0);
        client.pipe(sock);
        sock.pipe(client);
        sock.once('close', (hadError) => this.deps.metrics.dns('tcp', hadError ? 'dropped' : 'ok'));
      });
    };
    attempt(0);
  }
}
