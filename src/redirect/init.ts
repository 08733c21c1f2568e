/**
 * `runInit`: what `siding init` does once its flags are parsed. Dry run, cleanup, apply,
 * validation; every dependency (runner, file access, clock, output) is passed in.
 */
import { fileURLToPath } from 'node:url';
import type { Family, InitOptions } from './config.js';
import { cleanupRedirect, applyRedirect } from './apply.js';
import type { ApplyReport, ApplySettings, CleanupReport, RedirectDeps } from './apply.js';
import { NamespaceHost } from './host.js';
import type { InterfaceAddress, LookPath } from './host.js';
import type { Logger } from '../logger.js';
import { buildRules } from './rules.js';
import { render, renderCleanupForRules } from './render.js';
import type { Runner } from './runner.js';
import { remoteProber, validateRedirect } from './validate.js';
import type { Prober } from './validate.js';
import { ApplyError } from '../errors/index.js';

export interface InitDeps {
  readonly runner: Runner;
  readonly lookPath: LookPath;
  readonly readFile: (path: string) => string | undefined;
  readonly sleep: (ms: number) => Promise<void>;
  /** Standard output: the --dry-run payloads. */
  readonly out: (text: string) => void;
  readonly log: Logger;
  /** Validation in the current namespace (default: probeRedirect, in this process). */
  readonly prober?: Prober;
  /** The addresses of siding's own namespace (default: read with getifaddrs). */
  readonly addresses?: () => InterfaceAddress[];
  /** --cni-mode: makes an xtables lock file of this run's own; `remove` deletes it afterwards. */
  readonly privateLockFile?: () => { path: string; remove: () => void };
}

export interface InitReport {
  readonly applied?: ApplyReport;
  readonly cleaned?: CleanupReport;
  readonly validated: boolean;
}

function familyName(f: Family): string {
  return f === 'ipv4' ? 'IPv4' : 'IPv6';
}

/** What --dry-run prints: each family's payload after a comment line naming its program. */
export function dryRunText(opts: InitOptions): string {
  const families: Family[] = opts.ipv6 === 'off' ? ['ipv4'] : ['ipv4', 'ipv6'];
  const parts: string[] = [];
  for (const family of families) {
    const rules = buildRules(opts.redirect, family);
    const program = family === 'ipv4' ? 'iptables-restore' : 'ip6tables-restore';
    const when =
      family === 'ipv6' && opts.ipv6 === 'auto'
        ? opts.dualStack
          ? ' (applied when the namespace has an IPv6 address)'
          : ' (applied when the namespace has IPv6 addresses and no IPv4 one)'
        : '';
    if (opts.action === 'cleanup') {
      parts.push(`# siding init --dry-run: ${familyName(family)} cleanup payload for ${program} --noflush${when}\n${renderCleanupForRules(rules)}`);
    } else {
      parts.push(`# siding init --dry-run: ${familyName(family)} payload for ${program} --noflush${when}\n${render(rules)}`);
    }
  }
  return parts.join('');
}

/**
 * The probe program, run inside the target namespace. Resolved from the directory above
 * this module, so it is found from src/redirect (tsx), dist/redirect (tsc) and
 * dist/chunks (the bundled CLI, see scripts/bundle.sh) alike.
 */
function probeScript(): string {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`../redirect/probe.${ext}`, import.meta.url));
}

/**
 * Runs `siding init` with options from parseInitFlags, which has already checked that they
 * work together. Throws ApplyError (exit 1) when iptables fails, ValidationError (exit 126)
 * when --run-validation finds no redirect.
 */
export async function runInit(opts: InitOptions, deps: InitDeps): Promise<InitReport> {
  const target = opts.validation.target;

  for (const note of opts.notes) deps.log.warn({}, note);
  if (opts.dryRun) {
    deps.out(dryRunText(opts));
    if (opts.runValidation) deps.log.info({}, '--dry-run: validation skipped');
    return { validated: false };
  }

  const host = new NamespaceHost(
    { runner: deps.runner, lookPath: deps.lookPath, readFile: deps.readFile, ...(deps.addresses === undefined ? {} : { addresses: deps.addresses }) },
    opts.netns,
  );
  const redirectDeps: RedirectDeps = { host, log: deps.log, sleep: deps.sleep };
  let lock: { path: string; remove: () => void } | undefined;
  if (opts.privateLock) {
    if (deps.privateLockFile === undefined) throw new ApplyError('--cni-mode needs an xtables lock file of its own, and none can be made here', { command: [] });
    lock = deps.privateLockFile();
  }
  const settings: ApplySettings = { iptablesMode: opts.iptablesMode, ipv6: opts.ipv6, dualStack: opts.dualStack, lock: opts.lock, lockFile: lock?.path };
  try {
    if (opts.action === 'cleanup') {
      return { cleaned: await cleanupRedirect(settings, redirectDeps), validated: false };
    }
    const applied = opts.skipRuleApply ? undefined : await applyRedirect(opts.redirect, settings, redirectDeps);
    if (opts.skipRuleApply) deps.log.info({}, '--skip-rule-apply: no rules applied');
    if (target !== undefined) {
      // Loaded only here: node:net and node:crypto cost every other run time and memory.
      const prober = host.remote ? remoteProber(host, probeScript()) : (deps.prober ?? (await import('./probe-local.js')).probeRedirect);
      await validateRedirect(opts.redirect, target, opts.validation.timeoutMs, prober, deps.log);
    }
    return { ...(applied === undefined ? {} : { applied }), validated: target !== undefined };
  } finally {
    lock?.remove();
  }
}
