/**
 * Choosing between iptables-legacy and iptables-nft, and naming their programs.
 *
 * Rules written to the backend the rest of the namespace does not use either do nothing or
 * fight the other backend's rules. Detection (`--iptables-mode auto`):
 * 1. a backend that already holds rules in this namespace wins (if both do, the one holding
 *    siding's rules, else the one holding more rules);
 * 2. else nft, if `iptables-nft-save` works;
 * 3. else legacy.
 * A missing binary makes auto mode use the other backend, with a note. An explicit
 * `--iptables-mode` is obeyed, and a missing binary is then an error.
 *
 * Cost: the save that detects a backend is the same save apply needs, so it is never run
 * twice. In the current namespace, legacy-save is skipped when /proc/net/ip_tables_names
 * lists no table (a namespace without legacy tables holds no legacy rules).
 */
import type { Family, IptablesMode } from './config.js';
import type { NamespaceHost } from './host.js';
import type { RunResult } from './runner.js';
import { hasRules, hasSidingState, parseSave, ruleCount, sidingState } from './save.js';
import type { SavedRuleset } from './save.js';

export type Backend = 'legacy' | 'nft';

export interface Tools {
  readonly backend: Backend;
  readonly family: Family;
  readonly save: string;
  readonly restore: string;
}

function toolName(family: Family, backend: Backend, what: 'save' | 'restore'): string {
  return `${family === 'ipv4' ? 'iptables' : 'ip6tables'}-${backend}-${what}`;
}

/** The save and restore programs of one backend and family, or undefined when one is missing. */
export function findTools(host: NamespaceHost, backend: Backend, family: Family): Tools | undefined {
  const save = host.lookPath(toolName(family, backend, 'save'));
  const restore = host.lookPath(toolName(family, backend, 'restore'));
  if (save === undefined || restore === undefined) return undefined;
  return { backend, family, save, restore };
}

export function missingToolsMessage(backend: Backend, family: Family): string {
  return `${toolName(family, backend, 'save')} or ${toolName(family, backend, 'restore')} not found on PATH`;
}

/** One backend as seen in the namespace. */
export interface BackendProbe {
  readonly tools: Tools;
  /** The save's output, undefined when the save was skipped (nothing there) or failed. */
  readonly saveText: string | undefined;
  readonly saved: SavedRuleset;
  /** False when iptables-save failed (for nft: the kernel has no usable nf_tables). */
  readonly works: boolean;
  readonly saveResult: RunResult | undefined;
}

const EMPTY_SAVE: SavedRuleset = { tables: [] };

/** Runs one backend's save (or skips it when the namespace cannot hold such rules). */
export async function probeBackend(host: NamespaceHost, tools: Tools): Promise<BackendProbe> {
  if (tools.backend === 'legacy' && !host.remote) {
    const names = await host.readProcNet(tools.family === 'ipv4' ? 'ip_tables_names' : 'ip6_tables_names');
    if (names === undefined || names.trim() === '') {
      return { tools, saveText: undefined, saved: EMPTY_SAVE, works: true, saveResult: undefined };
    }
  }
  const r = await host.run(tools.save, []);
  if (r.exitCode !== 0) return { tools, saveText: undefined, saved: EMPTY_SAVE, works: false, saveResult: r };
  return { tools, saveText: r.stdout, saved: parseSave(r.stdout), works: true, saveResult: r };
}

export interface Detection {
  readonly chosen: BackendProbe;
  /** Why this backend; and notes such as a missing binary. */
  readonly reason: string;
  readonly notes: string[];
  /** The other backend's probe, when it was looked at (cleanup also cleans it). */
  readonly other: BackendProbe | undefined;
}

export class BackendError extends Error {}

/**
 * Picks the backend for the IPv4 family (IPv6 follows it) and returns its save, which
 * apply reuses. Throws BackendError when nothing usable is installed.
 */
