/**
 * Applying and removing siding's rules: the only code that runs iptables.
 *
 * Programs per run: the saves that detect the backend and show what siding left before
 * (legacy and nft in auto mode for IPv4; legacy skipped when the namespace holds no legacy
 * table), and one `iptables-restore --noflush` with the whole IPv4 payload. When IPv6 is
 * programmed: `ip6tables-save`, `ip -6 addr add ::6/128 dev lo`, `ip6tables-restore`. With
 * --netns and `--ipv6 auto`, reading the namespace's addresses costs one more (`ip addr`).
 */
import type { Family, Ipv6Mode, IptablesMode, LockSettings, RedirectConfig } from './config.js';
import type { Backend, BackendProbe, Tools } from './backend.js';
import { BackendError, detectBackend, findTools, firstLine, likelyMissingModules, missingToolsMessage, NEEDS_NAT_ONLY, probeBackend } from './backend.js';
import type { Needs } from './backend.js';
import type { NamespaceHost } from './host.js';
import type { Logger } from '../logger.js';
import { decideIpv6, addPassthroughAddress, removePassthroughAddress } from './ipv6.js';
import { buildRules, CHAINS } from './rules.js';
import type { Rule } from './rules.js';
import { payloadTables, render, renderCleanup, renderRestore } from './render.js';
import type { Marker } from './render.js';
import { hasSidingState, sidingState } from './save.js';
import type { SidingState } from './save.js';
import { ApplyError, type PayloadLine } from '../errors/index.js';

