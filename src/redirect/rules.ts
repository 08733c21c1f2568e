/**
 * The rule model and `buildRules`, the pure function that decides every rule siding
 * installs for one IP family. Nothing here runs a program or renders text.
 */
import type { Cidr, Family, PortRange, RedirectConfig } from './config.js';

export type Table = 'raw' | 'nat';

/** Tables in the order the payload lists them (see render.ts for why raw comes first). */
export const TABLES: readonly Table[] = ['raw', 'nat'];

/**
 * One rule. `render` adds `-m comment --comment siding/<purpose>` between `match` and
 * `target`, so `iptables-save` explains every rule and cleanup can find exactly ours.
 */
export interface Rule {
  readonly table: Table;
  readonly chain: string;
  readonly match: readonly string[];
  readonly target: readonly string[];
  readonly purpose: Purpose;
}

/** Every chain siding owns starts with this; nothing else does. */
export const CHAIN_PREFIX = 'SIDING_';
/** Every rule siding owns carries a comment starting with this. */
export const COMMENT_PREFIX = 'siding/';

export const CHAINS = {
  /** nat: inbound TCP, from PREROUTING. */
  inbound: 'SIDING_INBOUND',
  /** nat: REDIRECT to the inbound capture port. */
  inRedirect: 'SIDING_IN_REDIRECT',
  /** nat: outbound TCP, from OUTPUT. */
  output: 'SIDING_OUTPUT',
  /** nat: REDIRECT to the outbound proxy port. */
  redirect: 'SIDING_REDIRECT',
  /** nat: outbound UDP DNS, from OUTPUT. */
  dns: 'SIDING_DNS',
  /** raw: conntrack zones for locally generated UDP DNS, from OUTPUT. */
  dnsZoneOutput: 'SIDING_DNS_ZONE_OUT',
  /** raw: conntrack zones for DNS answers arriving, from PREROUTING. */
  dnsZonePrerouting: 'SIDING_DNS_ZONE_IN',
} as const;

/** What each rule is for; the comment is `siding/<purpose>`. Documented in docs/init.md. */
export const PURPOSES = {
  'inbound-jump': 'PREROUTING sends TCP to SIDING_INBOUND',
  'outbound-jump': 'OUTPUT sends TCP to SIDING_OUTPUT',
  'dns-jump': 'OUTPUT sends UDP port 53 to SIDING_DNS',
  'dns-zone-output-jump': 'raw OUTPUT sends UDP to SIDING_DNS_ZONE_OUT',
  'dns-zone-prerouting-jump': 'raw PREROUTING sends UDP to SIDING_DNS_ZONE_IN',
  'exclude-interface': 'traffic on an interface given with -c is not captured',
  'virtual-interface': 'inbound traffic from an interface given with -k is treated as outbound',
  'tunnel-port': "the proxy's tunnel port is not captured inbound",
  'exclude-inbound-port': 'an inbound port given with -d is not captured',
  'capture-inbound': 'all other inbound TCP goes to the inbound capture port',
  'capture-inbound-port': 'an inbound port given with -b goes to the inbound capture port',
  'in-redirect': 'REDIRECT to the inbound capture port (-z)',
  passthrough: 'the proxy hands connections to the app from 127.0.0.6 (::6) on lo',
  'proxy-to-own-vip': 'the proxy calling its own pod address over lo is inbound traffic',
  'app-to-self': 'the app talking to itself over lo is not captured',
  'proxy-uid': 'traffic of the proxy UID (-u) is not captured',
  'proxy-gid': 'traffic of the proxy GID (-g) is not captured',
  'dns-tcp': 'TCP DNS goes to the DNS port (--dns-port)',
  loopback: 'traffic to 127.0.0.1 (::1) is not captured',
  'include-outbound-port': 'an outbound port given with -q is always captured',
  'exclude-outbound-port': 'an outbound port given with -o is not captured',
  'exclude-cidr': 'a destination given with -x is not captured',
  'capture-cidr': 'a destination given with -i goes to the proxy',
  'capture-outbound': 'all other outbound TCP goes to the proxy (-i *)',
  redirect: 'REDIRECT to the outbound proxy port (-p)',
  'dns-proxy-uid': 'DNS queries of the proxy UID are not captured',
  'dns-proxy-gid': 'DNS queries of the proxy GID are not captured',
  'dns-udp': 'UDP DNS goes to the DNS port (--dns-port)',
  'dns-zone-proxy-query': "the proxy's own DNS queries use conntrack zone 1",
  'dns-zone-proxy-answer': "the proxy's DNS answers to the app use conntrack zone 2",
  'dns-zone-app-query': "the app's DNS queries use conntrack zone 2",
  'dns-zone-upstream-answer': 'answers from DNS servers use conntrack zone 1',
} as const;