export async function detectBackend(host: NamespaceHost, mode: IptablesMode): Promise<Detection> {
  const notes: string[] = [];
  if (mode !== 'auto') {
    const tools = findTools(host, mode, 'ipv4');
    if (tools === undefined) {
      throw new BackendError(`--iptables-mode ${mode}: ${missingToolsMessage(mode, 'ipv4')}`);
    }
    return { chosen: await probeBackend(host, tools), reason: `--iptables-mode ${mode}`, notes, other: undefined };
  }
  const legacyTools = findTools(host, 'legacy', 'ipv4');
  const nftTools = findTools(host, 'nft', 'ipv4');
  if (legacyTools === undefined && nftTools === undefined) {
    throw new BackendError(`neither iptables-nft nor iptables-legacy is installed (${missingToolsMessage('nft', 'ipv4')}; ${missingToolsMessage('legacy', 'ipv4')})`);
  }
  if (nftTools === undefined && legacyTools !== undefined) {
    notes.push(`${missingToolsMessage('nft', 'ipv4')}; using iptables-legacy`);
    return { chosen: await probeBackend(host, legacyTools), reason: 'only iptables-legacy is installed', notes, other: undefined };
  }
  if (legacyTools === undefined && nftTools !== undefined) {
    notes.push(`${missingToolsMessage('legacy', 'ipv4')}; using iptables-nft`);
    return { chosen: await probeBackend(host, nftTools), reason: 'only iptables-nft is installed', notes, other: undefined };
  }
  const legacy = await probeBackend(host, legacyTools as Tools);
  const nft = await probeBackend(host, nftTools as Tools);
  const legacyHas = hasRules(legacy.saved);
  const nftHas = nft.works && hasRules(nft.saved);
  if (legacyHas && !nftHas) return { chosen: legacy, reason: 'iptables-legacy already holds rules in this namespace', notes, other: nft };
  if (nftHas && !legacyHas) return { chosen: nft, reason: 'iptables-nft already holds rules in this namespace', notes, other: legacy };
  if (legacyHas && nftHas) {
    const legacyOurs = hasSidingState(sidingState(legacy.saved));
    const nftOurs = hasSidingState(sidingState(nft.saved));
    if (legacyOurs !== nftOurs) {
      return legacyOurs
        ? { chosen: legacy, reason: "both backends hold rules; iptables-legacy holds siding's", notes, other: nft }
        : { chosen: nft, reason: "both backends hold rules; iptables-nft holds siding's", notes, other: legacy };
    }
    return ruleCount(legacy.saved) > ruleCount(nft.saved)
      ? { chosen: legacy, reason: 'both backends hold rules; iptables-legacy holds more', notes, other: nft }
      : { chosen: nft, reason: 'both backends hold rules; iptables-nft holds at least as many', notes, other: legacy };
  }
  if (nft.works) return { chosen: nft, reason: 'no rules yet and iptables-nft works', notes, other: legacy };
  notes.push(`iptables-nft-save failed (${firstLine(nft.saveResult?.stderr)}); nf_tables looks unavailable`);
  return { chosen: legacy, reason: 'no rules yet and iptables-nft does not work', notes, other: nft };
}

export function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n').find((l) => l.trim() !== '');
  return line?.trim() ?? 'no output';
}

/** The optional tables a rule set uses, which need more kernel modules. */
export interface Needs {
  /** raw table, CT target (DNS capture). */
  readonly dns: boolean;
  /** mangle table, conntrack match (--drop-invalid). */
  readonly dropInvalid: boolean;
}

export const NEEDS_NAT_ONLY: Needs = { dns: false, dropInvalid: false };

/** Kernel modules each backend needs; named when a table cannot be initialised. */
export function likelyMissingModules(backend: Backend, family: Family, needs: Needs = NEEDS_NAT_ONLY): string[] {
  const v6 = family === 'ipv6';
  const common = ['nf_nat', 'nf_conntrack', 'xt_REDIRECT', 'xt_owner', 'xt_comment', 'xt_tcpudp', 'xt_multiport'];
  const conntrack = needs.dropInvalid ? ['xt_conntrack'] : [];
  if (backend === 'legacy') {
    return [
      v6 ? 'ip6_tables' : 'ip_tables',
      v6 ? 'ip6table_nat' : 'iptable_nat',
      ...common,
      ...(needs.dns ? [v6 ? 'ip6table_raw' : 'iptable_raw', 'xt_CT'] : []),
      ...(needs.dropInvalid ? [v6 ? 'ip6table_mangle' : 'iptable_mangle'] : []),
      ...conntrack,
    ];
  }
  return ['nf_tables', 'nft_chain_nat', 'nft_compat', 'nft_nat', ...common, ...(needs.dns ? ['nft_ct', 'xt_CT'] : []), ...conntrack];
}
