/**
 * The one parser for `siding init` flags: raw strings in, a typed `InitOptions` out, or an
 * `InitFlagError` naming the flag and the value. It runs before any program is started, so a
 * bad value never reaches iptables.
 */
import ipaddr from 'ipaddr.js';
import { InitFlagError } from '../errors/index.js';
import type {
  Cidr,
  CidrSelection,
  Family,
  InitOptions,
  IptablesMode,
  Ipv6Mode,
  LogFormat,
  PortRange,
  PortSelection,
  RedirectConfig,
} from './config.js';
import { DEFAULTS } from './config.js';

/** Flag values as commander hands them over (attribute names are commander's camelCase). */
export interface RawInitFlags {
  envoyPort?: string;
  inboundCapturePort?: string;
  inboundTunnelPort?: string;
  proxyUid?: string;
  proxyGid?: string;
  istioInboundInterceptionMode?: string;
  istioServiceCidr?: string;
  istioServiceExcludeCidr?: string;
  istioInboundPorts?: string;
  istioLocalExcludePorts?: string;
  istioLocalOutboundPortsExclude?: string;
  istioOutboundPorts?: string;
  istioExcludeInterfaces?: string;
  kubeVirtInterfaces?: string;
  dryRun?: boolean;
  redirectDns?: boolean;
  runValidation?: boolean;
  skipRuleApply?: boolean;
  iptablesProbePort?: string;
  probeTimeout?: string;
  cleanup?: boolean;
  cleanupOnly?: boolean;
  iptablesMode?: string;
  ipv6?: string;
  dnsPort?: string;
  netns?: string;
  lockWait?: string;
  lockRetries?: string;
  lockRetryDelay?: string;
  logFormat?: string;
}

/** How each flag is named in messages: short and long, as --help shows them. */
export const FLAG_NAMES = {
  envoyPort: '-p/--envoy-port',
  inboundCapturePort: '-z/--inbound-capture-port',
  inboundTunnelPort: '--inbound-tunnel-port',
  proxyUid: '-u/--proxy-uid',
  proxyGid: '-g/--proxy-gid',
  istioInboundInterceptionMode: '-m/--istio-inbound-interception-mode',
  istioServiceCidr: '-i/--istio-service-cidr',
  istioServiceExcludeCidr: '-x/--istio-service-exclude-cidr',
  istioInboundPorts: '-b/--istio-inbound-ports',
  istioLocalExcludePorts: '-d/--istio-local-exclude-ports',
  istioLocalOutboundPortsExclude: '-o/--istio-local-outbound-ports-exclude',
  istioOutboundPorts: '-q/--istio-outbound-ports',
  istioExcludeInterfaces: '-c/--istio-exclude-interfaces',
  kubeVirtInterfaces: '-k/--kube-virt-interfaces',
  iptablesProbePort: '--iptables-probe-port',
  probeTimeout: '--probe-timeout',
  iptablesMode: '--iptables-mode',
  ipv6: '--ipv6',
  dnsPort: '--dns-port',
  netns: '--netns',
  lockWait: '--lock-wait',
  lockRetries: '--lock-retries',
  lockRetryDelay: '--lock-retry-delay',
  logFormat: '--log-format',
  runValidation: '--run-validation',
} as const satisfies Partial<Record<keyof RawInitFlags, string>>;

type FlagKey = keyof typeof FLAG_NAMES;

function fail(flag: FlagKey, value: string, reason: string): never {
  throw new InitFlagError(FLAG_NAMES[flag], value, reason);
}

// Longest value any list flag may carry. Istio's annotations feed these flags; 64 KiB is
// far beyond any real list (about 4,000 CIDRs) and keeps a hostile value from costing much.
const MAX_FLAG_LENGTH = 65536;

