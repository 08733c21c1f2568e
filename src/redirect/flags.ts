/**
 * The grammar of `siding init` flag values (ports, port lists, CIDRs, users and groups,
 * interfaces, durations, booleans), the raw flag record commander fills, and the names
 * flags have in messages. Each parser returns a typed value or throws an `InitFlagError`
 * naming the flag and the value. options.ts assembles them into `InitOptions`.
 */
import ipaddr from 'ipaddr.js';
import { InitFlagError } from '../errors/index.js';
import type { Cidr, CidrSelection, Family, OwnerId, PortRange, PortSelection } from './config.js';

/** A boolean flag as commander hands it over: `true` when given bare, the text of `--flag=value`. */
export type BoolFlag = boolean | string;

/** Flag values as commander hands them over (attribute names are commander's camelCase). */
export interface RawInitFlags {
  envoyPort?: string;
  inboundCapturePort?: string;
  inboundTunnelPort?: string;
  proxyUid?: string;
  proxyGid?: string;
  istioInboundInterceptionMode?: string;
  istioInboundTproxyMark?: string;
  istioInboundTproxyRouteTable?: string;
  istioServiceCidr?: string;
  istioServiceExcludeCidr?: string;
  istioInboundPorts?: string;
  istioLocalExcludePorts?: string;
  istioLocalOutboundPortsExclude?: string;
  istioOutboundPorts?: string;
  istioExcludeInterfaces?: string;
  kubeVirtInterfaces?: string;
  dryRun?: BoolFlag;
  redirectDns?: BoolFlag;
  captureAllDns?: BoolFlag;
  dualStack?: BoolFlag;
  dropInvalid?: BoolFlag;
  runValidation?: BoolFlag;
  skipRuleApply?: BoolFlag;
  iptablesProbePort?: string;
  probeTimeout?: string;
  cleanup?: BoolFlag;
  cleanupOnly?: BoolFlag;
  reconcile?: BoolFlag;
  forceApply?: BoolFlag;
  cniMode?: BoolFlag;
  nativeNftables?: BoolFlag;
  forceIptablesBinary?: string;
  networkNamespace?: string;
  iptablesMode?: string;
  ipv6?: string;
  dnsPort?: string;
  netns?: string;
  lockWait?: string;
  lockRetries?: string;
  lockRetryDelay?: string;
  logFormat?: string;
  // istio's logging flags keep their underscores (commander only camel-cases dashes).
  log_as_json?: BoolFlag;
  log_output_level?: string;
  log_stacktrace_level?: string;
  log_caller?: string;
  log_target?: string[];
}

/** How each flag is named in messages: short and long, as --help shows them. */
export const FLAG_NAMES = {
  envoyPort: '-p/--envoy-port',
  inboundCapturePort: '-z/--inbound-capture-port',
  inboundTunnelPort: '-e/--inbound-tunnel-port',
  proxyUid: '-u/--proxy-uid',
  proxyGid: '-g/--proxy-gid',
  istioInboundInterceptionMode: '-m/--istio-inbound-interception-mode',
  istioInboundTproxyMark: '-t/--istio-inbound-tproxy-mark',
  istioInboundTproxyRouteTable: '-r/--istio-inbound-tproxy-route-table',
  istioServiceCidr: '-i/--istio-service-cidr',
  istioServiceExcludeCidr: '-x/--istio-service-exclude-cidr',
  istioInboundPorts: '-b/--istio-inbound-ports',
  istioLocalExcludePorts: '-d/--istio-local-exclude-ports',
  istioLocalOutboundPortsExclude: '-o/--istio-local-outbound-ports-exclude',
  istioOutboundPorts: '-q/--istio-outbound-ports',
  istioExcludeInterfaces: '-c/--istio-exclude-interfaces',
  kubeVirtInterfaces: '-k/--kube-virt-interfaces',
  dryRun: '-n/--dry-run',
  redirectDns: '--redirect-dns',
  captureAllDns: '--capture-all-dns',
  dualStack: '--dual-stack',
  dropInvalid: '--drop-invalid',
  runValidation: '--run-validation',
  skipRuleApply: '--skip-rule-apply',
  iptablesProbePort: '--iptables-probe-port',
  probeTimeout: '--probe-timeout',
  cleanup: '--cleanup',
  cleanupOnly: '--cleanup-only',
  reconcile: '--reconcile',
  forceApply: '--force-apply',
  cniMode: '--cni-mode',
  nativeNftables: '--native-nftables',
  forceIptablesBinary: '--force-iptables-binary',
  networkNamespace: '--network-namespace',
  iptablesMode: '--iptables-mode',
  ipv6: '--ipv6',
  dnsPort: '--dns-port',
  netns: '--netns',
  lockWait: '--lock-wait',
  lockRetries: '--lock-retries',
  lockRetryDelay: '--lock-retry-delay',
  logFormat: '--log-format',
  log_as_json: '--log_as_json',
  log_output_level: '--log_output_level',
  log_stacktrace_level: '--log_stacktrace_level',
  log_caller: '--log_caller',
  log_target: '--log_target',
} as const satisfies Record<keyof RawInitFlags, string>;

