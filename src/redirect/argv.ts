/**
 * `siding init`'s command line: the one table of its options (commander spellings, help
 * text) and `parseInitArgv`, which turns an argument list into `InitOptions` through the
 * same table and the same parser (`parseInitFlags`) as the command itself. The CNI agent
 * reads a pod's redirect flags with it, so a pod gets the same rules from the agent as
 * from `siding init`.
 */
import { Command, CommanderError } from 'commander';
import { DEFAULTS } from './config.js';
import type { InitOptions } from './config.js';
import { parseInitFlags } from './flags.js';
import type { ParseEnv, RawInitFlags } from './flags.js';
import { InitFlagError } from '../errors/index.js';

/** [commander flags, help]: every option of `siding init`, in --help order. */
export const INIT_OPTIONS: readonly (readonly [string, string])[] = [
  ['-p, --envoy-port <port>', `outbound proxy port: outbound TCP is redirected here (default ${DEFAULTS.proxyPort})`],
  ['-z, --inbound-capture-port <port>', `inbound capture port: inbound TCP is redirected here (default ${DEFAULTS.inboundPort})`],
  ['-u, --proxy-uid <uids>', `comma-separated UIDs whose traffic is never captured (default ${DEFAULTS.proxyUid})`],
  ['-g, --proxy-gid <gids>', 'comma-separated GIDs whose traffic is never captured (default: the -u list)'],
  ['-m, --istio-inbound-interception-mode <mode>', 'REDIRECT (TPROXY is not implemented yet) (default REDIRECT)'],
  ['-i, --istio-service-cidr <cidrs>', "outbound CIDRs to capture: '*' all, '' none, or a comma-separated list (default '')"],
  ['-x, --istio-service-exclude-cidr <cidrs>', "outbound CIDRs never captured (default '')"],
  ['-b, --istio-inbound-ports <ports>', "inbound ports to capture: '*' all, '' none, or a list; ranges as 8000-8100 (default '')"],
  ['-d, --istio-local-exclude-ports <ports>', "inbound ports not captured when -b is '*' (default '')"],
  ['-o, --istio-local-outbound-ports-exclude <ports>', "outbound ports never captured (default '')"],
  ['-q, --istio-outbound-ports <ports>', "outbound ports always captured, whatever -i and -x say (default '')"],
  ['-c, --istio-exclude-interfaces <ifaces>', "interfaces whose traffic is never captured (default '')"],
  ['-k, --kube-virt-interfaces <ifaces>', "interfaces whose inbound traffic is treated as outbound (default '')"],
  ['--inbound-tunnel-port <port>', `the proxy's tunnel port, never captured inbound (default ${DEFAULTS.tunnelPort})`],
  ['-n, --dry-run', 'print the iptables-restore payload(s) and touch nothing'],
  ['--redirect-dns', 'also capture DNS (UDP and TCP port 53) to --dns-port, with conntrack zones'],
  ['--dns-port <port>', `where captured DNS goes (default ${DEFAULTS.dnsPort})`],
  ['--run-validation', 'after applying, check that an outbound connection really is redirected; exit 126 if not'],
  ['--skip-rule-apply', 'do not apply rules (with --run-validation: only validate, e.g. rules applied by a CNI plugin)'],
  ['--iptables-probe-port <port>', `destination port of the validation connection (default ${DEFAULTS.probePort})`],
  ['--probe-timeout <duration>', `how long the validation connection may take, e.g. 5s or 500ms (default ${DEFAULTS.probeTimeout})`],
  ['--cleanup', "remove exactly siding's chains and rules, and nothing else"],
  ['--cleanup-only', 'alias of --cleanup (istio-iptables spelling)'],
  ['--iptables-mode <mode>', 'auto, legacy or nft (default auto: a backend already holding rules, else nft if it works, else legacy)'],
  ['--ipv6 <mode>', 'auto (when the namespace has a global IPv6 address), on or off (default auto)'],
  ['--netns <path>', 'program this network namespace (e.g. /var/run/netns/NAME or /proc/PID/ns/net) instead of the current one'],
  ['--lock-wait <seconds>', `how long iptables-restore waits for the xtables lock (default ${DEFAULTS.lockWaitSeconds})`],
  ['--lock-retries <count>', `further attempts while the xtables lock stays held (default ${DEFAULTS.lockRetries})`],
  ['--lock-retry-delay <ms>', `pause between those attempts in milliseconds (default ${DEFAULTS.lockRetryDelayMs})`],
  ['--log-format <format>', 'text or json, on stderr (default text)'],
];

/** Adds every `siding init` option to a command. */
export function addInitOptions(cmd: Command): Command {
  for (const [flags, help] of INIT_OPTIONS) cmd.option(flags, help);
  return cmd;
}

/** Which raw flags (commander's names) an argument list set, and their values. */
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
