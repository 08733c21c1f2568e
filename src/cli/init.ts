import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { ApplyError, describeError, errorMessage, SidingError } from '../errors/index.js';
import { DEFAULTS } from '../redirect/config.js';
import { parseInitFlags } from '../redirect/flags.js';
import type { RawInitFlags } from '../redirect/flags.js';
import { lookPath, readFileOrUndefined } from '../redirect/host.js';
import { runInit } from '../redirect/init.js';
import type { InitDeps } from '../redirect/init.js';
import { createLogger } from '../redirect/log.js';
import { SpawnRunner } from '../redirect/runner.js';
import { exitCodeFor } from './exit.js';

/** What the init command needs from the outside world; tests replace parts of it. */
export interface InitCliDeps extends Omit<InitDeps, 'log'> {
  /** Standard error, for the log. */
  readonly err: (text: string) => void;
  readonly exists: (path: string) => boolean;
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
  };
}

const HELP_AFTER = `
Every value is checked before iptables is touched; a bad value exits 2 naming the flag.
Exit codes: 0 done, 1 iptables failed, 2 bad flags, 126 --run-validation found no redirect.
istio-iptables command lines work unchanged, e.g. the one Istio's injector writes:
  siding init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020
See docs/init.md for the rules each flag produces.`;

/** `siding init`: parse flags into InitOptions (exit 2 on a bad value), then runInit. */
export function registerInit(program: Command, overrides: Partial<InitCliDeps> = {}): void {
  program
    .command('init')
    .description('Program a pod network namespace so its TCP traffic goes through the proxy (istio-iptables compatible)')
    .option('-p, --envoy-port <port>', `outbound proxy port: outbound TCP is redirected here (default ${DEFAULTS.proxyPort})`)
    .option('-z, --inbound-capture-port <port>', `inbound capture port: inbound TCP is redirected here (default ${DEFAULTS.inboundPort})`)
    .option('-u, --proxy-uid <uids>', `comma-separated UIDs whose traffic is never captured (default ${DEFAULTS.proxyUid})`)
    .option('-g, --proxy-gid <gids>', 'comma-separated GIDs whose traffic is never captured (default: the -u list)')
    .option('-m, --istio-inbound-interception-mode <mode>', 'REDIRECT (TPROXY is not implemented yet) (default REDIRECT)')
    .option('-i, --istio-service-cidr <cidrs>', "outbound CIDRs to capture: '*' all, '' none, or a comma-separated list (default '')")
    .option('-x, --istio-service-exclude-cidr <cidrs>', "outbound CIDRs never captured (default '')")
    .option('-b, --istio-inbound-ports <ports>', "inbound ports to capture: '*' all, '' none, or a list; ranges as 8000-8100 (default '')")
    .option('-d, --istio-local-exclude-ports <ports>', "inbound ports not captured when -b is '*' (default '')")
    .option('-o, --istio-local-outbound-ports-exclude <ports>', "outbound ports never captured (default '')")
    .option('-q, --istio-outbound-ports <ports>', "outbound ports always captured, whatever -i and -x say (default '')")
    .option('-c, --istio-exclude-interfaces <ifaces>', "interfaces whose traffic is never captured (default '')")
    .option('-k, --kube-virt-interfaces <ifaces>', "interfaces whose inbound traffic is treated as outbound (default '')")
    .option('--inbound-tunnel-port <port>', `the proxy's tunnel port, never captured inbound (default ${DEFAULTS.tunnelPort})`)
    .option('-n, --dry-run', 'print the iptables-restore payload(s) and touch nothing')
    .option('--redirect-dns', 'also capture DNS (UDP and TCP port 53) to --dns-port, with conntrack zones')
    .option('--dns-port <port>', `where captured DNS goes (default ${DEFAULTS.dnsPort})`)
    .option('--run-validation', 'after applying, check that an outbound connection really is redirected; exit 126 if not')
    .option('--skip-rule-apply', 'do not apply rules (with --run-validation: only validate, e.g. rules applied by a CNI plugin)')
    .option('--iptables-probe-port <port>', `destination port of the validation connection (default ${DEFAULTS.probePort})`)
    .option('--probe-timeout <duration>', `how long the validation connection may take, e.g. 5s or 500ms (default ${DEFAULTS.probeTimeout})`)
    .option('--cleanup', "remove exactly siding's chains and rules, and nothing else")
    .option('--cleanup-only', 'alias of --cleanup (istio-iptables spelling)')
    .option('--iptables-mode <mode>', 'auto, legacy or nft (default auto: a backend already holding rules, else nft if it works, else legacy)')
    .option('--ipv6 <mode>', 'auto (when the namespace has a global IPv6 address), on or off (default auto)')
    .option('--netns <path>', 'program this network namespace (e.g. /var/run/netns/NAME or /proc/PID/ns/net) instead of the current one')
    .option('--lock-wait <seconds>', `how long iptables-restore waits for the xtables lock (default ${DEFAULTS.lockWaitSeconds})`)
    .option('--lock-retries <count>', `further attempts while the xtables lock stays held (default ${DEFAULTS.lockRetries})`)
    .option('--lock-retry-delay <ms>', `pause between those attempts in milliseconds (default ${DEFAULTS.lockRetryDelayMs})`)
    .option('--log-format <format>', 'text or json, on stderr (default text)')
    .addHelpText('after', HELP_AFTER)
    .action(async (raw: RawInitFlags) => {
      const deps = { ...defaultInitCliDeps(), ...overrides };
      const opts = parseInitFlags(raw, { exists: deps.exists });
      const log = createLogger(opts.logFormat, deps.err);
      try {
        await runInit(opts, { ...deps, log });
      } catch (e) {
        if (opts.logFormat !== 'json') throw e;
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