export type Purpose = keyof typeof PURPOSES;

const BUILTIN_CHAINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

export function isBuiltinChain(chain: string): boolean {
  return BUILTIN_CHAINS.has(chain);
}

/** Addresses that differ between the families. */
const FAMILY_ADDRESSES: Record<Family, { passthroughSource: string; loopback: string }> = {
  ipv4: { passthroughSource: '127.0.0.6/32', loopback: '127.0.0.1/32' },
  ipv6: { passthroughSource: '::6/128', loopback: '::1/128' },
};

function portArg(p: PortRange): string {
  return p.from === p.to ? String(p.from) : `${p.from}:${p.to}`;
}

function cidrArg(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/** Does this config capture any inbound TCP? (-b is '*' or a non-empty list) */
export function capturesInbound(cfg: RedirectConfig): boolean {
  return cfg.inboundInclude.kind === 'all' || cfg.inboundInclude.ports.length > 0;
}

/**
 * Decides the rules for one family. Order matters inside a chain and follows istio-iptables'
 * order: the first matching RETURN or jump wins.
 */
export function buildRules(cfg: RedirectConfig, family: Family): Rule[] {
  const rules: Rule[] = [];
  const nat = (chain: string, match: readonly string[], target: readonly string[], purpose: Purpose): void => {
    rules.push({ table: 'nat', chain, match, target, purpose });
  };
  const raw = (chain: string, match: readonly string[], target: readonly string[], purpose: Purpose): void => {
    rules.push({ table: 'raw', chain, match, target, purpose });
  };
  const jump = (chain: string): string[] => ['-j', chain];
  const RETURN = ['-j', 'RETURN'];
  const addr = FAMILY_ADDRESSES[family];
  const ofFamily = (cidrs: readonly Cidr[]): Cidr[] => cidrs.filter((c) => c.family === family);
  const inbound = capturesInbound(cfg);
  const dns = cfg.dns;

  // Jumps from the built-in chains: the only rules siding puts there.
  const needInboundChain = inbound || cfg.excludeInterfaces.length > 0 || cfg.virtualInterfaces.length > 0;
  if (dns.enabled) {
    raw('OUTPUT', ['-p', 'udp'], jump(CHAINS.dnsZoneOutput), 'dns-zone-output-jump');
    raw('PREROUTING', ['-p', 'udp'], jump(CHAINS.dnsZonePrerouting), 'dns-zone-prerouting-jump');
  }
  if (needInboundChain) nat('PREROUTING', ['-p', 'tcp'], jump(CHAINS.inbound), 'inbound-jump');
  nat('OUTPUT', ['-p', 'tcp'], jump(CHAINS.output), 'outbound-jump');
  if (dns.enabled) nat('OUTPUT', ['-p', 'udp', '--dport', '53'], jump(CHAINS.dns), 'dns-jump');

  // Inbound.
  if (needInboundChain) {
    for (const iface of cfg.excludeInterfaces) nat(CHAINS.inbound, ['-i', iface], RETURN, 'exclude-interface');
    for (const iface of cfg.virtualInterfaces) {
      if (cfg.outboundInclude.kind === 'all') {
        nat(CHAINS.inbound, ['-i', iface], jump(CHAINS.redirect), 'virtual-interface');
      } else {
        for (const c of ofFamily(cfg.outboundInclude.cidrs)) {
          nat(CHAINS.inbound, ['-i', iface, '-d', cidrArg(c)], jump(CHAINS.redirect), 'virtual-interface');
        }
      }
    }
    if (inbound) {
      nat(CHAINS.inbound, ['-p', 'tcp', '--dport', String(cfg.tunnelPort)], RETURN, 'tunnel-port');
      if (cfg.inboundInclude.kind === 'all') {
        for (const p of cfg.inboundExcludePorts) nat(CHAINS.inbound, ['-p', 'tcp', '--dport', portArg(p)], RETURN, 'exclude-inbound-port');
        nat(CHAINS.inbound, ['-p', 'tcp'], jump(CHAINS.inRedirect), 'capture-inbound');
      } else {
        for (const p of cfg.inboundInclude.ports) {
          nat(CHAINS.inbound, ['-p', 'tcp', '--dport', portArg(p)], jump(CHAINS.inRedirect), 'capture-inbound-port');
        }
      }
    }
  }
  if (inbound) {
    nat(CHAINS.inRedirect, ['-p', 'tcp'], ['-j', 'REDIRECT', '--to-ports', String(cfg.inboundPort)], 'in-redirect');
  }

  // Outbound.
  const out = CHAINS.output;
  for (const iface of cfg.excludeInterfaces) nat(out, ['-o', iface], RETURN, 'exclude-interface');
  nat(out, ['-s', addr.passthroughSource, '-o', 'lo'], RETURN, 'passthrough');
  const owners: { flag: '--uid-owner' | '--gid-owner'; ids: readonly number[]; purpose: Purpose }[] = [
    { flag: '--uid-owner', ids: cfg.proxyUids, purpose: 'proxy-uid' },
    { flag: '--gid-owner', ids: cfg.proxyGids, purpose: 'proxy-gid' },
  ];
  for (const { flag, ids, purpose } of owners) {
    for (const id of ids) {
      if (inbound) {
        nat(
          out,
          ['!', '-d', addr.loopback, '-o', 'lo', '-p', 'tcp', '!', '--dport', String(cfg.tunnelPort), '-m', 'owner', flag, String(id)],
          jump(CHAINS.inRedirect),
          'proxy-to-own-vip',
        );
      }
      nat(out, ['-o', 'lo', '-m', 'owner', '!', flag, String(id)], RETURN, 'app-to-self');
      nat(out, ['-m', 'owner', flag, String(id)], RETURN, purpose);
    }
  }
  if (dns.enabled) nat(out, ['-p', 'tcp', '--dport', '53'], ['-j', 'REDIRECT', '--to-ports', String(dns.port)], 'dns-tcp');
  nat(out, ['-d', addr.loopback], RETURN, 'loopback');
  for (const p of cfg.outboundIncludePorts) nat(out, ['-p', 'tcp', '--dport', portArg(p)], jump(CHAINS.redirect), 'include-outbound-port');
  for (const p of cfg.outboundExcludePorts) nat(out, ['-p', 'tcp', '--dport', portArg(p)], RETURN, 'exclude-outbound-port');
  for (const c of ofFamily(cfg.outboundExclude)) nat(out, ['-d', cidrArg(c)], RETURN, 'exclude-cidr');
  if (cfg.outboundInclude.kind === 'all') {
    nat(out, [], jump(CHAINS.redirect), 'capture-outbound');
  } else {
    for (const c of ofFamily(cfg.outboundInclude.cidrs)) nat(out, ['-d', cidrArg(c)], jump(CHAINS.redirect), 'capture-cidr');
  }
  nat(CHAINS.redirect, ['-p', 'tcp'], ['-j', 'REDIRECT', '--to-ports', String(cfg.proxyPort)], 'redirect');

  // DNS: UDP to the DNS port, and conntrack zones. Without zones, the app's query
  // (redirected to the local DNS port) and the proxy's query to the same server can share a
  // conntrack entry, so an answer is un-NATed wrongly and the query escapes the redirect.
  // The CT target only sets a zone on a packet that has none yet, so the first match wins.
  if (dns.enabled) {
    for (const { flag, ids } of owners) {
      for (const id of ids) nat(CHAINS.dns, ['-m', 'owner', flag, String(id)], RETURN, flag === '--uid-owner' ? 'dns-proxy-uid' : 'dns-proxy-gid');
    }
    nat(CHAINS.dns, ['-p', 'udp'], ['-j', 'REDIRECT', '--to-ports', String(dns.port)], 'dns-udp');
    for (const { flag, ids } of owners) {
      for (const id of ids) {
        raw(CHAINS.dnsZoneOutput, ['-p', 'udp', '--dport', '53', '-m', 'owner', flag, String(id)], ['-j', 'CT', '--zone', '1'], 'dns-zone-proxy-query');
        raw(CHAINS.dnsZoneOutput, ['-p', 'udp', '--sport', String(dns.port), '-m', 'owner', flag, String(id)], ['-j', 'CT', '--zone', '2'], 'dns-zone-proxy-answer');
      }
    }
    raw(CHAINS.dnsZoneOutput, ['-p', 'udp', '--dport', '53'], ['-j', 'CT', '--zone', '2'], 'dns-zone-app-query');
    raw(CHAINS.dnsZonePrerouting, ['-p', 'udp', '--sport', '53'], ['-j', 'CT', '--zone', '1'], 'dns-zone-upstream-answer');
  }
  return rules;
}

/** The chains a rule list fills, per table, in first-use order. */
export function chainsOf(rules: readonly Rule[], table: Table): string[] {
  const chains: string[] = [];
  for (const r of rules) {
    if (r.table === table && !isBuiltinChain(r.chain) && !chains.includes(r.chain)) chains.push(r.chain);
  }
  return chains;
}
