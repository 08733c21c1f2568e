/**
 * Whether a namespace still holds the redirect a config asks for (the CNI plugin's CHECK).
 * Ownership and counts are compared, not rule text: the kernel normalises rules on read-back
 * (save.ts), and siding's chains are siding's alone, so a chain that is missing, a jump that
 * is gone or a chain holding a different number of rules is what "not in place" means.
 */
import type { Family, IptablesMode, RedirectConfig } from './config.js';
import { detectBackend } from './backend.js';
import type { NamespaceHost } from './host.js';
import { buildRules, chainsOf, isBuiltinChain, TABLES } from './rules.js';
import { ruleChain, sidingState, type SidingState } from './save.js';

/** What is missing of `cfg`'s rules for one family in `state` (pure); empty when nothing. */
export function missingRules(cfg: RedirectConfig, family: Family, state: SidingState): string[] {
  const rules = buildRules(cfg, family);
  const out: string[] = [];
  for (const table of TABLES) {
    const present = state[table];
    for (const chain of chainsOf(rules, table)) {
      if (!(present?.chains ?? []).includes(chain)) {
        out.push(`chain ${chain} is missing from the ${table} table`);
        continue;
      }
      const want = rules.filter((r) => r.table === table && r.chain === chain).length;
      const have = (present?.rules ?? []).filter((l) => ruleChain(l) === chain).length;
      if (have !== want) out.push(`chain ${chain} holds ${have} rules instead of ${want}`);
    }
    const jumps = rules.filter((r) => r.table === table && isBuiltinChain(r.chain)).length;
    const have = present?.jumps.length ?? 0;
    if (have < jumps) out.push(`${jumps - have} of ${jumps} jumps from the built-in chains of the ${table} table are missing`);
  }
  return out;
}

/** Reads the namespace (the IPv4 rules, which every pod has) and says what is missing. */
export async function verifyRedirect(cfg: RedirectConfig, iptablesMode: IptablesMode, host: NamespaceHost): Promise<string[]> {
  const detection = await detectBackend(host, iptablesMode);
  const probe = detection.chosen;
  if (!probe.works) return [`${probe.tools.save} failed: ${(probe.saveResult?.stderr ?? '').trim().split('\n')[0] ?? ''}`];
  return missingRules(cfg, 'ipv4', sidingState(probe.saved));
}