export interface RedirectDeps {
  readonly host: NamespaceHost;
  readonly log: Logger;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface ApplySettings {
  readonly iptablesMode: IptablesMode;
  readonly ipv6: Ipv6Mode;
  /** --dual-stack (with --ipv6 auto). */
  readonly dualStack: boolean;
  readonly lock: LockSettings;
  /** An xtables lock file of this run's own (--cni-mode), passed to iptables as XTABLES_LOCKFILE. */
  readonly lockFile?: string | undefined;
}

export interface FamilyApplied {
  readonly family: Family;
  readonly backend: Backend;
  readonly restore: string;
  readonly payload: string;
  readonly rules: number;
  /** IPv6: whether siding added ::6/128 to lo in this run. */
  readonly addedPassthroughAddress?: boolean;
}

export interface ApplyReport {
  readonly backend: Backend;
  readonly reason: string;
  readonly families: FamilyApplied[];
}

type FailureKind = 'lock' | 'permission' | 'table-init' | 'other';

/** What kind of failure an iptables program's stderr describes. */
export function classifyFailure(stderr: string): FailureKind {
  if (/xtables lock|Can't lock .*xtables|Another app is currently holding/i.test(stderr)) return 'lock';
  if (/Permission denied|Operation not permitted|you must be root/i.test(stderr)) return 'permission';
  if (
    /unable to initiali[sz]e table|can't initiali[sz]e|Table does not exist|insmod|generation id|Protocol not supported|Address family not supported|Couldn't load (target|match)|No chain\/target\/match by that name|Failed to initiali[sz]e nft/i.test(
      stderr,
    )
  ) {
    return 'table-init';
  }
  return 'other';
}

function needsOf(cfg: RedirectConfig): Needs {
  return { dns: cfg.dns.kind !== 'off', dropInvalid: cfg.dropInvalid };
}

function familyName(f: Family): string {
  return f === 'ipv4' ? 'IPv4' : 'IPv6';
}

function failureError(
  what: string,
  tools: Tools,
  args: readonly string[],
  r: { exitCode: number; stderr: string },
  needs: Needs,
  payload?: string,
): ApplyError {
  const kind = classifyFailure(r.stderr);
  const base = `${tools.restore.slice(tools.restore.lastIndexOf('/') + 1)} could not ${what} (exit ${r.exitCode}): ${firstLine(r.stderr)}`;
  let hint = '';
  if (kind === 'table-init') {
    const tables = ['nat', ...(needs.dns ? ['raw'] : []), ...(needs.dropInvalid ? ['mangle'] : [])].join(' or ');
    hint = `. The ${tables} table could not be initialised; likely missing kernel modules: ${likelyMissingModules(tools.backend, tools.family, needs).join(', ')}. Load them on the node (modprobe), try the other backend with --iptables-mode, or use siding's CNI mode`;
  } else if (kind === 'permission') {
    hint = '. siding init needs the NET_ADMIN and NET_RAW capabilities in the pod network namespace (or use CNI mode)';
  } else if (kind === 'lock') {
    hint = '. Another program held the xtables lock for the whole wait; raise --lock-wait or --lock-retries. With a read-only root file system set XTABLES_LOCKFILE or mount an emptyDir at /run';
  }
  return new ApplyError(base + hint, {
    command: [tools.restore, ...args],
    exitCode: r.exitCode,
    stderr: r.stderr,
    ...(payload === undefined ? {} : { payload, failedLine: reportedLine(payload, r.stderr) }),
  });
}

/** The line number iptables-restore names in its stderr ("Error occurred at line: N", or "line N failed"). */
function reportedLineNumber(stderr: string): number | undefined {
  const m = /Error occurred at line: (\d+)/.exec(stderr) ?? /line (\d+) failed/.exec(stderr);
  return m === null ? undefined : Number(m[1]);
}

/** The payload line iptables-restore reported a failure at, if it named one that exists. */
export function reportedLine(payload: string, stderr: string): PayloadLine | undefined {
  const n = reportedLineNumber(stderr);
  if (n === undefined || n < 1) return undefined;
  const text = payload.split('\n')[n - 1];
  return text === undefined ? undefined : { number: n, text };
}

/**
 * Runs iptables-restore --noflush with a payload, waiting for the xtables lock (`-w`) and
 * trying again after a pause while it stays held.
 */
async function restore(
  tools: Tools,
  payload: string,
  lock: LockSettings,
  lockFile: string | undefined,
  deps: RedirectDeps,
): Promise<{ exitCode: number; stderr: string; args: string[] }> {
  const args = ['--noflush', '-w', String(lock.waitSeconds)];
  const env = lockFile === undefined ? undefined : { XTABLES_LOCKFILE: lockFile };
  for (let attempt = 0; ; attempt++) {
    const r = await deps.host.run(tools.restore, args, payload, env);
    if (r.exitCode === 0 || classifyFailure(r.stderr) !== 'lock' || attempt >= lock.retries) {
      return { exitCode: r.exitCode, stderr: r.spawnError === undefined ? r.stderr : `${r.spawnError}: ${r.stderr}`, args };
    }
    deps.log.warn({ attempt: attempt + 1, of: lock.retries + 1, delay_ms: lock.retryDelayMs }, 'the xtables lock is held by another program; trying again');
    await deps.sleep(lock.retryDelayMs);
  }
}

/** The table a failure happened in, from the line iptables-restore reported. */
function failedTableIndex(payload: string, stderr: string): number | undefined {
  const line = reportedLineNumber(stderr);
  if (line === undefined) return undefined;
  const tables = payloadTables(payload);
  let index: number | undefined;
  tables.forEach((t, i) => {
    if (t.line <= line) index = i;
  });
  return index;
}

/**
 * Applies one family's payload; on failure puts back the tables that were committed before
 * the failing one, so nothing is left half-applied.
 */
async function applyFamily(
  tools: Tools,
  rules: readonly Rule[],
  before: SidingState,
  settings: ApplySettings,
  needs: Needs,
  deps: RedirectDeps,
  markers: readonly Marker[] = [],
): Promise<{ ok: true; payload: string } | { ok: false; error: ApplyError; kind: FailureKind }> {
  const payload = render(rules, before, markers);
  const r = await restore(tools, payload, settings.lock, settings.lockFile, deps);
  if (r.exitCode === 0) return { ok: true, payload };
  const error = failureError(`apply the ${familyName(tools.family)} rules`, tools, r.args, r, needs, payload);
  const tables = payloadTables(payload);
  if (tables.length > 1) {
    const failed = failedTableIndex(payload, r.stderr) ?? tables.length - 1;
    for (const { table } of tables.slice(0, failed)) {
      const back = renderRestore(table, rules, before[table]);
      const rb = await restore(tools, back, settings.lock, settings.lockFile, deps);
      if (rb.exitCode === 0) {
        deps.log.warn({ family: tools.family }, `put the ${table} table back as it was after the failure`);
      } else {
        deps.log.warn({ family: tools.family, error: firstLine(rb.stderr) }, `could not put the ${table} table back after the failure`);
      }
    }
  }
  return { ok: false, error, kind: classifyFailure(r.stderr) };
}

function backendError(e: unknown): never {
  if (e instanceof BackendError) throw new ApplyError(e.message, { command: [] });
  throw e;
}

function saveFailed(probe: BackendProbe, needs: Needs): ApplyError {
  const r = probe.saveResult ?? { exitCode: 1, stderr: '' };
  const kind = classifyFailure(r.stderr);
  const tool = probe.tools.save.slice(probe.tools.save.lastIndexOf('/') + 1);
  const hint =
    kind === 'permission'
      ? '; siding init needs NET_ADMIN and NET_RAW in the pod network namespace'
      : `; likely missing kernel modules: ${likelyMissingModules(probe.tools.backend, probe.tools.family, needs).join(', ')}`;
  return new ApplyError(`${tool} failed (exit ${r.exitCode}): ${firstLine(r.stderr)}${hint}`, {
    command: [probe.tools.save],
    exitCode: r.exitCode,
    stderr: r.stderr,
  });
}

/** Decides whether IPv6 rules are programmed (see ipv6.ts); throws when it cannot be decided. */
async function wantIpv6(settings: ApplySettings, deps: RedirectDeps): Promise<{ program: boolean; reason: string }> {
  const addresses = settings.ipv6 === 'auto' ? await deps.host.addresses() : [];
  const decision = decideIpv6(settings.ipv6, settings.dualStack, addresses);
  if ('error' in decision) throw new ApplyError(decision.error, { command: [] });
  return decision;
}

/**
 * Applies the IPv6 payload, after adding ::6/128 to lo. The marker chain says whether siding
 * added the address (now, or in an earlier run that this one converges); if the payload
 * fails, an address added now is removed again.
 */
async function applyIpv6(cfg: RedirectConfig, tools6: Tools, settings: ApplySettings, deps: RedirectDeps): Promise<FamilyApplied> {
  const needs = needsOf(cfg);
  const probe6 = await probeBackend(deps.host, tools6);
  if (!probe6.works) throw saveFailed(probe6, needs);
  const before = sidingState(probe6.saved);
  const addedBefore = before.nat?.chains.includes(CHAINS.addedLoopbackAddress) === true;
  const addedNow = await addPassthroughAddress(deps.host);
  const markers: Marker[] = addedNow || addedBefore ? [{ table: 'nat', chain: CHAINS.addedLoopbackAddress }] : [];
  const rules6 = buildRules(cfg, 'ipv6');
  const result6 = await applyFamily(tools6, rules6, before, settings, needs, deps, markers);
  if (!result6.ok) {
    if (addedNow) await removePassthroughAddress(deps.host, deps.log).catch(() => undefined);
    throw result6.error;
  }
  deps.log.info({ backend: tools6.backend, rules: rules6.length, added_passthrough_address: addedNow }, 'applied the IPv6 rules');
  return { family: 'ipv6', backend: tools6.backend, restore: tools6.restore, payload: result6.payload, rules: rules6.length, addedPassthroughAddress: addedNow };
}

/** Applies siding's rules to the namespace: IPv4, then IPv6 when needed. */
export async function applyRedirect(cfg: RedirectConfig, settings: ApplySettings, deps: RedirectDeps): Promise<ApplyReport> {
  const needs = needsOf(cfg);
  // Decided first, so a namespace that cannot be programmed is refused before any change.
  const ipv6 = await wantIpv6(settings, deps);
  const detection = await detectBackend(deps.host, settings.iptablesMode).catch(backendError);
  for (const note of detection.notes) deps.log.warn({}, note);
  let probe = detection.chosen;
  let reason = detection.reason;
  if (!probe.works) throw saveFailed(probe, needs);
  deps.log.info({ backend: probe.tools.backend, reason }, 'chose the iptables backend');

  const families: FamilyApplied[] = [];
  const rules4 = buildRules(cfg, 'ipv4');
  let result = await applyFamily(probe.tools, rules4, sidingState(probe.saved), settings, needs, deps);
  if (
    !result.ok &&
    result.kind === 'table-init' &&
    settings.iptablesMode === 'auto' &&
    probe.tools.backend === 'nft' &&
    !hasSidingState(sidingState(probe.saved)) &&
    detection.other !== undefined
  ) {
    // nft answered but cannot build a nat table (nft_chain_nat missing): legacy may still work.
    deps.log.warn({ error: result.error.message }, 'iptables-nft could not initialise the nat table; trying iptables-legacy');
    const legacy = await probeBackend(deps.host, detection.other.tools);
    if (legacy.works) {
      probe = legacy;
      reason = 'iptables-nft could not initialise the nat table';
      result = await applyFamily(probe.tools, rules4, sidingState(probe.saved), settings, needs, deps);
    }
  }
  if (!result.ok) throw result.error;
  families.push({ family: 'ipv4', backend: probe.tools.backend, restore: probe.tools.restore, payload: result.payload, rules: rules4.length });
  deps.log.info({ backend: probe.tools.backend, rules: rules4.length }, 'applied the IPv4 rules');

  if (!ipv6.program) {
    deps.log.info({ reason: ipv6.reason }, 'IPv4 only');
    return { backend: probe.tools.backend, reason, families };
  }
  const tools6 = findTools(deps.host, probe.tools.backend, 'ipv6');
  if (tools6 === undefined) throw new ApplyError(`IPv6 is to be programmed (${ipv6.reason}) but ${missingToolsMessage(probe.tools.backend, 'ipv6')}`, { command: [] });
  deps.log.info({ reason: ipv6.reason }, 'programming IPv6 too');
  families.push(await applyIpv6(cfg, tools6, settings, deps));
  return { backend: probe.tools.backend, reason, families };
}

export interface CleanupReport {
  /** What was removed, per backend and family (empty when there was nothing of siding's). */
  readonly removed: { backend: Backend; family: Family; payload: string }[];
}

/**
 * Removes everything siding left: in auto mode from every backend that holds siding's
 * chains or jumps, for IPv4 and (unless --ipv6 off) IPv6, and ::6/128 on lo when siding added
 * it. What to remove is read from the namespace (chain prefix, rule comments, the marker
 * chain), so rules that are not ours are never touched, whatever flags created ours.
 */
export async function cleanupRedirect(settings: ApplySettings, deps: RedirectDeps): Promise<CleanupReport> {
  const backends: Backend[] = settings.iptablesMode === 'auto' ? ['legacy', 'nft'] : [settings.iptablesMode];
  const families: Family[] = settings.ipv6 === 'off' ? ['ipv4'] : ['ipv4', 'ipv6'];
  const removed: CleanupReport['removed'] = [];
  let anyTools = false;
  for (const backend of backends) {
    for (const family of families) {
      const tools = findTools(deps.host, backend, family);
      if (tools === undefined) {
        if (settings.iptablesMode !== 'auto' && family === 'ipv4') {
          throw new ApplyError(`--iptables-mode ${backend}: ${missingToolsMessage(backend, family)}`, { command: [] });
        }
        continue;
      }
      anyTools = true;
      const probe = await probeBackend(deps.host, tools);
      if (!probe.works) {
        if (settings.iptablesMode !== 'auto' && family === 'ipv4') throw saveFailed(probe, NEEDS_NAT_ONLY);
        deps.log.info({ error: firstLine(probe.saveResult?.stderr) }, `${familyName(family)} ${backend} rules cannot be read here; nothing to clean there`);
        continue;
      }
      const state = sidingState(probe.saved);
      if (!hasSidingState(state)) continue;
      const payload = renderCleanup(state);
      const r = await restore(tools, payload, settings.lock, settings.lockFile, deps);
      if (r.exitCode !== 0) throw failureError(`remove siding's ${familyName(family)} rules`, tools, r.args, r, NEEDS_NAT_ONLY, payload);
      removed.push({ backend, family, payload });
      deps.log.info({ backend }, `removed siding's ${familyName(family)} rules`);
      // The marker chain says siding added ::6/128 to lo; only then does cleanup remove it.
      if (state.nat?.chains.includes(CHAINS.addedLoopbackAddress) === true) await removePassthroughAddress(deps.host, deps.log);
    }
  }
  if (!anyTools) throw new ApplyError('no iptables programs found (iptables-nft-save or iptables-legacy-save)', { command: [] });
  if (removed.length === 0) deps.log.info({}, 'no siding rules found; nothing to remove');
  return { removed };
}
