/**
 * `parseInitFlags`: the one step from raw input to a typed `InitOptions`. Raw input is the
 * command line, then the environment variables istio-iptables reads (environment.ts), then
 * two files of the container siding runs in, read as istio-iptables reads them:
 * /etc/resolv.conf (the nameservers DNS capture is limited to) and /etc/passwd (ENVOY_USER's
 * UID when -u is not given). Throws `InitFlagError` (exit 2) naming the flag or variable;
 * when it returns, every value is valid and no program has been run.
 */
import { InitFlagError } from '../errors/index.js';
import {
  ISTIO_IPTABLES,
  parseCidrList,
  parseDuration,
  parseInterfaceList,
  parsePort,
  parsePortList,
  parsePortSelection,
  parseWholeNumber,
  STRICT,
  type Parsed,
} from '../grammar/index.js';
import type { DnsCapture, InitOptions, IptablesMode, Ipv6Mode, ProbeTarget, RedirectConfig } from './config.js';
import { DEFAULTS } from './config.js';
import { mergeEnvironment, parseIpv4Loopback, parseOwnerGroups } from './environment.js';
import type { BoolFlag, FlagKey, RawInitFlags } from './flags.js';
import { fail, must, parseBool, parseEnum, parseNetns, parseOutboundSelection, parseOwnerList } from './flags.js';
import { parseLogSettings } from './log.js';
import { nameservers, uidOfUser } from './sysfiles.js';
import { chooseProbeTarget } from './validate.js';

/** Every port list of istio-iptables takes ranges, in its spelling. */
const PORTS = { syntax: ISTIO_IPTABLES, ranges: true } as const;

// The validation connection either lands on the listener almost at once or not at all. 1 ms
// is the shortest timer worth arming; an hour is far past any init container's patience, and
// istio-iptables takes any Go duration.
const PROBE_TIMEOUT = { minMs: 1, maxMs: 3_600_000 } as const;

export interface ParseEnv {
  /** Whether a path exists (for --netns). */
  exists: (path: string) => boolean;
  /** Reads a file of the container siding runs in (/etc/resolv.conf, /etc/passwd), or undefined. */
  readFile: (path: string) => string | undefined;
  /** The process environment: istio-iptables' variables fill in flags not given. */
  environment: Readonly<Record<string, string | undefined>>;
}

type Field = <T>(key: FlagKey, parse: () => T) => T;

