/**
 * Reading `iptables-save` output: what is in a namespace, and which part of it is siding's.
 * Rules are kept as the text iptables-save printed, because the kernel normalises rules on
 * read-back (adds `-m tcp`, reorders matches, quotes comments): only that exact text can be
 * turned into a `-D` that iptables-restore accepts, and ownership is decided by chain name
 * and comment, never by comparing rule text with what we rendered.
 */
import { CHAIN_PREFIX, COMMENT_PREFIX, isBuiltinChain, TABLES } from './rules.js';
import type { Table } from './rules.js';

export interface SavedChain {
  readonly name: string;
  /** `ACCEPT`/`DROP` for built-in chains, `-` for user chains. */
  readonly policy: string;
}

export interface SavedTable {
  readonly name: string;
  readonly chains: SavedChain[];
  /** `-A CHAIN ...` lines, in order. */
  readonly rules: string[];
}

export interface SavedRuleset {
  readonly tables: SavedTable[];
}

/** Parses `iptables-save` output. Comment lines and counters are dropped. */
export function parseSave(text: string): SavedRuleset {
  const tables: SavedTable[] = [];
  let current: SavedTable | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { name: line.slice(1), chains: [], rules: [] };
      tables.push(current);
    } else if (current === undefined) {
      continue;
    } else if (line.startsWith(':')) {
      const [name = '', policy = '-'] = line.slice(1).split(/\s+/);
      current.chains.push({ name, policy });
    } else if (line.startsWith('-A ')) {
      current.rules.push(line);
    } else if (line === 'COMMIT') {
      current = undefined;
    }
  }
  return { tables };
}

/** The chain a `-A CHAIN ...` line appends to. */
export function ruleChain(line: string): string {
  return line.split(/\s+/)[1] ?? '';
}

/** Whether a rule line carries a `siding/...` comment (quoted or not). */
export function hasSidingComment(line: string): boolean {
  return new RegExp(`--comment\\s+"?${COMMENT_PREFIX}`).test(line);
}

/** Whether a rule line jumps or goes to one of siding's chains. */
function targetsSidingChain(line: string): boolean {
  return new RegExp(`\\s-[jg]\\s+${CHAIN_PREFIX}`).test(line);
}

/** Siding's footprint in one table. */
export interface SidingTableState {
  /** Siding's chains that exist (SIDING_ prefix). */
  readonly chains: readonly string[];
  /** Siding's rules in built-in chains, as saved (`-A OUTPUT ...`). */
  readonly jumps: readonly string[];
  /** The rules inside siding's chains, as saved. */
  readonly rules: readonly string[];
}

export type SidingState = Partial<Record<Table, SidingTableState>>;

/** Finds what is siding's in a saved ruleset: chains by prefix, built-in rules by comment or target. */
export function sidingState(saved: SavedRuleset): SidingState {
  const state: SidingState = {};
  for (const t of saved.tables) {
    if (!(TABLES as readonly string[]).includes(t.name)) continue;
    const chains = t.chains.filter((c) => c.name.startsWith(CHAIN_PREFIX)).map((c) => c.name);
    const jumps = t.rules.filter((l) => isBuiltinChain(ruleChain(l)) && (hasSidingComment(l) || targetsSidingChain(l)));
    const rules = t.rules.filter((l) => ruleChain(l).startsWith(CHAIN_PREFIX));
    if (chains.length > 0 || jumps.length > 0) state[t.name as Table] = { chains, jumps, rules };
  }
  return state;
}

/** Whether a saved ruleset holds anything: a rule, a user chain or a non-ACCEPT policy. */
export function hasRules(saved: SavedRuleset): boolean {
  return saved.tables.some((t) => t.rules.length > 0 || t.chains.some((c) => c.policy !== 'ACCEPT'));
}

export function ruleCount(saved: SavedRuleset): number {
  return saved.tables.reduce((n, t) => n + t.rules.length, 0);
}

export function hasSidingState(state: SidingState): boolean {
  return Object.keys(state).length > 0;
}

/**
 * A canonical text form of a saved ruleset for comparing two namespaces' states: no comment
 * lines, no counters, tables sorted by name, and a table that holds nothing (only built-in
 * chains with ACCEPT policy, no rules) dropped, because a table that was merely initialised
 * (iptables-nft creates one on first use and it cannot be unloaded with iptables tools) is
 * the same ruleset as no table.
 */
export function normaliseSave(text: string): string {
  const saved = parseSave(text);
  const out: string[] = [];
  const tables = [...saved.tables].sort((a, b) => a.name.localeCompare(b.name));
  for (const t of tables) {
    const empty = t.rules.length === 0 && t.chains.every((c) => isBuiltinChain(c.name) && c.policy === 'ACCEPT');
    if (empty) continue;
    out.push(`*${t.name}`);
    for (const c of t.chains) out.push(`:${c.name} ${c.policy}`);
    out.push(...t.rules, 'COMMIT');
  }
  return out.join('\n') + (out.length > 0 ? '\n' : '');
}
