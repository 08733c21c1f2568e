/**
 * The environment variables istio-iptables reads, with its precedence: a flag on the command
 * line wins; else the variable named after the flag (`--istio-service-cidr` reads
 * `ISTIO_SERVICE_CIDR`); for three flags a second variable, read after the first, wins over
 * it (`ISTIO_META_DNS_CAPTURE`, `INVALID_DROP`, `ISTIO_DUAL_STACK`). `-p` has no variable.
 * Four variables have no flag: the owner-group filters, the IPv4 loopback range, ENVOY_USER.
 * siding's own flags (--iptables-mode, --ipv6, ...) read no variable.
 */
import { InitFlagError } from '../errors/index.js';
import type { Cidr, OwnerGroupFilter } from './config.js';
import { DEFAULTS } from './config.js';
import { displayValue, ISTIO_IPTABLES, parseCidrList, type Parsed } from '../grammar/index.js';
import type { FlagKey, RawInitFlags } from './flags.js';
import { parseOwnerList } from './flags.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** Flag → the variables that set it when the flag is not given (a later one wins). */
export const ENV_VARS: readonly { readonly key: FlagKey; readonly names: readonly string[] }[] = [
  { key: 'inboundCapturePort', names: ['INBOUND_CAPTURE_PORT'] },
  { key: 'inboundTunnelPort', names: ['INBOUND_TUNNEL_PORT'] },
  { key: 'proxyUid', names: ['PROXY_UID'] },
  { key: 'proxyGid', names: ['PROXY_GID'] },
  { key: 'istioInboundInterceptionMode', names: ['ISTIO_INBOUND_INTERCEPTION_MODE'] },
  { key: 'istioInboundTproxyMark', names: ['ISTIO_INBOUND_TPROXY_MARK'] },
  { key: 'istioInboundTproxyRouteTable', names: ['ISTIO_INBOUND_TPROXY_ROUTE_TABLE'] },
  { key: 'istioInboundPorts', names: ['ISTIO_INBOUND_PORTS'] },
  { key: 'istioLocalExcludePorts', names: ['ISTIO_LOCAL_EXCLUDE_PORTS'] },
  { key: 'istioExcludeInterfaces', names: ['ISTIO_EXCLUDE_INTERFACES'] },
  { key: 'istioServiceCidr', names: ['ISTIO_SERVICE_CIDR'] },
  { key: 'istioServiceExcludeCidr', names: ['ISTIO_SERVICE_EXCLUDE_CIDR'] },
  { key: 'istioOutboundPorts', names: ['ISTIO_OUTBOUND_PORTS'] },
  { key: 'istioLocalOutboundPortsExclude', names: ['ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE'] },
  { key: 'kubeVirtInterfaces', names: ['KUBE_VIRT_INTERFACES'] },
  { key: 'dryRun', names: ['DRY_RUN'] },
  { key: 'iptablesProbePort', names: ['IPTABLES_PROBE_PORT'] },
  { key: 'probeTimeout', names: ['PROBE_TIMEOUT'] },
  { key: 'skipRuleApply', names: ['SKIP_RULE_APPLY'] },
  { key: 'runValidation', names: ['RUN_VALIDATION'] },
  { key: 'redirectDns', names: ['REDIRECT_DNS', 'ISTIO_META_DNS_CAPTURE'] },
  { key: 'dropInvalid', names: ['DROP_INVALID', 'INVALID_DROP'] },
  { key: 'dualStack', names: ['DUAL_STACK', 'ISTIO_DUAL_STACK'] },
  { key: 'captureAllDns', names: ['CAPTURE_ALL_DNS'] },
  { key: 'networkNamespace', names: ['NETWORK_NAMESPACE'] },
  { key: 'cniMode', names: ['CNI_MODE'] },
  { key: 'reconcile', names: ['RECONCILE'] },
  { key: 'cleanupOnly', names: ['CLEANUP_ONLY'] },
  { key: 'forceApply', names: ['FORCE_APPLY'] },
  { key: 'nativeNftables', names: ['NATIVE_NFTABLES'] },
  { key: 'forceIptablesBinary', names: ['FORCE_IPTABLES_BINARY'] },
];

