/**
 * The rule model and `buildRules`, the pure function that decides every rule siding
 * installs for one IP family. Nothing here runs a program or renders text.
 */
import type { Cidr, DnsCapture, Family, PortRange, RedirectConfig } from './config.js';

export type Table = 'raw' | 'mangle' | 'nat';

/**
 * Tables in the order the payload lists them. raw and mangle come first: if nat fails after
 * they were committed, apply.ts puts them back (see render.ts).
 */
export const TABLES: readonly Table[] = ['raw', 'mangle', 'nat'];

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
  /** nat: outbound traffic, from OUTPUT. */
  output: 'SIDING_OUTPUT',
  /** nat: REDIRECT to the outbound proxy port. */
  redirect: 'SIDING_REDIRECT',
  /** nat: outbound DNS, from SIDING_OUTPUT. */
  dns: 'SIDING_DNS',
  /** raw: conntrack zones for locally generated UDP DNS, from OUTPUT. */
  dnsZoneOutput: 'SIDING_DNS_ZONE_OUT',
  /** raw: conntrack zones for DNS answers arriving, from PREROUTING. */
  dnsZonePrerouting: 'SIDING_DNS_ZONE_IN',
  /** mangle: drops packets conntrack marks INVALID (--drop-invalid), from PREROUTING. */
  drop: 'SIDING_DROP',
  /**
   * nat (IPv6): an empty chain that records that siding added ::6/128 to lo, so that cleanup
   * removes the address only then. Nothing jumps to it.
   */
  addedLoopbackAddress: 'SIDING_ADDED_LO_6',
} as const;

