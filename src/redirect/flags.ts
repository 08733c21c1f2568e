/**
 * The flags of `siding init`: the raw record commander fills, the names flags have in
 * messages, and the few value kinds of their own (users and groups, the `-i` selection that
 * remembers a loopback address, booleans given bare or with a value, the namespace path).
 * Everything else is read by src/grammar: the istio-iptables flags in its ISTIO_IPTABLES
 * syntax (what istio-iptables accepts, it accepts), siding's own flags in STRICT.
 * options.ts assembles the values into `InitOptions`; a bad one is an `InitFlagError`.
 */
import { InitFlagError } from '../errors/index.js';
import {
  displayValue,
  fail as reason,
  isAll,
  ISTIO_IPTABLES,
  MAX_ID,
  ok,
  parseBoolean,
  parseCidr,
  parseCidrList,
  parseList,
  parseWholeNumber,
  splitList,
  type Parsed,
} from '../grammar/index.js';
import type { CidrSelection, OwnerId } from './config.js';

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

export function fail(flag: FlagKey, value: string, why: string): never {
  throw new InitFlagError(FLAG_NAMES[flag], value, why, displayValue(value));
}

/** The parsed value, or InitFlagError naming the flag. */
export function must<T>(flag: FlagKey, value: string, parsed: Parsed<T>): T {
  if (!parsed.ok) fail(flag, value, parsed.reason);
  return parsed.value;
}

export function parseEnum<T extends string>(flag: FlagKey, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) fail(flag, value, `must be one of ${allowed.join(', ')}`);
  return found;
}

/** A boolean flag: `true` when given bare; with a value, in Go's spellings (istio-iptables' flag library). */
export function parseBool(flag: FlagKey, value: BoolFlag | undefined): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  return must(flag, value, parseBoolean(value, ISTIO_IPTABLES));
}

/**
 * `*` for every destination, empty for none, or a CIDR list, remembering whether an item was
 * written with a loopback address (`127.x.x.x`, `::1`), whatever its prefix: then loopback
 * traffic to the listed ranges is captured too, as istio-iptables decides it.
 */
export function parseOutboundSelection(value: string): Parsed<CidrSelection> {
  if (isAll(value, ISTIO_IPTABLES)) return ok({ kind: 'all' });
  const cidrs = parseCidrList(value, ISTIO_IPTABLES);
  if (!cidrs.ok) return cidrs;
  const items = splitList(value, ISTIO_IPTABLES);
  const hasLoopback =
    items.ok &&
    items.value.some((item) => {
      const address = parseCidr(item.split('/')[0] ?? '', ISTIO_IPTABLES);
      return address.ok && (address.value.family === 'ipv4' ? address.value.address.startsWith('127.') : address.value.address === '::1');
    });
  return ok({ kind: 'list', cidrs: cidrs.value, hasLoopback });
}

// A user or group name as useradd accepts it (and iptables' owner match looks up): letters,
// digits, '_', '.', '-', not starting with a digit, '.' or '-', at most 32 characters.
const OWNER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const ID = { min: 0, max: MAX_ID, unit: 'IDs' } as const;

/** One user or group: a numeric ID, an ID range `1000-2000`, or a name. */
function parseOwner(item: string): Parsed<OwnerId> {
  if (item.length > 32) return reason(`'${displayValue(item)}' is not a numeric ID, an ID range or a user or group name`);
  const dash = item.indexOf('-');
  const first = item.charAt(0);
  if (first >= '0' && first <= '9') {
    const from = parseWholeNumber(dash === -1 ? item : item.slice(0, dash), ID, ISTIO_IPTABLES);
    if (!from.ok) return from;
    if (dash === -1) return ok(String(from.value));
    const to = parseWholeNumber(item.slice(dash + 1), ID, ISTIO_IPTABLES);
    if (!to.ok) return to;
    if (to.value < from.value) return reason(`in '${displayValue(item)}' the upper bound is below the lower bound`);
    return ok(from.value === to.value ? String(from.value) : `${from.value}-${to.value}`);
  }
  if (!OWNER_NAME.test(item)) return reason(`'${displayValue(item)}' is not a numeric ID, an ID range (1000-2000) or a user or group name`);
  return ok(item);
}

/** A comma-separated list of users or groups (IDs, ID ranges or names), as iptables' owner match takes them. */
export function parseOwnerList(value: string): Parsed<OwnerId[]> {
  return parseList(value, ISTIO_IPTABLES, parseOwner, (s) => s);
}

/** Checks a --netns value: an absolute path to an existing namespace file. */
export function parseNetns(flag: FlagKey, value: string, exists: (path: string) => boolean): string {
  if (!value.startsWith('/') || value.includes('\0') || value.length > 4096) {
    fail(flag, value, 'must be an absolute path such as /var/run/netns/NAME or /proc/PID/ns/net');
  }
  if (!exists(value)) fail(flag, value, 'no such file');
  return value;
}