/** The variables without a flag, with istio-iptables' defaults. */
export const ENV_ONLY = {
  ownerGroups: 'ISTIO_OUTBOUND_OWNER_GROUPS',
  ownerGroupsExclude: 'ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE',
  ipv4Loopback: 'ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR',
  envoyUser: 'ENVOY_USER',
} as const;

/**
 * Fills in the flags not given on the command line from the environment. `source` names the
 * variable each filled-in value came from, for error messages.
 */
export function mergeEnvironment(given: RawInitFlags, environment: Environment): { raw: RawInitFlags; source: Map<FlagKey, string> } {
  const raw: Record<string, unknown> = { ...given };
  const source = new Map<FlagKey, string>();
  for (const { key, names } of ENV_VARS) {
    if (raw[key] !== undefined) continue;
    for (const name of names) {
      const value = environment[name];
      if (value === undefined) continue;
      raw[key] = value;
      source.set(key, name);
    }
  }
  // Only string values were added, each under a key whose flag takes a string.
  const merged: RawInitFlags = raw;
  return { raw: merged, source };
}

/** A variable's parsed value, or InitFlagError naming the variable. */
function fromVariable<T>(name: string, value: string, parsed: Parsed<T>): T {
  if (!parsed.ok) throw new InitFlagError('', value, parsed.reason, displayValue(value), name);
  return parsed.value;
}

// Every included group becomes one `! --gid-owner` match of a single rule; istio-iptables
// limits the list to 64 because kernels accept only so many matches in one rule.
const MAX_OWNER_GROUPS_INCLUDE = 64;

/**
 * ISTIO_OUTBOUND_OWNER_GROUPS (default `*`, every group) and, when it is `*`,
 * ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE. Set and empty, the include list captures no group.
 */
export function parseOwnerGroups(environment: Environment): OwnerGroupFilter {
  const include = environment[ENV_ONLY.ownerGroups] ?? '*';
  if (include.trim() === '*') {
    const exclude = environment[ENV_ONLY.ownerGroupsExclude] ?? '';
    return { kind: 'all-except', groups: fromVariable(ENV_ONLY.ownerGroupsExclude, exclude, parseOwnerList(exclude)) };
  }
  const groups = fromVariable(ENV_ONLY.ownerGroups, include, parseOwnerList(include));
  if (groups.length > MAX_OWNER_GROUPS_INCLUDE) {
    throw new InitFlagError('', include, `lists ${groups.length} groups; at most ${MAX_OWNER_GROUPS_INCLUDE}`, displayValue(include), ENV_ONLY.ownerGroups);
  }
  return { kind: 'only', groups };
}

/** ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: an IPv4 loopback range with a prefix of 8 to 32. */
export function parseIpv4Loopback(environment: Environment): Cidr {
  const text = environment[ENV_ONLY.ipv4Loopback] ?? DEFAULTS.ipv4Loopback;
  const cidrs = fromVariable(ENV_ONLY.ipv4Loopback, text, parseCidrList(text, ISTIO_IPTABLES));
  const cidr = cidrs[0];
  const bad = (reason: string): never => {
    throw new InitFlagError('', text, reason, displayValue(text), ENV_ONLY.ipv4Loopback);
  };
  if (cidr === undefined || cidrs.length !== 1) return bad('must be one IPv4 loopback CIDR such as 127.0.0.1/32');
  if (cidr.family !== 'ipv4' || !cidr.address.startsWith('127.')) return bad('must be an IPv4 loopback range (127.0.0.0/8 or inside it)');
  if (cidr.prefix < 8) return bad('must have a prefix length between 8 and 32');
  return cidr;
}
