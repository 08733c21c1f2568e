/**
 * The one parser for `siding proxy` flags: raw strings in, a typed `ProxyOptions` out, or a
 * `ProxyFlagError` naming the flag and the value. It runs before anything listens.
 */
import { MAX_DRAIN_SECONDS, MAX_PROXY_CONNECTIONS } from '../config/defaults.js';
import { parseAbsolutePath } from '../config/values.js';
import { ProxyFlagError } from '../errors/index.js';
import { displayValue, parseDuration, parsePort, parseWholeNumber, STRICT, type Parsed } from '../grammar/index.js';
import { DEFAULTS, LOG_LEVELS, type LogLevel, type ProxyOptions } from './options.js';

/** Flag values as commander hands them over (attribute names are commander's camelCase). */
export interface RawProxyFlags {
  outboundPort?: string;
  inboundPort?: string;
  healthPort?: string;
  readinessPath?: string;
  metricsPort?: string;
  uid?: string;
  gid?: string;
  redirectDns?: boolean;
  dnsPort?: string;
  resolvConf?: string;
  drainSeconds?: string;
  exitWhenIdle?: boolean;
  maxConnections?: string;
  connectTimeout?: string;
  logLevel?: string;
}

/** How each flag is named in messages, as --help shows it. */
export const PROXY_FLAG_NAMES = {
  outboundPort: '--outbound-port',
  inboundPort: '--inbound-port',
  healthPort: '--health-port',
  readinessPath: '--readiness-path',
  metricsPort: '--metrics-port',
  uid: '--uid',
  gid: '--gid',
  dnsPort: '--dns-port',
  resolvConf: '--resolv-conf',
  drainSeconds: '--drain-seconds',
  maxConnections: '--max-connections',
  connectTimeout: '--connect-timeout',
  logLevel: '--log-level',
} as const satisfies Partial<Record<keyof RawProxyFlags, string>>;

type FlagKey = keyof typeof PROXY_FLAG_NAMES;

function fail(flag: FlagKey, value: string, reason: string): never {
  throw new ProxyFlagError(PROXY_FLAG_NAMES[flag], displayValue(value), reason);
}

/** The parsed value, or ProxyFlagError naming the flag. Values are read in src/grammar's strict syntax. */
function must<T>(flag: FlagKey, value: string, parsed: Parsed<T>): T {
  if (!parsed.ok) fail(flag, value, parsed.reason);
  return parsed.value;
}

const port = (flag: FlagKey, value: string): number => must(flag, value, parsePort(value, STRICT));

function integer(flag: FlagKey, value: string, min: number, max: number, unit: string): number {
  return must(flag, value, parseWholeNumber(value, { min, max, unit }, STRICT));
}

// 2^31 - 1 is the highest UID/GID Kubernetes accepts in runAsUser/runAsGroup (as the config does).
const MAX_ID = 2147483647;

// A connect that takes under 50 ms to time out would fail on any loaded node; one that may
// take more than 5 minutes is a hang the app would rather see as an error.
const MIN_CONNECT_TIMEOUT_MS = 50;
const MAX_CONNECT_TIMEOUT_MS = 300_000;

/** A duration such as `10s` or `500ms`. */
function duration(flag: FlagKey, value: string, minMs: number, maxMs: number): number {
  return must(flag, value, parseDuration(value, { minMs, maxMs }, STRICT));
}

// Long enough for any real path (PATH_MAX is 4096), short enough to refuse a hostile value.
const MAX_FILE_PATH = 4096;

function filePath(flag: FlagKey, value: string): string {
  if (!value.startsWith('/') || value.includes('\0') || value.length > MAX_FILE_PATH) {
    fail(flag, value, `must be an absolute file path of at most ${MAX_FILE_PATH} characters`);
  }
  return value;
}

/**
 * Turns raw flag values into `ProxyOptions`. Throws `ProxyFlagError` (exit 2) on the first
 * bad value, or when two listeners would share a port.
 */
export function parseProxyFlags(raw: RawProxyFlags): ProxyOptions {
  const readinessText = raw.readinessPath ?? DEFAULTS.readinessPath;
  const readiness = parseAbsolutePath(readinessText);
  if (!readiness.ok) fail('readinessPath', readinessText, readiness.reason);
  const logLevelText = raw.logLevel ?? DEFAULTS.logLevel;
  const logLevel = LOG_LEVELS.find((l) => l === logLevelText);
  if (logLevel === undefined) fail('logLevel', logLevelText, `must be one of ${LOG_LEVELS.join(', ')}`);

  const opts: ProxyOptions = {
    outboundPort: port('outboundPort', raw.outboundPort ?? String(DEFAULTS.outboundPort)),
    inboundPort: port('inboundPort', raw.inboundPort ?? String(DEFAULTS.inboundPort)),
    healthPort: port('healthPort', raw.healthPort ?? String(DEFAULTS.healthPort)),
    readinessPath: readiness.value,
    metricsPort: port('metricsPort', raw.metricsPort ?? String(DEFAULTS.metricsPort)),
    uid: integer('uid', raw.uid ?? String(DEFAULTS.uid), 0, MAX_ID, 'a UID'),
    gid: integer('gid', raw.gid ?? raw.uid ?? String(DEFAULTS.gid), 0, MAX_ID, 'a GID'),
    dns:
      raw.redirectDns === true
        ? {
            enabled: true,
            port: port('dnsPort', raw.dnsPort ?? String(DEFAULTS.dnsPort)),
            resolvConf: filePath('resolvConf', raw.resolvConf ?? DEFAULTS.resolvConf),
          }
        : { enabled: false },
    drainSeconds: integer('drainSeconds', raw.drainSeconds ?? String(DEFAULTS.drainSeconds), 0, MAX_DRAIN_SECONDS, 'seconds'),
    exitWhenIdle: raw.exitWhenIdle === true,
    maxConnections: integer('maxConnections', raw.maxConnections ?? String(DEFAULTS.maxConnections), 1, MAX_PROXY_CONNECTIONS, 'connections'),
    connectTimeoutMs: duration('connectTimeout', raw.connectTimeout ?? DEFAULTS.connectTimeout, MIN_CONNECT_TIMEOUT_MS, MAX_CONNECT_TIMEOUT_MS),
    logLevel: logLevel satisfies LogLevel,
  };
  if (raw.redirectDns !== true) {
    if (raw.dnsPort !== undefined) fail('dnsPort', raw.dnsPort, 'only means something with --redirect-dns');
    if (raw.resolvConf !== undefined) fail('resolvConf', raw.resolvConf, 'only means something with --redirect-dns');
  }
  checkDistinctPorts(opts);
  return opts;
}

/** Every listener needs its own port (the DNS port is only bound on loopback, but on TCP too). */
function checkDistinctPorts(o: ProxyOptions): void {
  const ports: [FlagKey, number][] = [
    ['outboundPort', o.outboundPort],
    ['inboundPort', o.inboundPort],
    ['healthPort', o.healthPort],
    ['metricsPort', o.metricsPort],
  ];
  if (o.dns.enabled) ports.push(['dnsPort', o.dns.port]);
  for (let i = 0; i < ports.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, pa] = ports[j] ?? ['outboundPort', 0];
      const [b, pb] = ports[i] ?? ['outboundPort', 0];
      if (pa === pb) fail(b, String(pb), `is already the port of ${PROXY_FLAG_NAMES[a]}`);
    }
  }
}