/** Splits a comma-separated list; an empty string is an empty list. Empty items are errors. */
function splitList(flag: FlagKey, value: string): string[] {
  if (value.length > MAX_FLAG_LENGTH) fail(flag, `${value.slice(0, 40)}...`, `longer than ${MAX_FLAG_LENGTH} characters`);
  if (value.trim() === '') return [];
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) fail(flag, value, 'contains an empty item (two commas in a row, or a trailing comma)');
  return items;
}

function dedupe<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const DIGITS = /^[0-9]{1,10}$/;

/** A TCP/UDP port, 1-65535. */
export function parsePort(flag: FlagKey, value: string): number {
  const v = value.trim();
  if (!/^[0-9]{1,5}$/.test(v)) fail(flag, value, 'must be a port number between 1 and 65535');
  const n = Number(v);
  if (n < 1 || n > 65535) fail(flag, value, 'must be a port number between 1 and 65535');
  return n;
}

/** One item of a port list: `8080`, or a range `8000-8100` (also `8000:8100`). */
function parsePortItem(flag: FlagKey, item: string, whole: string): PortRange {
  const m = /^([0-9]{1,5})(?:[-:]([0-9]{1,5}))?$/.exec(item);
  if (m === null) fail(flag, whole, `'${item}' is not a port or a port range (8080 or 8000-8100)`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  for (const p of [from, to]) {
    if (p < 1 || p > 65535) fail(flag, whole, `port ${p} is outside 1-65535`);
  }
  if (to < from) fail(flag, whole, `in '${item}' the upper bound is below the lower bound`);
  return { from, to };
}

export function parsePortList(flag: FlagKey, value: string): PortRange[] {
  const items = splitList(flag, value).map((item) => parsePortItem(flag, item, value));
  return dedupe(items, (r) => `${r.from}:${r.to}`);
}

/** `*` means all ports; otherwise a port list (empty: none). */
export function parsePortSelection(flag: FlagKey, value: string): PortSelection {
  if (value.trim() === '*') return { kind: 'all' };
  return { kind: 'list', ports: parsePortList(flag, value) };
}

/** An IPv4 or IPv6 CIDR, or a bare address (a /32 or /128). Host bits are cleared. */
function parseCidrItem(flag: FlagKey, item: string, whole: string): Cidr {
  const slash = item.indexOf('/');
  const addr = slash === -1 ? item : item.slice(0, slash);
  const prefixText = slash === -1 ? undefined : item.slice(slash + 1);
  let family: Family;
  if (ipaddr.IPv4.isValidFourPartDecimal(addr)) {
    family = 'ipv4';
  } else if (addr.includes(':') && !addr.includes('%') && ipaddr.IPv6.isValid(addr)) {
    family = 'ipv6';
    if (ipaddr.IPv6.parse(addr).isIPv4MappedAddress()) {
      fail(flag, whole, `'${item}' is an IPv4-mapped IPv6 address; write the IPv4 form`);
    }
  } else {
    fail(flag, whole, `'${item}' is not an IPv4 or IPv6 address or CIDR`);
  }
  const max = family === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      fail(flag, whole, `'${item}' has an invalid prefix length (0-${max} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'})`);
    }
    prefix = Number(prefixText);
  }
  const network =
    family === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${prefix}`).toString()
      : ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${prefix}`).toRFC5952String();
  return { family, address: network, prefix };
}

export function parseCidrList(flag: FlagKey, value: string): Cidr[] {
  const items = splitList(flag, value).map((item) => parseCidrItem(flag, item, value));
  return dedupe(items, (c) => `${c.address}/${c.prefix}`);
}

/** `*` means every destination; otherwise a CIDR list (empty: none). */
export function parseCidrSelection(flag: FlagKey, value: string): CidrSelection {
  if (value.trim() === '*') return { kind: 'all' };
  return { kind: 'list', cidrs: parseCidrList(flag, value) };
}

// 2^32 - 1 is (uid_t)-1, "no user", in the kernel; the largest real ID is one less.
const MAX_ID = 4294967294;

