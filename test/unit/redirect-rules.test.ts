import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseInitFlags } from '../../src/redirect/flags.js';
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
  return parseInitFlags({ ...ISTIO_INIT_ARGS, ...extra }, { exists: () => true }).redirect;
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

  it('orders the outbound chain as istio-iptables does', () => {
    const cfg = config({ istioServiceExcludeCidr: '10.96.0.0/12', istioLocalOutboundPortsExclude: '3306', istioOutboundPorts: '443' });
    assert.deepEqual(purposes(buildRules(cfg, 'ipv4'), 'SIDING_OUTPUT'), [
      'passthrough',
      'proxy-to-own-vip',
      'app-to-self',
      'proxy-uid',
      'proxy-to-own-vip',
      'app-to-self',
      'proxy-gid',
      'loopback',
      'include-outbound-port',
      'exclude-outbound-port',
      'exclude-cidr',
      'capture-outbound',
    ]);
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

  it('has no inbound chain or PREROUTING jump when -b is empty and no interfaces are given', () => {
    const rules = buildRules(config({ istioInboundPorts: '' }), 'ipv4');
    assert.ok(!rules.some((r) => r.chain === 'PREROUTING' || r.chain === 'SIDING_INBOUND' || r.chain === 'SIDING_IN_REDIRECT'));
    assert.ok(!rules.some((r) => r.purpose === 'proxy-to-own-vip'), 'nothing listens for inbound, so no proxy-to-own-VIP redirect');
  });

  it('captures only the listed inbound ports when -b is a list, ignoring -d', () => {
    assert.deepEqual(lines(buildRules(config({ istioInboundPorts: '8080,9000-9010' }), 'ipv4'), 'SIDING_INBOUND'), [
      '-A SIDING_INBOUND -p tcp --dport 15008 -m comment --comment siding/tunnel-port -j RETURN',
      '-A SIDING_INBOUND -p tcp --dport 8080 -m comment --comment siding/capture-inbound-port -j SIDING_IN_REDIRECT',
      '-A SIDING_INBOUND -p tcp --dport 9000:9010 -m comment --comment siding/capture-inbound-port -j SIDING_IN_REDIRECT',
    ]);
  });

  it('returns excluded interfaces first in both directions and sends virtual interfaces to the outbound redirect', () => {
    const rules = buildRules(config({ istioExcludeInterfaces: 'eth1', kubeVirtInterfaces: 'net1' }), 'ipv4');
    assert.equal(lines(rules, 'SIDING_INBOUND')[0], '-A SIDING_INBOUND -i eth1 -m comment --comment siding/exclude-interface -j RETURN');
    assert.equal(lines(rules, 'SIDING_INBOUND')[1], '-A SIDING_INBOUND -i net1 -m comment --comment siding/virtual-interface -j SIDING_REDIRECT');
    assert.equal(lines(rules, 'SIDING_OUTPUT')[0], '-A SIDING_OUTPUT -o eth1 -m comment --comment siding/exclude-interface -j RETURN');
  });

  it('adds the DNS chains, the TCP DNS redirect after the proxy exemptions, and conntrack zones', () => {
    const rules = buildRules(config({ redirectDns: true, dnsPort: '5353' }), 'ipv4');
    const out = purposes(rules, 'SIDING_OUTPUT');
    assert.ok(out.indexOf('dns-tcp') > out.lastIndexOf('proxy-gid'));
    assert.ok(out.indexOf('dns-tcp') < out.indexOf('loopback'));
    assert.deepEqual(lines(rules, 'SIDING_DNS'), [
      '-A SIDING_DNS -m owner --uid-owner 1337 -m comment --comment siding/dns-proxy-uid -j RETURN',
      '-A SIDING_DNS -m owner --gid-owner 1337 -m comment --comment siding/dns-proxy-gid -j RETURN',
      '-A SIDING_DNS -p udp -m comment --comment siding/dns-udp -j REDIRECT --to-ports 5353',
    ]);
    const zones = lines(rules, 'SIDING_DNS_ZONE_OUT');
    assert.equal(zones.at(-1), '-A SIDING_DNS_ZONE_OUT -p udp --dport 53 -m comment --comment siding/dns-zone-app-query -j CT --zone 2');
    assert.ok(zones.some((l) => l.includes('--sport 5353') && l.includes('--zone 2')));
    assert.deepEqual(lines(rules, 'SIDING_DNS_ZONE_IN'), ['-A SIDING_DNS_ZONE_IN -p udp --sport 53 -m comment --comment siding/dns-zone-upstream-answer -j CT --zone 1']);
    assert.ok(rules.some((r) => r.table === 'raw' && r.chain === 'OUTPUT'));
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
