import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTestFlags } from '../helpers/init-flags.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import type { RedirectConfig } from '../../src/redirect/config.js';
import { buildRules, CHAIN_PREFIX, isBuiltinChain, PURPOSES } from '../../src/redirect/rules.js';
import type { Rule } from '../../src/redirect/rules.js';
import { renderRule } from '../../src/redirect/render.js';

const ISTIO_INIT_ARGS: RawInitFlags = {
  envoyPort: '15001',
  inboundCapturePort: '15006',
  proxyUid: '1337',
  istioInboundInterceptionMode: 'REDIRECT',
  istioServiceCidr: '*',
  istioServiceExcludeCidr: '',
  istioInboundPorts: '*',
  istioLocalExcludePorts: '15090,15021,15020',
};

function config(extra: RawInitFlags = {}): RedirectConfig {
  return parseTestFlags({ ...ISTIO_INIT_ARGS, ...extra }).redirect;
}

const lines = (rules: Rule[], chain: string): string[] => rules.filter((r) => r.chain === chain).map(renderRule);
const purposes = (rules: Rule[], chain: string): string[] => rules.filter((r) => r.chain === chain).map((r) => r.purpose);

describe('buildRules', () => {
  it('puts only jumps to siding chains in the built-in chains', () => {
    const rules = buildRules(config({ redirectDns: true, istioExcludeInterfaces: 'eth1', kubeVirtInterfaces: 'net1' }), 'ipv4');
    for (const r of rules.filter((x) => isBuiltinChain(x.chain))) {
      assert.deepEqual(r.target.slice(0, 1), ['-j']);
      assert.ok(r.target[1]?.startsWith(CHAIN_PREFIX), renderRule(r));
    }
    for (const r of rules.filter((x) => !isBuiltinChain(x.chain))) assert.ok(r.chain.startsWith(CHAIN_PREFIX));
  });

  it('gives every rule a documented purpose', () => {
    const rules = buildRules(config({ redirectDns: true, istioExcludeInterfaces: 'eth1', kubeVirtInterfaces: 'net1', istioOutboundPorts: '1' }), 'ipv6');
    for (const r of rules) assert.ok(r.purpose in PURPOSES);
  });

  it('orders the inbound chain: tunnel port, excluded ports, then the capture', () => {
    assert.deepEqual(lines(buildRules(config(), 'ipv4'), 'SIDING_INBOUND'), [
      '-A SIDING_INBOUND -p tcp --dport 15008 -m comment --comment siding/tunnel-port -j RETURN',
      '-A SIDING_INBOUND -p tcp --dport 15090 -m comment --comment siding/exclude-inbound-port -j RETURN',
      '-A SIDING_INBOUND -p tcp --dport 15021 -m comment --comment siding/exclude-inbound-port -j RETURN',
      '-A SIDING_INBOUND -p tcp --dport 15020 -m comment --comment siding/exclude-inbound-port -j RETURN',
      '-A SIDING_INBOUND -p tcp -m comment --comment siding/capture-inbound -j SIDING_IN_REDIRECT',
    ]);
  });

  it('orders the outbound chain as istio-iptables does: -o first, then passthrough, owners, loopback, -x, -q, -i', () => {
    const cfg = config({ istioServiceExcludeCidr: '10.96.0.0/12', istioLocalOutboundPortsExclude: '3306', istioOutboundPorts: '443' });
    assert.deepEqual(purposes(buildRules(cfg, 'ipv4'), 'SIDING_OUTPUT'), [
      'exclude-outbound-port',
      'exclude-outbound-port',
      'passthrough',
      'proxy-to-own-vip',
      'app-to-self',
      'proxy-uid',
      'proxy-to-own-vip',
      'app-to-self',
      'proxy-gid',
      'loopback',
      'exclude-cidr',
      'include-outbound-port',
      'capture-outbound',
    ]);
  });

  it('excludes the -o ports for TCP and UDP alike', () => {
    assert.deepEqual(lines(buildRules(config({ istioLocalOutboundPortsExclude: '53' }), 'ipv4'), 'SIDING_OUTPUT').slice(0, 2), [
      '-A SIDING_OUTPUT -p tcp --dport 53 -m comment --comment siding/exclude-outbound-port -j RETURN',
      '-A SIDING_OUTPUT -p udp --dport 53 -m comment --comment siding/exclude-outbound-port -j RETURN',
    ]);
  });

  it('sends every protocol from OUTPUT to SIDING_OUTPUT', () => {
    assert.deepEqual(lines(buildRules(config(), 'ipv4'), 'OUTPUT'), ['-A OUTPUT -m comment --comment siding/outbound-jump -j SIDING_OUTPUT']);
  });

  it('drops the app-to-self RETURNs when -i holds a loopback address, whatever its prefix', () => {
    for (const cidr of ['127.1.2.3/32', '127.0.0.1/1', '::1/128,10.0.0.0/8']) {
      assert.ok(!buildRules(config({ istioServiceCidr: cidr }), 'ipv4').some((r) => r.purpose === 'app-to-self'), cidr);
    }
    assert.ok(buildRules(config({ istioServiceCidr: '10.0.0.0/8' }), 'ipv4').some((r) => r.purpose === 'app-to-self'));
  });

  it('uses ::6 and ::1 for IPv6 and 127.0.0.6 and 127.0.0.1 for IPv4', () => {
    const v4 = lines(buildRules(config(), 'ipv4'), 'SIDING_OUTPUT').join('\n');
    const v6 = lines(buildRules(config(), 'ipv6'), 'SIDING_OUTPUT').join('\n');
    assert.match(v4, /-s 127\.0\.0\.6\/32 -o lo/);
    assert.match(v4, /-d 127\.0\.0\.1\/32 -m comment --comment siding\/loopback/);
    assert.match(v6, /-s ::6\/128 -o lo/);
    assert.match(v6, /-d ::1\/128 -m comment --comment siding\/loopback/);
    assert.doesNotMatch(v6, /127\.0\.0/);
  });

  it('puts each CIDR only into the payload of its family', () => {
    const cfg = config({ istioServiceCidr: '10.0.0.0/8,fd00::/8', istioServiceExcludeCidr: '10.1.0.0/16,fd00:1::/32' });
    const v4 = buildRules(cfg, 'ipv4').map(renderRule).join('\n');
    const v6 = buildRules(cfg, 'ipv6').map(renderRule).join('\n');
    assert.match(v4, /-d 10\.0\.0\.0\/8 .*capture-cidr/);
    assert.match(v4, /-d 10\.1\.0\.0\/16 .*exclude-cidr/);
    assert.doesNotMatch(v4, /fd00/);
    assert.match(v6, /-d fd00::\/8 .*capture-cidr/);
    assert.doesNotMatch(v6, /10\.0\.0\.0/);
  });

  it('captures nothing outbound with an empty -i and no -q, but still exempts the proxy', () => {
    const rules = buildRules(config({ istioServiceCidr: '' }), 'ipv4');
    assert.ok(!rules.some((r) => r.purpose === 'capture-outbound' || r.purpose === 'capture-cidr'));
    assert.ok(rules.some((r) => r.purpose === 'proxy-uid'));
  });

  it('has no inbound chain or PREROUTING jump when -b is empty and no interfaces are given, but keeps the own-VIP redirect', () => {
    const rules = buildRules(config({ istioInboundPorts: '' }), 'ipv4');
    assert.ok(!rules.some((r) => r.chain === 'PREROUTING' || r.chain === 'SIDING_INBOUND'));
    assert.equal(rules.filter((r) => r.purpose === 'proxy-to-own-vip').length, 2, 'istio-iptables keeps them with -b empty');
    assert.ok(rules.some((r) => r.chain === 'SIDING_IN_REDIRECT'));
  });

  it('captures only the listed inbound ports when -b is a list, ignoring -d', () => {
    assert.deepEqual(lines(buildRules(config({ istioInboundPorts: '8080,9000-9010' }), 'ipv4'), 'SIDING_INBOUND'), [
      '-A SIDING_INBOUND -p tcp --dport 15008 -m comment --comment siding/tunnel-port -j RETURN',
      '-A SIDING_INBOUND -p tcp --dport 8080 -m comment --comment siding/capture-inbound-port -j SIDING_IN_REDIRECT',
      '-A SIDING_INBOUND -p tcp --dport 9000:9010 -m comment --comment siding/capture-inbound-port -j SIDING_IN_REDIRECT',
    ]);
  });

  it('sends -k interfaces to the outbound redirect, then returns the rest of their traffic, then -c', () => {
    const rules = buildRules(config({ istioExcludeInterfaces: 'eth1', kubeVirtInterfaces: 'net1' }), 'ipv4');
    assert.deepEqual(lines(rules, 'SIDING_INBOUND').slice(0, 3), [
      '-A SIDING_INBOUND -i net1 -m comment --comment siding/virtual-interface -j SIDING_REDIRECT',
      '-A SIDING_INBOUND -i net1 -m comment --comment siding/virtual-interface-return -j RETURN',
      '-A SIDING_INBOUND -i eth1 -m comment --comment siding/exclude-interface -j RETURN',
    ]);
    assert.equal(lines(rules, 'SIDING_OUTPUT')[0], '-A SIDING_OUTPUT -o eth1 -m comment --comment siding/exclude-interface -j RETURN');
  });

  it('redirects -k traffic only to -i CIDRs of the family, and none with -i empty', () => {
    const cidrs = buildRules(config({ kubeVirtInterfaces: 'net1', istioServiceCidr: '10.0.0.0/8,fd00::/8' }), 'ipv4');
    assert.deepEqual(
      cidrs.filter((r) => r.purpose === 'virtual-interface').map(renderRule),
      ['-A SIDING_INBOUND -i net1 -d 10.0.0.0/8 -m comment --comment siding/virtual-interface -j SIDING_REDIRECT'],
    );
    const none = buildRules(config({ kubeVirtInterfaces: 'net1', istioServiceCidr: '' }), 'ipv4');
    assert.ok(!none.some((r) => r.purpose === 'virtual-interface'));
    assert.ok(none.some((r) => r.purpose === 'virtual-interface-return'));
  });

  it('captures only DNS to the nameservers of each family, after the owner exemptions, with conntrack zones', () => {
    const rules = buildRules(config({ redirectDns: true, dnsPort: '5353' }), 'ipv4');
    const out = purposes(rules, 'SIDING_OUTPUT');
    assert.ok(out.indexOf('dns-jump') > out.lastIndexOf('proxy-gid'));
    assert.ok(out.indexOf('dns-jump') < out.indexOf('loopback'));
    assert.deepEqual(lines(rules, 'SIDING_DNS'), [
      '-A SIDING_DNS -p tcp --dport 53 -d 10.96.0.10/32 -m comment --comment siding/dns-tcp -j REDIRECT --to-ports 5353',
      '-A SIDING_DNS -p udp --dport 53 -d 10.96.0.10/32 -m comment --comment siding/dns-udp -j REDIRECT --to-ports 5353',
    ]);
    const zones = lines(rules, 'SIDING_DNS_ZONE_OUT');
    assert.equal(zones.at(-1), '-A SIDING_DNS_ZONE_OUT -p udp --dport 53 -d 10.96.0.10/32 -m comment --comment siding/dns-zone-app-query -j CT --zone 2');
    assert.ok(zones.some((l) => l.includes('--sport 5353') && l.includes('--zone 2')));
    assert.deepEqual(lines(rules, 'SIDING_DNS_ZONE_IN'), [
      '-A SIDING_DNS_ZONE_IN -p udp --sport 53 -s 10.96.0.10/32 -m comment --comment siding/dns-zone-upstream-answer -j CT --zone 1',
    ]);
    assert.deepEqual(lines(buildRules(config({ redirectDns: true }), 'ipv6'), 'SIDING_DNS')[0], '-A SIDING_DNS -p tcp --dport 53 -d fd00:10:96::a/128 -m comment --comment siding/dns-tcp -j REDIRECT --to-ports 15053');
  });

  it('captures all DNS with --capture-all-dns', () => {
    const rules = buildRules(config({ redirectDns: true, captureAllDns: true }), 'ipv4');
    assert.deepEqual(lines(rules, 'SIDING_DNS'), [
      '-A SIDING_DNS -p tcp --dport 53 -m comment --comment siding/dns-tcp -j REDIRECT --to-ports 15053',
      '-A SIDING_DNS -p udp --dport 53 -m comment --comment siding/dns-udp -j REDIRECT --to-ports 15053',
    ]);
  });

  it('keeps port 53 out of the proxy UID own-VIP rule and the app-to-self RETURNs when DNS is captured', () => {
    const rules = buildRules(config({ redirectDns: true }), 'ipv4');
    const vip = rules.filter((r) => r.purpose === 'proxy-to-own-vip').map(renderRule);
    assert.match(vip[0] ?? '', /-m multiport ! --dports 53,15008 -m owner --uid-owner 1337/);
    assert.match(vip[1] ?? '', /! --dport 15008 -m owner --gid-owner 1337/);
    for (const r of rules.filter((x) => x.purpose === 'app-to-self')) assert.match(renderRule(r), /-p tcp ! --dport 53/);
  });

  it('filters by owner group: one RETURN per excluded group, or one RETURN for groups outside the included list', () => {
    const env = (e: Record<string, string>) => parseTestFlags(ISTIO_INIT_ARGS, { environment: e }).redirect;
    assert.deepEqual(
      lines(buildRules(env({ ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888,ftp' }), 'ipv4'), 'SIDING_OUTPUT').filter((l) => l.includes('owner-group')),
      [
        '-A SIDING_OUTPUT -m owner --gid-owner 888 -m comment --comment siding/owner-group-exclude -j RETURN',
        '-A SIDING_OUTPUT -m owner --gid-owner ftp -m comment --comment siding/owner-group-exclude -j RETURN',
      ],
    );
    assert.deepEqual(
      lines(buildRules(env({ ISTIO_OUTBOUND_OWNER_GROUPS: 'java,202' }), 'ipv4'), 'SIDING_OUTPUT').filter((l) => l.includes('owner-group')),
      ['-A SIDING_OUTPUT -m owner ! --gid-owner java -m owner ! --gid-owner 202 -m comment --comment siding/owner-group-include -j RETURN'],
    );
  });

  it('uses ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR as the IPv4 loopback range', () => {
    const rules = buildRules(parseTestFlags(ISTIO_INIT_ARGS, { environment: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' } }).redirect, 'ipv4');
    assert.ok(lines(rules, 'SIDING_OUTPUT').includes('-A SIDING_OUTPUT -d 127.0.0.0/8 -m comment --comment siding/loopback -j RETURN'));
  });

  it('drops packets conntrack marks INVALID with --drop-invalid, in the mangle table', () => {
    const rules = buildRules(config({ dropInvalid: true }), 'ipv4').filter((r) => r.table === 'mangle');
    assert.deepEqual(rules.map(renderRule), [
      '-A PREROUTING -m conntrack --ctstate INVALID -m comment --comment siding/drop-invalid-jump -j SIDING_DROP',
      '-A SIDING_DROP -m comment --comment siding/drop-invalid -j DROP',
    ]);
  });

  it('repeats the proxy exemptions for every UID and GID', () => {
    const rules = buildRules(config({ proxyUid: '1337,1338', proxyGid: '1400' }), 'ipv4');
    assert.equal(rules.filter((r) => r.purpose === 'proxy-uid').length, 2);
    assert.equal(rules.filter((r) => r.purpose === 'proxy-gid').length, 1);
  });

  it('is pure: the same config gives the same rules (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          istioLocalExcludePorts: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 5 }).map((a) => a.join(',')),
          istioServiceCidr: fc.constantFrom('*', '', '10.0.0.0/8', 'fd00::/8,10.0.0.0/8'),
          redirectDns: fc.boolean(),
        }),
        (raw) => {
          const cfg = config(raw);
          assert.deepEqual(buildRules(cfg, 'ipv4'), buildRules(cfg, 'ipv4'));
          // every chain a rule jumps to is filled by some rule of the same table
          const rules = buildRules(cfg, 'ipv6');
          for (const r of rules) {
            const target = r.target[1] ?? '';
            if (r.target[0] === '-j' && target.startsWith(CHAIN_PREFIX)) {
              assert.ok(rules.some((x) => x.chain === target && x.table === r.table), `${target} is empty`);
            }
          }
        },
      ),
    );
  });
});