/** A comma-separated list of numeric UIDs or GIDs; at least one. */
export function parseIdList(flag: FlagKey, value: string): number[] {
  const items = splitList(flag, value);
  if (items.length === 0) fail(flag, value, 'needs at least one numeric ID');
  const ids = items.map((item) => {
    if (!DIGITS.test(item) || Number(item) > MAX_ID) fail(flag, value, `'${item}' is not a numeric ID between 0 and ${MAX_ID}`);
    return Number(item);
  });
  return dedupe(ids, String);
}

// Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL) and may not contain
// '/', ':' or whitespace; iptables adds a trailing '+' as a wildcard. We accept a
// conservative alphabet so a name can never be mistaken for another iptables argument.
const IFACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}\+?$/;

export function parseInterfaceList(flag: FlagKey, value: string): string[] {
  const items = splitList(flag, value).map((item) => {
    if (!IFACE.test(item) || item === '.' || item === '..') {
      fail(flag, value, `'${item}' is not a valid interface name (letters, digits, '_', '.', '-', at most 15, optional trailing '+')`);
    }
    return item;
  });
  return dedupe(items, (s) => s);
}

function parseEnum<T extends string>(flag: FlagKey, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) fail(flag, value, `must be one of ${allowed.join(', ')}`);
  return found;
}

function parseInteger(flag: FlagKey, value: string, min: number, max: number, unit: string): number {
  if (!/^[0-9]{1,9}$/.test(value.trim())) fail(flag, value, `must be a whole number of ${unit} between ${min} and ${max}`);
  const n = Number(value.trim());
  if (n < min || n > max) fail(flag, value, `must be a whole number of ${unit} between ${min} and ${max}`);
  return n;
}

// The validation connection either lands on the listener almost at once or not at all;
// 100 ms is the shortest timeout that is not a race on a loaded node, 60 s the longest an
// init container should sit on a failure.
const MIN_PROBE_MS = 100;
const MAX_PROBE_MS = 60000;

/** A duration as Istio writes it: `5s`, `500ms`; a bare number is seconds. */
export function parseDuration(flag: FlagKey, value: string): number {
  const m = /^([0-9]{1,6})(ms|s)?$/.exec(value.trim());
  if (m === null) fail(flag, value, "must be a duration such as '5s' or '500ms'");
  const ms = m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
  if (ms < MIN_PROBE_MS || ms > MAX_PROBE_MS) fail(flag, value, `must be between ${MIN_PROBE_MS}ms and ${MAX_PROBE_MS / 1000}s`);
  return ms;
}

/** Checks a --netns value: an absolute path to an existing namespace file. */
export function parseNetns(value: string, exists: (path: string) => boolean): string {
  if (!value.startsWith('/') || value.includes('\0') || value.length > 4096) {
    fail('netns', value, 'must be an absolute path such as /var/run/netns/NAME or /proc/PID/ns/net');
  }
  if (!exists(value)) fail('netns', value, 'no such file');
  return value;
}

export interface ParseEnv {
  /** Whether a path exists (for --netns). */
  exists: (path: string) => boolean;
}

/**
 * Turns raw flag values into `InitOptions`. Throws `InitFlagError` (exit 2) on the first bad
 * value; when it returns, every value is valid and no program has been run.
 */
