/**
 * The one parser for `siding init` flags: raw strings in, a typed `InitOptions` out, or an
 * `InitFlagError` naming the flag and the value. It runs before any program is started, so a
 * bad value never reaches iptables. The istio-iptables flags are read in src/grammar's
 * ISTIO_IPTABLES syntax (what istio-iptables accepts, it accepts); siding's own flags in STRICT.
 */
import { InitFlagError } from '../errors/index.js';
import {
  displayValue,
  ISTIO_IPTABLES,
  parseCidrList,
  parseCidrSelection,
  parseDuration,
  parseIdList,
  parseInterfaceList,
  parsePort,
  parsePortList,
  parsePortSelection,
  parseWholeNumber,
  STRICT,
  type Parsed,
} from '../grammar/index.js';
import type { InitOptions, IptablesMode, Ipv6Mode, LogFormat, RedirectConfig } from './config.js';
import { DEFAULTS } from './config.js';
import { chooseProbeTarget, type ProbeIdentity } from './validate.js';

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
  throw new InitFlagError(FLAG_NAMES[flag], value, reason, displayValue(value));
}

/** The parsed value, or InitFlagError naming the flag. */
function must<T>(flag: FlagKey, value: string, parsed: Parsed<T>): T {
  if (!parsed.ok) fail(flag, value, parsed.reason);
  return parsed.value;
}

/** Every port list of istio-iptables takes ranges, in its spelling. */
const PORTS = { syntax: ISTIO_IPTABLES, ranges: true } as const;

function parseEnum<T extends string>(flag: FlagKey, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) fail(flag, value, `must be one of ${allowed.join(', ')}`);
  return found;
}

// The validation connection either lands on the listener almost at once or not at all;
// 100 ms is the shortest timeout that is not a race on a loaded node, 60 s the longest an
// init container should sit on a failure.
const PROBE_TIMEOUT = { minMs: 100, maxMs: 60_000 } as const;

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
  /**
   * Who will make --run-validation's test connection (this process, also with --netns);
   * as the proxy's own UID/GID the probe takes another path (validate.ts). Default: root.
   */
  identity?: ProbeIdentity;
}

const port = (flag: FlagKey, value: string): number => must(flag, value, parsePort(value, ISTIO_IPTABLES));

/**
 * Turns raw flag values into `InitOptions`. Throws `InitFlagError` (exit 2) on the first bad
 * value; when it returns, every value is valid, the options work together (with
 * --run-validation there is a destination to validate) and no program has been run.
 */
export function parseInitFlags(raw: RawInitFlags, env: ParseEnv): InitOptions {
  const mode = raw.istioInboundInterceptionMode ?? DEFAULTS.mode;
  if (mode === 'TPROXY') {
    fail('istioInboundInterceptionMode', mode, 'TPROXY interception is not implemented by siding yet; use REDIRECT');
  }
  parseEnum('istioInboundInterceptionMode', mode, ['REDIRECT', 'TPROXY']);

  const uidText = raw.proxyUid ?? DEFAULTS.proxyUid;
  const proxyUids = must('proxyUid', uidText, parseIdList(uidText, ISTIO_IPTABLES));
  const proxyGids = raw.proxyGid === undefined ? proxyUids : must('proxyGid', raw.proxyGid, parseIdList(raw.proxyGid, ISTIO_IPTABLES));
  const redirectDns = raw.redirectDns === true;
  const dnsPort = port('dnsPort', raw.dnsPort ?? String(DEFAULTS.dnsPort));
  const list = <T>(flag: FlagKey, value: string | undefined, parse: (text: string) => Parsed<T>): T => must(flag, value ?? '', parse(value ?? ''));

  const redirect: RedirectConfig = {
    proxyPort: port('envoyPort', raw.envoyPort ?? String(DEFAULTS.proxyPort)),
    inboundPort: port('inboundCapturePort', raw.inboundCapturePort ?? String(DEFAULTS.inboundPort)),
    tunnelPort: port('inboundTunnelPort', raw.inboundTunnelPort ?? String(DEFAULTS.tunnelPort)),
    proxyUids,
    proxyGids,
    mode: 'REDIRECT',
    outboundInclude: list('istioServiceCidr', raw.istioServiceCidr, (t) => parseCidrSelection(t, ISTIO_IPTABLES)),
    outboundExclude: list('istioServiceExcludeCidr', raw.istioServiceExcludeCidr, (t) => parseCidrList(t, ISTIO_IPTABLES)),
    inboundInclude: list('istioInboundPorts', raw.istioInboundPorts, (t) => parsePortSelection(t, PORTS)),
    inboundExcludePorts: list('istioLocalExcludePorts', raw.istioLocalExcludePorts, (t) => parsePortList(t, PORTS)),
    outboundExcludePorts: list('istioLocalOutboundPortsExclude', raw.istioLocalOutboundPortsExclude, (t) => parsePortList(t, PORTS)),
    outboundIncludePorts: list('istioOutboundPorts', raw.istioOutboundPorts, (t) => parsePortList(t, PORTS)),
    excludeInterfaces: list('istioExcludeInterfaces', raw.istioExcludeInterfaces, (t) => parseInterfaceList(t, ISTIO_IPTABLES)),
    virtualInterfaces: list('kubeVirtInterfaces', raw.kubeVirtInterfaces, (t) => parseInterfaceList(t, ISTIO_IPTABLES)),
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
  const probePort = port('iptablesProbePort', raw.iptablesProbePort ?? String(DEFAULTS.probePort));
  const timeoutText = raw.probeTimeout ?? DEFAULTS.probeTimeout;
  const timeoutMs = must('probeTimeout', timeoutText, parseDuration(timeoutText, PROBE_TIMEOUT, ISTIO_IPTABLES));
  let target: InitOptions['validation']['target'];
  if (runValidation) {
    const chosen = chooseProbeTarget(redirect, probePort, ['ipv4', 'ipv6'], env.identity);
    if (typeof chosen === 'string') fail('runValidation', 'true', chosen);
    target = chosen;
  }
  const whole = (flag: FlagKey, value: string, min: number, max: number, unit: string): number =>
    must(flag, value, parseWholeNumber(value, { min, max, unit }, STRICT));

  return {
    redirect,
    action: cleanup ? 'cleanup' : 'apply',
    dryRun: raw.dryRun === true,
    skipRuleApply: raw.skipRuleApply === true,
    runValidation,
    validation: { probePort, timeoutMs, target },
    iptablesMode,
    ipv6,
    netns,
    lock: {
      // iptables -w takes whole seconds; 600 s is the longest wait worth blocking a pod for.
      waitSeconds: whole('lockWait', raw.lockWait ?? String(DEFAULTS.lockWaitSeconds), 1, 600, 'seconds'),
      // Each retry already waited --lock-wait; 20 bounds the worst case to minutes, not hours.
      retries: whole('lockRetries', raw.lockRetries ?? String(DEFAULTS.lockRetries), 0, 20, 'retries'),
      retryDelayMs: whole('lockRetryDelay', raw.lockRetryDelay ?? String(DEFAULTS.lockRetryDelayMs), 0, 60000, 'milliseconds'),
    },
    logFormat,
  };
}
