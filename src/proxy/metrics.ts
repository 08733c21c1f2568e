/**
 * The proxy's Prometheus metrics (prom-client), served at GET /stats/prometheus on the
 * metrics port. Names and labels are documented in docs/proxy.md; tests read them.
 *
 * Per-connection cost is kept off the data path: label children are bound once, bytes are
 * not counted per chunk but read from the sockets' own counters when Prometheus scrapes
 * (closed connections' totals plus the open ones' so far), and the active gauge is read
 * from the relay's own count.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DIRECTIONS, type Direction } from './options.js';

/** How a connection ended; one count per accepted connection. */
export const OUTCOMES = [
  /** Both sides closed normally. */
  'ok',
  /** A side reset the connection (passed on to the other side as a reset). */
  'reset',
  /** The original destination refused or could not be reached. */
  'connect_error',
  /** The original destination did not answer within --connect-timeout. */
  'connect_timeout',
  /** --max-connections were already open. */
  'over_limit',
  /** The loop guard: the original destination is the proxy itself. */
  'loop',
  /** getsockopt(SO_ORIGINAL_DST) failed: nothing redirected the connection, or no conntrack entry. */
  'original_dst_error',
  /** Still open when the drain ended; reset. */
  'drain_closed',
  /** Any other socket error. */
  'error',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const WAYS = ['upstream', 'downstream'] as const;
export type Way = (typeof WAYS)[number];

export const DNS_OUTCOMES = ['ok', 'servfail', 'dropped'] as const;
export type DnsOutcome = (typeof DNS_OUTCOMES)[number];

/** Bytes read so far, per direction and way (upstream: from the client, toward the destination). */
export type ByteTotals = Record<Direction, Record<Way, number>>;

export interface MetricSources {
  /** Open connections per direction, right now. */
  active(direction: Direction): number;
  /** Bytes moved so far, closed and open connections together. */
  bytes(): ByteTotals;
}

export interface ProxyMetrics {
  readonly registry: Registry;
  /** Counts one accepted connection that has ended (or was refused). */
  ended(direction: Direction, outcome: Outcome): void;
  /** Time from accepting a connection to its upstream connection being established. */
  connected(direction: Direction, seconds: number): void;
  /** Counts one DNS query (UDP) or one DNS connection (TCP). */
  dns(protocol: 'udp' | 'tcp', outcome: DnsOutcome): void;
}

// A connection inside a pod network takes well under a millisecond; a remote one a few; the
// connect timeout (10 s by default) is the far end.
const CONNECT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createProxyMetrics(sources: MetricSources): ProxyMetrics {
  const registry = new Registry();
  const registers = [registry];
  const connections = new Counter({
    name: 'siding_proxy_connections_total',
    help: 'Connections accepted, by direction and how they ended (counted when they end or are refused).',
    labelNames: ['direction', 'outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'siding_proxy_active_connections',
    help: 'Connections open right now, by direction.',
    labelNames: ['direction'] as const,
    registers,
    collect() {
      for (const direction of DIRECTIONS) this.set({ direction }, sources.active(direction));
    },
  });
  new Counter({
    name: 'siding_proxy_bytes_total',
    help: 'Bytes relayed, by direction and way: upstream is read from the client, downstream from the destination.',
    labelNames: ['direction', 'way'] as const,
    registers,
    collect() {
      const totals = sources.bytes();
      this.reset();
      for (const direction of DIRECTIONS) for (const way of WAYS) this.inc({ direction, way }, totals[direction][way]);
    },
  });
  const connect = new Histogram({
    name: 'siding_proxy_connect_seconds',
    help: 'Time from accepting a connection to being connected to its original destination, by direction.',
    labelNames: ['direction'] as const,
    buckets: CONNECT_BUCKETS,
    registers,
  });
  const dnsQueries = new Counter({
    name: 'siding_proxy_dns_queries_total',
    help: 'DNS queries forwarded (udp) and DNS connections relayed (tcp), by outcome.',
    labelNames: ['protocol', 'outcome'] as const,
    registers,
  });

  // Every series exists from the start (at 0), so a rate() or a test sees it before the first event.
  const ended = new Map<string, { inc(): void }>();
  for (const direction of DIRECTIONS) {
    for (const outcome of OUTCOMES) {
      connections.inc({ direction, outcome }, 0);
      ended.set(`${direction}/${outcome}`, connections.labels({ direction, outcome }));
    }
  }
  for (const direction of DIRECTIONS) connect.zero({ direction });
  const observe = new Map<Direction, { observe(v: number): void }>(DIRECTIONS.map((d) => [d, connect.labels({ direction: d })]));
  for (const protocol of ['udp', 'tcp'] as const) for (const outcome of DNS_OUTCOMES) dnsQueries.inc({ protocol, outcome }, 0);

  return {
    registry,
    ended: (direction, outcome) => ended.get(`${direction}/${outcome}`)?.inc(),
    connected: (direction, seconds) => observe.get(direction)?.observe(seconds),
    dns: (protocol, outcome) => dnsQueries.inc({ protocol, outcome }),
  };
}
