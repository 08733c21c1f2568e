/**
 * `siding init`'s command line: the one table of its options (commander spellings, help,
 * the istio-iptables environment variables each reads) and `readInitArgv`/`parseInitArgv`,
 * which turn an argument list into raw flags and `InitOptions` through that same table and
 * the same parser (`parseInitFlags`) as the command. The CNI agent reads a pod's redirect
 * flags with them, so a pod gets the same rules from the agent as from `siding init`.
 */
import { Command, CommanderError } from 'commander';
import { DEFAULTS } from './config.js';
import type { InitOptions } from './config.js';
import { ENV_VARS } from './environment.js';
import type { FlagKey, RawInitFlags } from './flags.js';
import { parseInitFlags, type ParseEnv } from './options.js';
import { InitFlagError } from '../errors/index.js';

const ENV_OF = new Map<FlagKey, readonly string[]>(ENV_VARS.map((v) => [v.key, v.names]));

/** A description with the environment variables that set the flag, as --help shows them. */
function d(key: FlagKey, text: string): string {
  const names = ENV_OF.get(key);
  return names === undefined ? text : `${text} [${names.map((n) => `$${n}`).join(', ')}]`;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Adds every `siding init` option to a command. */
export function addInitOptions(cmd: Command): Command {
  return cmd
    .option('-p, --envoy-port <port>', `outbound proxy port: outbound TCP is redirected here (default ${DEFAULTS.proxyPort})`)
    .option('-z, --inbound-capture-port <port>', d('inboundCapturePort', `inbound capture port: inbound TCP is redirected here (default ${DEFAULTS.inboundPort})`))
    .option('-e, --inbound-tunnel-port <port>', d('inboundTunnelPort', `the proxy's tunnel port, never captured inbound (default ${DEFAULTS.tunnelPort})`))
    .option('-u, --proxy-uid <uids>', d('proxyUid', "users whose traffic is never captured (default: ENVOY_USER's UID, else 1337)"))
    .option('-g, --proxy-gid <gids>', d('proxyGid', 'groups whose traffic is never captured (default: the -u list)'))
    .option('-m, --istio-inbound-interception-mode <mode>', d('istioInboundInterceptionMode', 'REDIRECT (TPROXY is refused) (default REDIRECT)'))
    .option('-t, --istio-inbound-tproxy-mark <mark>', d('istioInboundTproxyMark', `TPROXY only; checked, unused (default ${DEFAULTS.tproxyMark})`))
    .option('-r, --istio-inbound-tproxy-route-table <table>', d('istioInboundTproxyRouteTable', `TPROXY only; checked, unused (default ${DEFAULTS.tproxyRouteTable})`))
    .option('-i, --istio-service-cidr <cidrs>', d('istioServiceCidr', "outbound CIDRs to capture: '*' all, '' none, or a list (default '')"))
    .option('-x, --istio-service-exclude-cidr <cidrs>', d('istioServiceExcludeCidr', "outbound CIDRs never captured (default '')"))
    .option('-b, --istio-inbound-ports <ports>', d('istioInboundPorts', "inbound ports to capture: '*' all, '' none, or a list; ranges as 8000-8100 (default '')"))
    .option('-d, --istio-local-exclude-ports <ports>', d('istioLocalExcludePorts', "inbound ports not captured when -b is '*' (default '')"))
    .option('-o, --istio-local-outbound-ports-exclude <ports>', d('istioLocalOutboundPortsExclude', "outbound ports never captured, TCP and UDP (default '')"))
    .option('-q, --istio-outbound-ports <ports>', d('istioOutboundPorts', "outbound TCP ports captured even where -i would not; -x and -o still win (default '')"))
    .option('-c, --istio-exclude-interfaces <ifaces>', d('istioExcludeInterfaces', "interfaces whose traffic is never captured (default '')"))
    .option('-k, --kube-virt-interfaces <ifaces>', d('kubeVirtInterfaces', "interfaces whose inbound TCP is treated as outbound, per -i (default '')"))
    .option('-n, --dry-run [bool]', d('dryRun', 'print the iptables-restore payload(s) and touch nothing'))
    .option('--redirect-dns [bool]', d('redirectDns', "capture DNS to /etc/resolv.conf's nameservers (UDP and TCP port 53) to --dns-port"))
    .option('--capture-all-dns [bool]', d('captureAllDns', 'with --redirect-dns, capture all DNS (port 53), whatever the destination'))
    .option('--dns-port <port>', `where captured DNS goes (default ${DEFAULTS.dnsPort})`)
    .option('--dual-stack [bool]', d('dualStack', 'with --ipv6 auto, program IPv6 whenever the namespace has an IPv6 address'))
    .option('--drop-invalid [bool]', d('dropInvalid', 'drop inbound packets conntrack marks INVALID instead of letting them reset connections'))
    .option('--run-validation [bool]', d('runValidation', 'after applying, check that an outbound connection really is redirected; exit 126 if not'))
    .option('--skip-rule-apply [bool]', d('skipRuleApply', 'do not apply rules (with --run-validation: only validate, e.g. rules applied by a CNI plugin)'))
    .option('--iptables-probe-port <port>', d('iptablesProbePort', `destination port of the validation connection (default ${DEFAULTS.probePort})`))
    .option('--probe-timeout <duration>', d('probeTimeout', `how long the validation connection may take, e.g. 5s, 500ms, 1m (default ${DEFAULTS.probeTimeout})`))
    .option('--cleanup [bool]', "remove exactly siding's chains and rules (and ::6 on lo if siding added it), nothing else")
    .option('--cleanup-only [bool]', d('cleanupOnly', 'alias of --cleanup (istio-iptables spelling)'))
    .option('--reconcile [bool]', d('reconcile', 'accepted; siding always replaces its earlier rules (the same as always reconciling)'))
    .option('--force-apply [bool]', d('forceApply', 'accepted; siding always applies its payload'))
    .option('--cni-mode [bool]', d('cniMode', 'give iptables an xtables lock file of its own instead of the node-wide one'))
    .option('--native-nftables [bool]', d('nativeNftables', 'program nftables; siding does it through iptables-nft (the same as --iptables-mode nft)'))
    .option('--force-iptables-binary <backend>', d('forceIptablesBinary', "legacy or nft: istio's spelling of --iptables-mode"))
    .option('--network-namespace <path>', d('networkNamespace', "istio's spelling of --netns"))
    .option('--iptables-mode <mode>', 'auto, legacy or nft (default auto: a backend already holding rules, else nft if it works, else legacy)')
    .option('--ipv6 <mode>', "auto (as istio-iptables decides, see --dual-stack), on or off (default auto)")
    .option('--netns <path>', 'program this network namespace (e.g. /var/run/netns/NAME or /proc/PID/ns/net) instead of the current one')
    .option('--lock-wait <seconds>', `how long iptables-restore waits for the xtables lock (default ${DEFAULTS.lockWaitSeconds})`)
    .option('--lock-retries <count>', `further attempts while the xtables lock stays held (default ${DEFAULTS.lockRetries})`)
    .option('--lock-retry-delay <ms>', `pause between those attempts in milliseconds (default ${DEFAULTS.lockRetryDelayMs})`)
    .option('--log-format <format>', 'text or json (default text)')
    .option('--log_as_json [bool]', "istio's spelling of --log-format json")
    .option('--log_output_level <levels>', "lowest level logged: LEVEL or SCOPE:LEVEL,... (debug, info, warn, error, fatal, none) (default info)")
    .option('--log_target <target>', 'stderr (default) or stdout; may be repeated', collect)
    .option('--log_caller <scopes>', 'accepted for istio-iptables; siding logs no callers')
    .option('--log_stacktrace_level <levels>', 'accepted for istio-iptables; siding logs no stack traces');
}

/** The raw flags an argument list sets, read through the command's own option table. */
export function readInitArgv(argv: readonly string[]): RawInitFlags {
  const cmd = addInitOptions(new Command('init'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .allowExcessArguments(false);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new InitFlagError('arguments', argv.join(' ').slice(0, 200), e.message.replace(/^error: /, ''));
    throw e;
  }
  return cmd.opts<RawInitFlags>();
}

/** `siding init ARGV` as typed options: the same table and parser as the command. */
export function parseInitArgv(argv: readonly string[], env: ParseEnv): InitOptions {
  return parseInitFlags(readInitArgv(argv), env);
}