/** What each rule is for; the comment is `siding/<purpose>`. Documented in docs/init.md. */
export const PURPOSES = {
  'inbound-jump': 'PREROUTING sends TCP to SIDING_INBOUND',
  'outbound-jump': 'OUTPUT sends traffic to SIDING_OUTPUT',
  'dns-jump': 'DNS goes to SIDING_DNS',
  'dns-zone-output-jump': 'raw OUTPUT sends UDP to SIDING_DNS_ZONE_OUT',
  'dns-zone-prerouting-jump': 'raw PREROUTING sends UDP to SIDING_DNS_ZONE_IN',
  'drop-invalid-jump': 'mangle PREROUTING sends packets conntrack marks INVALID to SIDING_DROP',
  'drop-invalid': 'packets conntrack marks INVALID are dropped (--drop-invalid)',
  'exclude-interface': 'traffic on an interface given with -c is not captured',
  'virtual-interface': 'inbound TCP from an interface given with -k goes to the outbound proxy port',
  'virtual-interface-return': 'other inbound traffic from an interface given with -k is not captured',
  'tunnel-port': "the proxy's tunnel port is not captured inbound",
  'exclude-inbound-port': 'an inbound port given with -d is not captured',
  'capture-inbound': 'all other inbound TCP goes to the inbound capture port',
  'capture-inbound-port': 'an inbound port given with -b goes to the inbound capture port',
  'in-redirect': 'REDIRECT to the inbound capture port (-z)',
  'exclude-outbound-port': 'an outbound port given with -o is not captured (TCP and UDP)',
  passthrough: 'the proxy hands connections to the app from 127.0.0.6 (::6) on lo',
  'proxy-to-own-vip': 'the proxy calling its own pod address over lo is inbound traffic',
  'app-to-self': 'the app talking to itself over lo is not captured',
  'proxy-uid': 'traffic of the proxy UID (-u) is not captured',
  'proxy-gid': 'traffic of the proxy GID (-g) is not captured',
  'owner-group-exclude': 'traffic of a group in ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE is not captured',
  'owner-group-include': 'traffic of no group in ISTIO_OUTBOUND_OWNER_GROUPS is not captured',
  loopback: 'traffic to 127.0.0.1 (::1) is not captured',
  'exclude-cidr': 'a destination given with -x is not captured',
  'include-outbound-port': 'an outbound port given with -q is captured',
  'capture-cidr': 'a destination given with -i goes to the proxy',
  'capture-outbound': 'all other outbound TCP goes to the proxy (-i *)',
  redirect: 'REDIRECT to the outbound proxy port (-p)',
  'dns-tcp': 'TCP DNS goes to the DNS port (--dns-port)',
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

/** The inbound passthrough source, per family. */
const PASSTHROUGH_SOURCE: Record<Family, string> = { ipv4: '127.0.0.6/32', ipv6: '::6/128' };

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

/** The nameservers of one family that DNS capture is limited to (all DNS: undefined). */
function dnsServers(dns: DnsCapture, family: Family): string[] | undefined {
  if (dns.kind !== 'servers') return undefined;
  return dns.servers.filter((s) => s.family === family).map((s) => `${s.address}/${family === 'ipv4' ? 32 : 128}`);
}

/**
 * Decides the rules for one family: the same decisions, in the same order, as
 * istio-iptables' REDIRECT mode; the first matching RETURN or jump wins. The differences are
 * only of form: every rule is in a SIDING_ chain, built-in chains get only jumps, and -c/-k
 * rules istio puts in PREROUTING and OUTPUT sit at the top of SIDING_INBOUND/SIDING_OUTPUT.
 */
export function buildRules(cfg: RedirectConfig, family: Family): Rule[] {
  const rules: Rule[] = [];
  const add = (table: Table, chain: string, match: readonly string[], target: readonly string[], purpose: Purpose): void => {
    rules.push({ table, chain, match, target, purpose });
  };
  const nat = (chain: string, match: readonly string[], target: readonly string[], purpose: Purpose): void => add('nat', chain, match, target, purpose);
  const jump = (chain: string): string[] => ['-j', chain];
  const RETURN = ['-j', 'RETURN'];
  const ofFamily = (cidrs: readonly Cidr[]): Cidr[] => cidrs.filter((c) => c.family === family);
  const loopback = family === 'ipv4' ? cidrArg(cfg.ipv4Loopback) : '::1/128';
  const dns = cfg.dns;
  const servers = dnsServers(dns, family);
  const dnsOn = dns.kind !== 'off';
  const include = cfg.outboundInclude;

  // raw and mangle first (see TABLES).
  if (dnsOn) dnsZoneRules(cfg, family, add);
  if (cfg.dropInvalid) {
    add('mangle', 'PREROUTING', ['-m', 'conntrack', '--ctstate', 'INVALID'], jump(CHAINS.drop), 'drop-invalid-jump');
    add('mangle', CHAINS.drop, [], ['-j', 'DROP'], 'drop-invalid');
  }

  // Inbound: -k first (istio inserts these at the top of PREROUTING), then -c, then -b.
  const inbound = capturesInbound(cfg);
  if (inbound || cfg.excludeInterfaces.length > 0 || cfg.virtualInterfaces.length > 0) {
    nat('PREROUTING', ['-p', 'tcp'], jump(CHAINS.inbound), 'inbound-jump');
  }
  for (const iface of cfg.virtualInterfaces) {
    if (include.kind === 'all') nat(CHAINS.inbound, ['-i', iface], jump(CHAINS.redirect), 'virtual-interface');
    else for (const c of ofFamily(include.cidrs)) nat(CHAINS.inbound, ['-i', iface, '-d', cidrArg(c)], jump(CHAINS.redirect), 'virtual-interface');
  }
  for (const iface of cfg.virtualInterfaces) nat(CHAINS.inbound, ['-i', iface], RETURN, 'virtual-interface-return');
  for (const iface of cfg.excludeInterfaces) nat(CHAINS.inbound, ['-i', iface], RETURN, 'exclude-interface');
  if (inbound) {
    nat(CHAINS.inbound, ['-p', 'tcp', '--dport', String(cfg.tunnelPort)], RETURN, 'tunnel-port');
    if (cfg.inboundInclude.kind === 'all') {
      for (const p of cfg.inboundExcludePorts) nat(CHAINS.inbound, ['-p', 'tcp', '--dport', portArg(p)], RETURN, 'exclude-inbound-port');
      nat(CHAINS.inbound, ['-p', 'tcp'], jump(CHAINS.inRedirect), 'capture-inbound');
    } else {
      for (const p of cfg.inboundInclude.ports) nat(CHAINS.inbound, ['-p', 'tcp', '--dport', portArg(p)], jump(CHAINS.inRedirect), 'capture-inbound-port');
    }
  }
  nat(CHAINS.inRedirect, ['-p', 'tcp'], ['-j', 'REDIRECT', '--to-ports', String(cfg.inboundPort)], 'in-redirect');

  // Outbound: every protocol goes through SIDING_OUTPUT; only TCP and DNS are ever redirected.
  const out = CHAINS.output;
  nat('OUTPUT', [], jump(out), 'outbound-jump');
  for (const iface of cfg.excludeInterfaces) nat(out, ['-o', iface], RETURN, 'exclude-interface');
  for (const p of cfg.outboundExcludePorts) {
    nat(out, ['-p', 'tcp', '--dport', portArg(p)], RETURN, 'exclude-outbound-port');
    nat(out, ['-p', 'udp', '--dport', portArg(p)], RETURN, 'exclude-outbound-port');
  }
  nat(out, ['-s', PASSTHROUGH_SOURCE[family], '-o', 'lo'], RETURN, 'passthrough');
  // A loopback address in -i means loopback traffic to it is captured: no app-to-self RETURN.
  const appToSelf = include.kind === 'all' || !include.hasLoopback;
  const owners = [
    { flag: '--uid-owner', ids: cfg.proxyUids, purpose: 'proxy-uid' as const },
    { flag: '--gid-owner', ids: cfg.proxyGids, purpose: 'proxy-gid' as const },
  ];
  for (const { flag, ids, purpose } of owners) {
    for (const id of ids) {
      // With DNS capture, the proxy's own DNS over lo goes to its DNS port, not inbound (UIDs only, as istio has it).
      const notPorts = dnsOn && flag === '--uid-owner' ? ['-m', 'multiport', '!', '--dports', `53,${cfg.tunnelPort}`] : ['!', '--dport', String(cfg.tunnelPort)];
      nat(out, ['!', '-d', loopback, '-o', 'lo', '-p', 'tcp', ...notPorts, '-m', 'owner', flag, id], jump(CHAINS.inRedirect), 'proxy-to-own-vip');
      if (appToSelf) {
        const notDns = dnsOn ? ['-p', 'tcp', '!', '--dport', '53'] : [];
        nat(out, ['-o', 'lo', ...notDns, '-m', 'owner', '!', flag, id], RETURN, 'app-to-self');
      }
      nat(out, ['-m', 'owner', flag, id], RETURN, purpose);
    }
  }
  const groups = cfg.ownerGroups;
  if (groups.kind === 'all-except') {
    for (const g of groups.groups) nat(out, ['-m', 'owner', '--gid-owner', g], RETURN, 'owner-group-exclude');
  } else {
    nat(out, groups.groups.flatMap((g) => ['-m', 'owner', '!', '--gid-owner', g]), RETURN, 'owner-group-include');
  }
  if (dnsOn && (servers === undefined || servers.length > 0)) {
    nat(out, [], jump(CHAINS.dns), 'dns-jump');
    const to = (p: 'tcp' | 'udp', d: string[]): void =>
      nat(CHAINS.dns, ['-p', p, '--dport', '53', ...d], ['-j', 'REDIRECT', '--to-ports', String(dns.port)], p === 'tcp' ? 'dns-tcp' : 'dns-udp');
    for (const p of ['tcp', 'udp'] as const) {
      if (servers === undefined) to(p, []);
      else for (const s of servers) to(p, ['-d', s]);
    }
  }
  nat(out, ['-d', loopback], RETURN, 'loopback');
  for (const c of ofFamily(cfg.outboundExclude)) nat(out, ['-d', cidrArg(c)], RETURN, 'exclude-cidr');
  for (const p of cfg.outboundIncludePorts) nat(out, ['-p', 'tcp', '--dport', portArg(p)], jump(CHAINS.redirect), 'include-outbound-port');
  if (include.kind === 'all') {
    nat(out, [], jump(CHAINS.redirect), 'capture-outbound');
  } else {
    for (const c of ofFamily(include.cidrs)) nat(out, ['-d', cidrArg(c)], jump(CHAINS.redirect), 'capture-cidr');
  }
  nat(CHAINS.redirect, ['-p', 'tcp'], ['-j', 'REDIRECT', '--to-ports', String(cfg.proxyPort)], 'redirect');
  return rules;
}

/**
 * Conntrack zones for UDP DNS (raw table). Without them, the app's query (redirected to the
 * local DNS port) and the proxy's query to the same server can share a conntrack entry, so
 * an answer is un-NATed wrongly and the query escapes the redirect. The CT target only sets
 * a zone on a packet that has none yet, so the first match wins.
 */
function dnsZoneRules(cfg: RedirectConfig, family: Family, add: (t: Table, c: string, m: readonly string[], tg: readonly string[], p: Purpose) => void): void {
  if (cfg.dns.kind === 'off') return;
  const servers = dnsServers(cfg.dns, family);
  const zone = (n: '1' | '2'): string[] => ['-j', 'CT', '--zone', n];
  add('raw', 'OUTPUT', ['-p', 'udp'], ['-j', CHAINS.dnsZoneOutput], 'dns-zone-output-jump');
  for (const { flag, ids } of [
    { flag: '--uid-owner', ids: cfg.proxyUids },
    { flag: '--gid-owner', ids: cfg.proxyGids },
  ]) {
    for (const id of ids) {
      add('raw', CHAINS.dnsZoneOutput, ['-p', 'udp', '--dport', '53', '-m', 'owner', flag, id], zone('1'), 'dns-zone-proxy-query');
      add('raw', CHAINS.dnsZoneOutput, ['-p', 'udp', '--sport', String(cfg.dns.port), '-m', 'owner', flag, id], zone('2'), 'dns-zone-proxy-answer');
    }
  }
  if (servers !== undefined && servers.length === 0) return;
  add('raw', 'PREROUTING', ['-p', 'udp'], ['-j', CHAINS.dnsZonePrerouting], 'dns-zone-prerouting-jump');
  for (const s of servers ?? [undefined]) {
    add('raw', CHAINS.dnsZoneOutput, ['-p', 'udp', '--dport', '53', ...(s === undefined ? [] : ['-d', s])], zone('2'), 'dns-zone-app-query');
    add('raw', CHAINS.dnsZonePrerouting, ['-p', 'udp', '--sport', '53', ...(s === undefined ? [] : ['-s', s])], zone('1'), 'dns-zone-upstream-answer');
  }
}

/** The chains a rule list fills, per table, in first-use order. */
export function chainsOf(rules: readonly Rule[], table: Table): string[] {
  const chains: string[] = [];
  for (const r of rules) {
    if (r.table === table && !isBuiltinChain(r.chain) && !chains.includes(r.chain)) chains.push(r.chain);
  }
  return chains;
}
