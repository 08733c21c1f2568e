/**
 * Typed, validated configuration of `siding proxy`. Produced once by `parseProxyFlags`
 * (flags.ts); nothing downstream re-parses strings. Defaults are the injection config's, so
 * a proxy started without flags matches what the injector would have passed.
 */
import { DEFAULT_CONFIG } from '../config/defaults.js';

export type Direction = 'outbound' | 'inbound';
export const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound'];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type DnsOptions =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      /** Port on 127.0.0.1 and ::1, UDP and TCP (siding init --dns-port). */
      readonly port: number;
      /** The file whose `nameserver` lines say where queries go. */
      readonly resolvConf: string;
    };

export interface ProxyOptions {
  /** Redirected outbound TCP arrives here (siding init -p). */
  readonly outboundPort: number;
  /** Redirected inbound TCP arrives here (siding init -z). */
  readonly inboundPort: number;
  /** GET <readinessPath>: 200 when ready, 503 otherwise. */
  readonly healthPort: number;
  readonly readinessPath: string;
  /** GET /stats/prometheus. */
  readonly metricsPort: number;
  /** The UID and GID the redirect lets through (siding init -u/-g); the proxy must run as one. */
  readonly uid: number;
  readonly gid: number;
  readonly dns: DnsOptions;
  /** After SIGTERM, how long open connections may go on before they are closed. */
  readonly drainSeconds: number;
  /** During the drain, exit as soon as no connection is open (a native sidecar outlives its app). */
  readonly exitWhenIdle: boolean;
  /** Open connections at once, both directions together; more are refused. */
  readonly maxConnections: number;
  /** How long a connection to the original destination may take. */
  readonly connectTimeoutMs: number;
  readonly logLevel: LogLevel;
}

const proxy = DEFAULT_CONFIG.proxy;

/** Flag defaults: the injection config's own defaults, and the proxy's own settings. */
export const DEFAULTS = {
  outboundPort: proxy.outboundPort,
  inboundPort: proxy.inboundPort,
  healthPort: proxy.healthPort,
  readinessPath: proxy.readinessPath,
  metricsPort: proxy.metricsPort,
  uid: proxy.uid,
  gid: proxy.gid,
  dnsPort: DEFAULT_CONFIG.redirect.dnsPort,
  resolvConf: '/etc/resolv.conf',
  drainSeconds: proxy.drainSeconds,
  maxConnections: proxy.maxConnections,
  // Istio's default connect timeout (meshConfig.connectTimeout): a peer that has not answered
  // a SYN in 10 s is not coming, and the app gets a reset instead of a hang.
  connectTimeout: '10s',
  logLevel: 'info' as LogLevel,
} as const;

/** The source address of inbound connections handed to the app; the redirect lets it through on lo. */
export const PASSTHROUGH_SOURCE = { ipv4: '127.0.0.6', ipv6: '::6' } as const;

/** Where Prometheus text is served on the metrics port. */
export const METRICS_PATH = '/stats/prometheus';
