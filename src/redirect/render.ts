/**
 * Pure rendering of `iptables-restore --noflush` payloads.
 *
 * How a payload converges (a re-run gives the identical ruleset and touches nothing else):
 * - `:SIDING_X - [0:0]` creates the chain, or flushes it when it exists: with --noflush,
 *   iptables-restore (legacy and nft) only flushes the chains a payload declares;
 * - siding's rules in built-in chains, as iptables-save printed them, are deleted with `-D`
 *   before the new ones are appended, so a jump is never duplicated;
 * - siding's chains that the new rule set no longer uses are deleted with `-X`;
 * - rules that are not ours are never named, so they are never touched.
 *
 * iptables-restore commits table by table, so a payload is atomic per table only. raw and
 * mangle come before nat: if a later table fails after an earlier one was committed,
 * apply.ts puts the earlier ones back as they were (`renderRestore`). Cleanup goes the
 * other way (nat first), so a half-done cleanup never leaves a redirect behind.
 */
import type { Rule, Table } from './rules.js';
import { chainsOf, COMMENT_PREFIX, isBuiltinChain, TABLES } from './rules.js';
import type { SidingState, SidingTableState } from './save.js';

const EMPTY: SidingState = {};

/**
 * An empty chain of siding's that records a fact about the namespace (nothing jumps to it,
 * so it changes no traffic): see CHAINS.addedLoopbackAddress.
 */
export interface Marker {
  readonly table: Table;
  readonly chain: string;
}

/** One rule as an iptables-restore line, without the `-A CHAIN` prefix. */
function ruleSpec(r: Rule): string {
  return [...r.match, '-m', 'comment', '--comment', `${COMMENT_PREFIX}${r.purpose}`, ...r.target].join(' ');
}

export function renderRule(r: Rule): string {
  return `-A ${r.chain} ${ruleSpec(r)}`;
}

/** `-A CHAIN spec` → `-D CHAIN spec`. */
function toDelete(line: string): string {
  return `-D ${line.slice(3)}`;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/**
 * The payload that makes one family's siding rules exactly `rules`, given what siding left
 * there before (`existing`, from iptables-save; empty for a fresh namespace).
 */
export function render(rules: readonly Rule[], existing: SidingState = EMPTY, markers: readonly Marker[] = []): string {
  const out: string[] = [];
  for (const table of TABLES) {
    const tableRules = rules.filter((r) => r.table === table);
    const old = existing[table];
    const marked = markers.filter((m) => m.table === table).map((m) => m.chain);
    if (tableRules.length === 0 && old === undefined && marked.length === 0) continue;
    const chains = unique([...chainsOf(rules, table), ...marked]);
    const stale = (old?.chains ?? []).filter((c) => !chains.includes(c));
    out.push(`*${table}`);
    for (const c of unique([...chains, ...stale])) out.push(`:${c} - [0:0]`);
    for (const j of old?.jumps ?? []) out.push(toDelete(j));
    for (const c of stale) out.push(`-X ${c}`);
    for (const r of tableRules) out.push(renderRule(r));
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/**
 * Cleanup removes the tables in the reverse of apply's order, nat before raw: a cleanup
 * that fails after nat was committed leaves the conntrack zones in raw, which redirect
 * nothing, instead of a DNS redirect in nat without its zones.
 */
const CLEANUP_ORDER: readonly Table[] = [...TABLES].reverse();

/** The payload that removes everything siding left (`existing`, from iptables-save). */
export function renderCleanup(existing: SidingState): string {
  const out: string[] = [];
  for (const table of CLEANUP_ORDER) {
    const old = existing[table];
    if (old === undefined) continue;
    out.push(`*${table}`, ...cleanupLines(old), 'COMMIT');
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

function cleanupLines(old: SidingTableState): string[] {
  return [...old.chains.map((c) => `:${c} - [0:0]`), ...old.jumps.map(toDelete), ...old.chains.map((c) => `-X ${c}`)];
}

/**
 * The cleanup payload derived from a rule list alone (what `--cleanup --dry-run` prints):
 * it removes exactly the jumps and chains those rules would create. A real cleanup reads
 * the namespace instead (`renderCleanup`), so it also removes what other flags created.
 */
export function renderCleanupForRules(rules: readonly Rule[]): string {
  const out: string[] = [];
  for (const table of CLEANUP_ORDER) {
    const tableRules = rules.filter((r) => r.table === table);
    if (tableRules.length === 0) continue;
    const chains = chainsOf(rules, table);
    const jumps = tableRules.filter((r) => isBuiltinChain(r.chain)).map(renderRule);
    out.push(`*${table}`, ...cleanupLines({ chains, jumps, rules: [] }), 'COMMIT');
  }
  return out.join('\n') + '\n';
}

/**
 * Puts one table's siding rules back as they were (`before`) after `rules` were committed
 * to it: used when a later table of the same payload failed.
 */
export function renderRestore(table: Table, rules: readonly Rule[], before: SidingTableState | undefined): string {
  const chains = chainsOf(rules, table);
  const oldChains = before?.chains ?? [];
  const added = rules.filter((r) => r.table === table && isBuiltinChain(r.chain)).map(renderRule);
  const out = [`*${table}`];
  for (const c of unique([...chains, ...oldChains])) out.push(`:${c} - [0:0]`);
  for (const j of added) out.push(toDelete(j));
  for (const c of chains.filter((c) => !oldChains.includes(c))) out.push(`-X ${c}`);
  out.push(...(before?.rules ?? []), ...(before?.jumps ?? []), 'COMMIT');
  return out.join('\n') + '\n';
}

/** The tables a payload commits, in order, with the line on which each one starts (1-based). */
export function payloadTables(payload: string): { table: Table; line: number }[] {
  const found: { table: Table; line: number }[] = [];
  payload.split('\n').forEach((l, i) => {
    const name = l.startsWith('*') ? l.slice(1).trim() : undefined;
    const t = TABLES.find((x) => x === name);
    if (t !== undefined) found.push({ table: t, line: i + 1 });
  });
  return found;
}