export function parseInitFlags(given: RawInitFlags, env: ParseEnv): InitOptions {
  const { raw, source } = mergeEnvironment(given, env.environment);
  // A value taken from an environment variable is reported under that variable's name.
  const field: Field = (key, parse) => {
    try {
      return parse();
    } catch (e) {
      const name = source.get(key);
      if (e instanceof InitFlagError && name !== undefined && e.envVar === undefined) throw new InitFlagError(e.flag, e.value, e.reason, e.shown, name);
      throw e;
    }
  };
  const bool = (key: FlagKey): boolean => field(key, () => parseBool(key, raw[key] as BoolFlag | undefined));
  const notes: string[] = [];

  parseMode(raw, field);
  const uidText = raw.proxyUid ?? '';
  // -u empty or absent: the UID of ENVOY_USER (istio-proxy) when that user exists, else 1337.
  const proxyUids = field('proxyUid', () =>
    uidText.trim() === ''
      ? [uidOfUser(env.readFile('/etc/passwd'), env.environment.ENVOY_USER ?? DEFAULTS.envoyUser) ?? DEFAULTS.proxyUid]
      : must('proxyUid', uidText, parseOwnerList(uidText)),
  );
  const gidText = raw.proxyGid ?? '';
  const proxyGids = gidText.trim() === '' ? proxyUids : field('proxyGid', () => must('proxyGid', gidText, parseOwnerList(gidText)));

  const port = (key: FlagKey, value: string): number => field(key, () => must(key, value, parsePort(value, ISTIO_IPTABLES)));
  const list = <T>(key: FlagKey, value: string | undefined, parse: (text: string) => Parsed<T>): T => field(key, () => must(key, value ?? '', parse(value ?? '')));
  const redirect: RedirectConfig = {
    proxyPort: port('envoyPort', raw.envoyPort ?? String(DEFAULTS.proxyPort)),
    inboundPort: port('inboundCapturePort', raw.inboundCapturePort ?? String(DEFAULTS.inboundPort)),
    tunnelPort: port('inboundTunnelPort', raw.inboundTunnelPort ?? String(DEFAULTS.tunnelPort)),
    proxyUids,
    proxyGids,
    mode: 'REDIRECT',
    outboundInclude: list('istioServiceCidr', raw.istioServiceCidr, parseOutboundSelection),
    outboundExclude: list('istioServiceExcludeCidr', raw.istioServiceExcludeCidr, (t) => parseCidrList(t, ISTIO_IPTABLES)),
    inboundInclude: list('istioInboundPorts', raw.istioInboundPorts, (t) => parsePortSelection(t, PORTS)),
    inboundExcludePorts: list('istioLocalExcludePorts', raw.istioLocalExcludePorts, (t) => parsePortList(t, PORTS)),
    outboundExcludePorts: list('istioLocalOutboundPortsExclude', raw.istioLocalOutboundPortsExclude, (t) => parsePortList(t, PORTS)),
    outboundIncludePorts: list('istioOutboundPorts', raw.istioOutboundPorts, (t) => parsePortList(t, PORTS)),
    excludeInterfaces: list('istioExcludeInterfaces', raw.istioExcludeInterfaces, (t) => parseInterfaceList(t, ISTIO_IPTABLES)),
    virtualInterfaces: list('kubeVirtInterfaces', raw.kubeVirtInterfaces, (t) => parseInterfaceList(t, ISTIO_IPTABLES)),
    ownerGroups: parseOwnerGroups(env.environment),
    ipv4Loopback: parseIpv4Loopback(env.environment),
    dns: parseDns(raw, bool, port, field, env, notes),
    dropInvalid: bool('dropInvalid'),
  };

  const iptablesMode = parseBackend(raw, bool('nativeNftables'), field);
  const ipv6: Ipv6Mode = parseEnum('ipv6', raw.ipv6 ?? 'auto', ['auto', 'on', 'off']);
  const netns = parseNamespace(raw, field, env.exists);

  const cleanup = bool('cleanup') || bool('cleanupOnly');
  const runValidation = bool('runValidation');
  if (cleanup && runValidation) {
    field('runValidation', () => fail('runValidation', 'true', 'cannot be combined with --cleanup (there would be no rules to validate)'));
  }
  // Accepted for istio-iptables' command line; siding always converges (docs/init.md).
  bool('reconcile');
  bool('forceApply');

  const probePort = port('iptablesProbePort', raw.iptablesProbePort ?? String(DEFAULTS.probePort));
  const timeoutText = raw.probeTimeout ?? DEFAULTS.probeTimeout;
  const timeoutMs = field('probeTimeout', () => must('probeTimeout', timeoutText, parseDuration(timeoutText, PROBE_TIMEOUT, ISTIO_IPTABLES)));
  let target: ProbeTarget | undefined;
  if (runValidation) {
    const chosen = chooseProbeTarget(redirect, probePort, ['ipv4', 'ipv6']);
    if (typeof chosen === 'string') field('runValidation', () => fail('runValidation', 'true', chosen));
    else target = chosen;
  }
  const whole = (key: FlagKey, value: string, min: number, max: number, unit: string): number =>
    must(key, value, parseWholeNumber(value, { min, max, unit }, STRICT));

  return {
    redirect,
    action: cleanup ? 'cleanup' : 'apply',
    dryRun: bool('dryRun'),
    skipRuleApply: bool('skipRuleApply'),
    runValidation,
    validation: { probePort, timeoutMs, target },
    iptablesMode,
    ipv6,
    dualStack: bool('dualStack'),
    netns,
    lock: {
      // iptables -w takes whole seconds; 600 s is the longest wait worth blocking a pod for.
      waitSeconds: whole('lockWait', raw.lockWait ?? String(DEFAULTS.lockWaitSeconds), 1, 600, 'seconds'),
      // Each retry already waited --lock-wait; 20 bounds the worst case to minutes, not hours.
      retries: whole('lockRetries', raw.lockRetries ?? String(DEFAULTS.lockRetries), 0, 20, 'retries'),
      retryDelayMs: whole('lockRetryDelay', raw.lockRetryDelay ?? String(DEFAULTS.lockRetryDelayMs), 0, 60000, 'milliseconds'),
    },
    privateLock: bool('cniMode'),
    log: parseLogSettings(raw, bool('log_as_json')),
    notes,
  };
}