export type FlagKey = keyof typeof FLAG_NAMES;

export function fail(flag: FlagKey, value: string, reason: string): never {
  throw new InitFlagError(FLAG_NAMES[flag], value, reason);
}

// Longest value any list flag may carry. Istio's annotations feed these flags; 64 KiB is
// far beyond any real list (about 4,000 CIDRs) and keeps a hostile value from costing much.
const MAX_FLAG_LENGTH = 65536;

/**
 * Splits a comma-separated list. Items are trimmed and empty items are dropped, as
 * istio-iptables does (`15020,15021,` is its own test input): an empty string is an empty list.
 */
function splitList(flag: FlagKey, value: string): string[] {
  if (value.length > MAX_FLAG_LENGTH) fail(flag, `${value.slice(0, 40)}...`, `longer than ${MAX_FLAG_LENGTH} characters`);
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
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

/**
 * Parses an IPv6 address. An address ending in a dotted quad (`::127.0.0.53`, `64:ff9b::1.2.3.4`)
 * has it rewritten to two hex groups first: ipaddr.js would read every such address as
 * IPv4-mapped (`::ffff:127.0.0.53`), which names another address.
 */
export function parseIpv6(text: string): ipaddr.IPv6 {
  const colon = text.lastIndexOf(':');
  const tail = text.slice(colon + 1);
  if (!tail.includes('.') || !ipaddr.IPv4.isValidFourPartDecimal(tail)) return ipaddr.IPv6.parse(text);
  const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(tail).octets;
  return ipaddr.IPv6.parse(`${text.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`);
}

/**
 * An IPv4 or IPv6 CIDR, or a bare address (a /32 or /128). Host bits are cleared.
 * `loopback` says whether the address as written is a loopback address.
 */
function parseCidrItem(flag: FlagKey, item: string, whole: string): { cidr: Cidr; loopback: boolean } {
  const slash = item.indexOf('/');
  const addr = slash === -1 ? item : item.slice(0, slash);
  const prefixText = slash === -1 ? undefined : item.slice(slash + 1);
  let family: Family;
  if (ipaddr.IPv4.isValidFourPartDecimal(addr)) {
    family = 'ipv4';
  } else if (addr.includes(':') && !addr.includes('%') && ipaddr.IPv6.isValid(addr)) {
    family = 'ipv6';
    if (parseIpv6(addr).isIPv4MappedAddress()) {
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
  const parsed = family === 'ipv4' ? ipaddr.IPv4.parse(addr) : parseIpv6(addr);
  const network =
    family === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${prefix}`).toString()
      : ipaddr.IPv6.networkAddressFromCIDR(`${(parsed as ipaddr.IPv6).toNormalizedString()}/${prefix}`).toRFC5952String();
  return { cidr: { family, address: network, prefix }, loopback: parsed.range() === 'loopback' };
}

function parseCidrItems(flag: FlagKey, value: string): { cidr: Cidr; loopback: boolean }[] {
  const items = splitList(flag, value).map((item) => parseCidrItem(flag, item, value));
  return dedupe(items, (c) => `${c.cidr.address}/${c.cidr.prefix}`);
}

export function parseCidrList(flag: FlagKey, value: string): Cidr[] {
  return parseCidrItems(flag, value).map((c) => c.cidr);
}

/** `*` means every destination; otherwise a CIDR list (empty: none). */
export function parseCidrSelection(flag: FlagKey, value: string): CidrSelection {
  if (value.trim() === '*') return { kind: 'all' };
  const items = parseCidrItems(flag, value);
  return { kind: 'list', cidrs: items.map((c) => c.cidr), hasLoopback: items.some((c) => c.loopback) };
}

// 2^32 - 1 is (uid_t)-1, "no user", in the kernel; the largest real ID is one less.
const MAX_ID = 4294967294;
const ID_ITEM = /^([0-9]{1,10})(?:-([0-9]{1,10}))?$/;
// A user or group name as useradd accepts it (and iptables' owner match looks up): letters,
// digits, '_', '.', '-', not starting with a digit, '.' or '-', at most 32 characters.
const OWNER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

/** One user or group: a numeric ID, an ID range `1000-2000`, or a name. */
function parseOwnerItem(flag: FlagKey, item: string, whole: string): OwnerId {
  const m = ID_ITEM.exec(item);
  if (m !== null) {
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > MAX_ID || to > MAX_ID) fail(flag, whole, `'${item}' is above the largest ID, ${MAX_ID}`);
    if (to < from) fail(flag, whole, `in '${item}' the upper bound is below the lower bound`);
    return from === to ? String(from) : `${from}-${to}`;
  }
  if (!OWNER_NAME.test(item)) {
    fail(flag, whole, `'${item}' is not a numeric ID, an ID range (1000-2000) or a user or group name`);
  }
  return item;
}

/** A comma-separated list of users or groups (IDs, ID ranges or names). */
export function parseOwnerList(flag: FlagKey, value: string): OwnerId[] {
  return dedupe(
    splitList(flag, value).map((item) => parseOwnerItem(flag, item, value)),
    (s) => s,
  );
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

export function parseEnum<T extends string>(flag: FlagKey, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) fail(flag, value, `must be one of ${allowed.join(', ')}`);
  return found;
}

export function parseInteger(flag: FlagKey, value: string, min: number, max: number, unit: string): number {
  if (!/^[0-9]{1,10}$/.test(value.trim())) fail(flag, value, `must be a whole number of ${unit} between ${min} and ${max}`);
  const n = Number(value.trim());
  if (n < min || n > max) fail(flag, value, `must be a whole number of ${unit} between ${min} and ${max}`);
  return n;
}

/** A boolean as istio-iptables (Go's strconv.ParseBool) reads it; bare flags are `true`. */
export function parseBool(flag: FlagKey, value: BoolFlag | undefined): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return fail(flag, value, 'must be true or false (or 1, 0, t, f, TRUE, FALSE, True, False)');
}

// The validation connection either lands on the listener almost at once or not at all. 1 ms
// is the shortest timer worth arming; an hour is far past any init container's patience.
const MIN_PROBE_MS = 1;
const MAX_PROBE_MS = 3_600_000;
const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as Go writes it (istio's --probe-timeout): `5s`, `500ms`, `1m30s`, `1.5s`; a
 * bare number is seconds (siding's own shorthand). One pass over the text, no backtracking.
 */
export function parseDuration(flag: FlagKey, value: string): number {
  const text = value.trim();
  const bad = (): never => fail(flag, value, "must be a duration such as '5s', '500ms' or '1m30s'");
  if (text.length === 0 || text.length > 64) bad();
  if (/^[0-9]{1,6}$/.test(text)) return checkProbeMs(flag, value, Number(text) * 1000);
  let ms = 0;
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && (isDigit(text[i]) || text[i] === '.')) i++;
    const number = text.slice(start, i);
    if (!/^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(number)) bad();
    const unitStart = i;
    while (i < text.length && !isDigit(text[i]) && text[i] !== '.') i++;
    const factor = DURATION_UNITS[text.slice(unitStart, i)];
    if (factor === undefined) bad();
    ms += Number(number) * (factor as number);
  }
  return checkProbeMs(flag, value, ms);
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function checkProbeMs(flag: FlagKey, value: string, ms: number): number {
  if (!(ms >= MIN_PROBE_MS && ms <= MAX_PROBE_MS)) fail(flag, value, `must be between ${MIN_PROBE_MS}ms and 1h`);
  return Math.round(ms);
}

/** Checks a --netns value: an absolute path to an existing namespace file. */
export function parseNetns(flag: FlagKey, value: string, exists: (path: string) => boolean): string {
  if (!value.startsWith('/') || value.includes('\0') || value.length > 4096) {
    fail(flag, value, 'must be an absolute path such as /var/run/netns/NAME or /proc/PID/ns/net');
  }
  if (!exists(value)) fail(flag, value, 'no such file');
  return value;
}
