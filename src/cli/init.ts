import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { ApplyError, describeError, errorMessage, SidingError } from '../errors/index.js';
import { DEFAULTS } from '../redirect/config.js';
import { ENV_VARS } from '../redirect/environment.js';
import type { FlagKey, RawInitFlags } from '../redirect/flags.js';
import { lookPath, readFileOrUndefined } from '../redirect/host.js';
import { runInit } from '../redirect/init.js';
import type { InitDeps } from '../redirect/init.js';
import { createLogger } from '../redirect/log.js';
import { parseInitFlags } from '../redirect/options.js';
import { SpawnRunner } from '../redirect/runner.js';
import { exitCodeFor } from './exit.js';

/** What the init command needs from the outside world; tests replace parts of it. */
export interface InitCliDeps extends Omit<InitDeps, 'log'> {
  /** Standard error and standard output, for the log (--log_target). */
  readonly err: (text: string) => void;
  readonly exists: (path: string) => boolean;
  /** The environment istio-iptables' variables are read from. */
  readonly environment: Readonly<Record<string, string | undefined>>;
}

/** A directory of this run's own holding the xtables lock file (--cni-mode). */
function privateLockFile(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'siding-xtables-'));
  return { path: join(dir, 'xtables.lock'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function defaultInitCliDeps(): InitCliDeps {
  return {
    runner: new SpawnRunner(),
    lookPath: (name) => lookPath(name),
    readFile: readFileOrUndefined,
    sleep: (ms) => delay(ms),
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    exists: existsSync,
    environment: process.env,
    privateLockFile,
  };
}

const HELP_AFTER = `
Every value is checked before iptables is touched; a bad value exits 2 naming the flag.
Exit codes: 0 done, 1 iptables failed, 2 bad flags, 126 --run-validation found no redirect.
Flags not given are read from istio-iptables' environment variables, named in brackets.
Boolean flags also take a value: --redirect-dns=false.
istio-iptables command lines work unchanged, e.g. the one Istio's injector writes:
  siding init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020
See docs/init.md for the rules each flag produces and every difference from istio-iptables.`;

const ENV_OF = new Map<FlagKey, readonly string[]>(ENV_VARS.map((v) => [v.key, v.names]));

/** A description with the environment variables that set the flag, as --help shows them. */
function d(key: FlagKey, text: string): string {
  const names = ENV_OF.get(key);
  return names === undefined ? text : `${text} [${names.map((n) => `$${n}`).join(', ')}]`;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** `siding init`: parse flags into InitOptions (exit 2 on a bad value), then runInit. */
export function registerInit(program: Command, overrides: Partial<InitCliDeps> = {}): void {
  program
    .command('init')
    .description('Program a pod network namespace so its traffic goes through the proxy (a drop-in for istio-iptables)')
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
    .option('--log_stacktrace_level <levels>', 'accepted for istio-iptables; siding logs no stack traces')
    .addHelpText('after', HELP_AFTER)
    .action(async (raw: RawInitFlags) => {
      const deps = { ...defaultInitCliDeps(), ...overrides };
      const opts = parseInitFlags(raw, { exists: deps.exists, readFile: deps.readFile, environment: deps.environment });
      const write = opts.log.target === 'stdout' ? deps.out : deps.err;
      const log = createLogger(opts.log.format, write, undefined, opts.log.level);
      try {
        await runInit(opts, { ...deps, log });
      } catch (e) {
        if (opts.log.format !== 'json') throw e;
        // JSON lines only: the error is one record, with everything needed to act on it.
        log.error(errorFields(e), errorMessage(e));
        process.exitCode = exitCodeFor(e);
      }
    });
}

/** The fields of an error's JSON log record: for iptables failures the whole payload too. */
export function errorFields(e: unknown): Record<string, unknown> {
  if (e instanceof ApplyError) {
    return {
      code: e.code,
      command: e.command,
      program_exit_code: e.exitCode,
      stderr: e.stderr,
      failed_line: e.failedLine,
      payload: e.payload,
    };
  }
  if (e instanceof SidingError) return { code: e.code };
  return { stack: describeError(e) };
}