/** -m: REDIRECT (or empty, which istio-iptables also reads as REDIRECT); TPROXY is refused. */
function parseMode(raw: RawInitFlags, field: Field): void {
  const mode = raw.istioInboundInterceptionMode ?? DEFAULTS.mode;
  field('istioInboundInterceptionMode', () => {
    if (mode === 'TPROXY') {
      fail(
        'istioInboundInterceptionMode',
        mode,
        "TPROXY interception is not supported: siding's proxy cannot accept transparent (IP_TRANSPARENT) connections; use REDIRECT",
      );
    }
    if (mode !== 'REDIRECT' && mode !== '') fail('istioInboundInterceptionMode', mode, 'must be REDIRECT (TPROXY is refused)');
  });
  // Only TPROXY would use the mark and the route table; they are still checked.
  const mark = raw.istioInboundTproxyMark ?? DEFAULTS.tproxyMark;
  field('istioInboundTproxyMark', () => must('istioInboundTproxyMark', mark, parseWholeNumber(mark, { min: 0, max: 4294967295, unit: 'marks' }, ISTIO_IPTABLES)));
  const table = raw.istioInboundTproxyRouteTable ?? DEFAULTS.tproxyRouteTable;
  field('istioInboundTproxyRouteTable', () =>
    must('istioInboundTproxyRouteTable', table, parseWholeNumber(table, { min: 1, max: 4294967295, unit: 'route tables' }, ISTIO_IPTABLES)),
  );
}

/**
 * DNS capture: all port 53 with --capture-all-dns; otherwise only DNS to the nameservers of
 * /etc/resolv.conf, and none (with a note) when it lists none.
 */
function parseDns(
  raw: RawInitFlags,
  bool: (key: FlagKey) => boolean,
  portOf: (key: FlagKey, value: string) => number,
  field: Field,
  env: ParseEnv,
  notes: string[],
): DnsCapture {
  const redirectDns = bool('redirectDns');
  const captureAll = bool('captureAllDns');
  const port = portOf('dnsPort', raw.dnsPort ?? String(DEFAULTS.dnsPort));
  if (!redirectDns) return { kind: 'off' };
  if (captureAll) return { kind: 'all', port };
  const conf = env.readFile('/etc/resolv.conf');
  if (conf === undefined) {
    field('redirectDns', () =>
      fail('redirectDns', 'true', '/etc/resolv.conf cannot be read, and without --capture-all-dns only DNS to its nameservers is captured'),
    );
  }
  const servers = nameservers(conf ?? '');
  if (servers.length === 0) {
    notes.push('--redirect-dns: /etc/resolv.conf lists no nameserver and --capture-all-dns is not set, so DNS is not captured');
    return { kind: 'off' };
  }
  return { kind: 'servers', port, servers };
}

/**
 * The iptables backend: siding's --iptables-mode, istio's --force-iptables-binary, or nft for
 * --native-nftables (siding programs nftables through iptables-nft). Contradictions are errors.
 */
function parseBackend(raw: RawInitFlags, nativeNftables: boolean, field: Field): IptablesMode {
  const mode = raw.iptablesMode === undefined ? undefined : parseEnum('iptablesMode', raw.iptablesMode, ['auto', 'legacy', 'nft'] as const);
  const forced = field('forceIptablesBinary', () => {
    const v = raw.forceIptablesBinary ?? '';
    return v === '' ? undefined : parseEnum('forceIptablesBinary', v, ['legacy', 'nft'] as const);
  });
  if (mode !== undefined && mode !== 'auto' && forced !== undefined && mode !== forced) {
    field('forceIptablesBinary', () => fail('forceIptablesBinary', forced, `contradicts --iptables-mode ${mode}`));
  }
  const chosen = mode === undefined || mode === 'auto' ? (forced ?? (nativeNftables ? 'nft' : mode ?? 'auto')) : mode;
  if (nativeNftables && chosen === 'legacy') {
    field('nativeNftables', () => fail('nativeNftables', 'true', 'contradicts the legacy backend chosen by another flag'));
  }
  return chosen;
}

/** --netns (siding) or --network-namespace (istio-iptables; empty means the current one). */
function parseNamespace(raw: RawInitFlags, field: Field, exists: (path: string) => boolean): string | undefined {
  const other = raw.networkNamespace ?? '';
  if (raw.netns !== undefined) {
    const netns = parseNetns('netns', raw.netns, exists);
    if (other !== '' && other !== netns) field('networkNamespace', () => fail('networkNamespace', other, `names another namespace than --netns ${netns}`));
    return netns;
  }
  return other === '' ? undefined : field('networkNamespace', () => parseNetns('networkNamespace', other, exists));
}