export function parseInitFlags(raw: RawInitFlags, env: ParseEnv): InitOptions {
  const mode = raw.istioInboundInterceptionMode ?? DEFAULTS.mode;
  if (mode === 'TPROXY') {
    fail('istioInboundInterceptionMode', mode, 'TPROXY interception is not implemented by siding yet; use REDIRECT');
  }
  parseEnum('istioInboundInterceptionMode', mode, ['REDIRECT', 'TPROXY']);

  const proxyUids = parseIdList('proxyUid', raw.proxyUid ?? DEFAULTS.proxyUid);
  const proxyGids = raw.proxyGid === undefined ? proxyUids : parseIdList('proxyGid', raw.proxyGid);
  const redirectDns = raw.redirectDns === true;
  const dnsPort = parsePort('dnsPort', raw.dnsPort ?? String(DEFAULTS.dnsPort));

  const redirect: RedirectConfig = {
    proxyPort: parsePort('envoyPort', raw.envoyPort ?? String(DEFAULTS.proxyPort)),
    inboundPort: parsePort('inboundCapturePort', raw.inboundCapturePort ?? String(DEFAULTS.inboundPort)),
    tunnelPort: parsePort('inboundTunnelPort', raw.inboundTunnelPort ?? String(DEFAULTS.tunnelPort)),
    proxyUids,
    proxyGids,
    mode: 'REDIRECT',
    outboundInclude: parseCidrSelection('istioServiceCidr', raw.istioServiceCidr ?? ''),
    outboundExclude: parseCidrList('istioServiceExcludeCidr', raw.istioServiceExcludeCidr ?? ''),
    inboundInclude: parsePortSelection('istioInboundPorts', raw.istioInboundPorts ?? ''),
    inboundExcludePorts: parsePortList('istioLocalExcludePorts', raw.istioLocalExcludePorts ?? ''),
    outboundExcludePorts: parsePortList('istioLocalOutboundPortsExclude', raw.istioLocalOutboundPortsExclude ?? ''),
    outboundIncludePorts: parsePortList('istioOutboundPorts', raw.istioOutboundPorts ?? ''),
    excludeInterfaces: parseInterfaceList('istioExcludeInterfaces', raw.istioExcludeInterfaces ?? ''),
    virtualInterfaces: parseInterfaceList('kubeVirtInterfaces', raw.kubeVirtInterfaces ?? ''),
    dns: redirectDns ? { enabled: true, port: dnsPort } : { enabled: false },
  };

  const iptablesMode: IptablesMode = parseEnum('iptablesMode', raw.iptablesMode ?? 'auto', ['auto', 'legacy', 'nft']);
  const ipv6: Ipv6Mode = parseEnum('ipv6', raw.ipv6 ?? 'auto', ['auto', 'on', 'off']);
  const logFormat: LogFormat = parseEnum('logFormat', raw.logFormat ?? 'text', ['text', 'json']);
  const netns = raw.netns === undefined ? undefined : parseNetns(raw.netns, env.exists);

  const cleanup = raw.cleanup === true || raw.cleanupOnly === true;
  const runValidation = raw.runValidation === true;
  if (cleanup && runValidation) {
    fail('runValidation', 'true', 'cannot be combined with --cleanup (there would be no rules to validate)');
  }

  return {
    redirect,
    action: cleanup ? 'cleanup' : 'apply',
    dryRun: raw.dryRun === true,
    skipRuleApply: raw.skipRuleApply === true,
    runValidation,
    validation: {
      probePort: parsePort('iptablesProbePort', raw.iptablesProbePort ?? String(DEFAULTS.probePort)),
      timeoutMs: parseDuration('probeTimeout', raw.probeTimeout ?? DEFAULTS.probeTimeout),
    },
    iptablesMode,
    ipv6,
    netns,
    lock: {
      // iptables -w takes whole seconds; 600 s is the longest wait worth blocking a pod for.
      waitSeconds: parseInteger('lockWait', raw.lockWait ?? String(DEFAULTS.lockWaitSeconds), 1, 600, 'seconds'),
      // Each retry already waited --lock-wait; 20 bounds the worst case to minutes, not hours.
      retries: parseInteger('lockRetries', raw.lockRetries ?? String(DEFAULTS.lockRetries), 0, 20, 'retries'),
      retryDelayMs: parseInteger('lockRetryDelay', raw.lockRetryDelay ?? String(DEFAULTS.lockRetryDelayMs), 0, 60000, 'milliseconds'),
    },
    logFormat,
  };
}
