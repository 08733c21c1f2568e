/**
 * `siding init` against the real istio-iptables, built from the istio.io/istio module pinned
 * in test/peers/go.mod (scripts/build-peers.sh). For each flag combination, both run with the
 * same arguments and environment in two fresh, identical labs (init-lib.ts), then the same
 * real connections are made in both (init-probes.ts) and the same listener must answer each.
 * A difference fails unless DOCUMENTED lists it (and docs/init.md explains it).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI, initPrerequisite, Lab, LOCAL_DNS, PEER4, PEER4B, PEER6, PEER6B } from './init-lib.js';
import type { LabOptions, Result } from './init-lib.js';
import { OTHER_GROUP, probesFor, runProbes } from './init-probes.js';
import { skipUnless, prerequisite } from '../helpers/prereq.js';

const base = initPrerequisite();
let istio = '';
const prereq =
  base.missing !== undefined
    ? base
    : prerequisite(() => {
        try {
          const script = fileURLToPath(new URL('../../scripts/build-peers.sh', import.meta.url));
          const dir = execFileSync('bash', [script, '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop() ?? '';
          istio = `${dir}/istio-iptables`;
          return undefined;
        } catch (e) {
          return `istio-iptables is not built (run scripts/build-peers.sh): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
        }
      });

const ISTIO_INIT_ARGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];
/** The peer's first addresses are the pod's nameservers; its second ones are not. */
const RESOLV = `nameserver ${PEER4}\nnameserver ${PEER6}\nsearch svc.cluster.local\n`;

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly lab?: LabOptions;
  /** siding refuses these flags on purpose (a documented difference); istio-iptables applies them. */
  readonly sidingRefuses?: RegExp;
  /** Both refuse the input. */
  readonly bothRefuse?: boolean;
}

const NATIVE_V6 = '--native-nftables in a pod with IPv6 addresses, without --dual-stack';

// The labs: both families on both sides, siding and istio each add ::6 themselves.
const DUAL: LabOptions = { ipv6: true, passthroughAddress: false, resolvConf: RESOLV };
const VIRT: LabOptions = { ...DUAL, virtualLink: true };
const UIDS: LabOptions = { ...DUAL, proxyUid: 3, proxyGid: 1 };

const CASES: readonly Case[] = [
  // Istio's default command, and the cases siding documents as compatible.
  { name: "Istio's default command", args: ISTIO_INIT_ARGS },
  { name: 'the default command with a trailing comma', args: [...ISTIO_INIT_ARGS.slice(0, -1), '15090,15021,15020,'] },
  { name: 'no inbound capture (-b empty)', args: ['-i', '*', '-b', ''] },
  { name: '-k with -i a CIDR list', args: ['-k', 'eth1', '-i', '10.0.0.0/8', '-b', '*'], lab: VIRT },
  { name: '-k on the main interface with -i a CIDR list', args: ['-k', 'eth0', '-i', '10.0.0.0/8', '-b', '*'], lab: VIRT },
  { name: '-k with -i empty', args: ['-k', 'eth1', '-i', '', '-b', '*'], lab: VIRT },
  { name: '-k with -i *', args: ['-k', 'eth1', '-i', '*', '-b', '*'], lab: VIRT },
  { name: '-o 443 -q 443', args: ['-i', '', '-b', '*', '-o', '443', '-q', '443'] },
  { name: '-q with -x', args: ['-i', '', '-b', '*', '-q', '9000', '-x', `${PEER4}/32`] },
  { name: '-o with -i * (TCP and UDP)', args: [...ISTIO_INIT_ARGS, '-o', '9000,53'] },
  { name: '-i holding a loopback address', args: ['-i', '127.1.2.3/32', '-b', '*'] },
  { name: '--redirect-dns (nameservers of resolv.conf)', args: [...ISTIO_INIT_ARGS, '--redirect-dns'] },
  { name: '--redirect-dns --capture-all-dns', args: [...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns'] },
  { name: '--redirect-dns with a resolver on loopback', args: [...ISTIO_INIT_ARGS, '--redirect-dns'], lab: { ...DUAL, resolvConf: `nameserver ${LOCAL_DNS}\n` } },
  { name: '--redirect-dns without nameservers', args: [...ISTIO_INIT_ARGS, '--redirect-dns'], lab: { ...DUAL, resolvConf: 'search example.com\n' } },
  { name: '--redirect-dns with -o 53', args: [...ISTIO_INIT_ARGS, '--redirect-dns', '-o', '53'] },
  { name: 'a dual-stack pod with --dual-stack', args: [...ISTIO_INIT_ARGS, '--dual-stack'] },
  { name: 'a dual-stack pod with --dual-stack and DNS', args: [...ISTIO_INIT_ARGS, '--dual-stack', '--redirect-dns'] },
  { name: 'a dual-stack pod with --dual-stack and all DNS', args: [...ISTIO_INIT_ARGS, '--dual-stack', '--redirect-dns', '--capture-all-dns'] },
  { name: 'an IPv6-only pod', args: ISTIO_INIT_ARGS, lab: { ...DUAL, podIpv4: false } },
  { name: 'port ranges', args: ['-i', '*', '-b', '*', '-d', '15020:15021,8081', '-o', '9000:9001'] },
  { name: 'several UIDs and a GID', args: [...ISTIO_INIT_ARGS, '-u', '1337,1338', '-g', '1400'] },
  { name: '-u and -g lists without 1337', args: [...ISTIO_INIT_ARGS.filter((a, i) => a !== '-u' && ISTIO_INIT_ARGS[i - 1] !== '-u'), '-u', '3,4', '-g', '1,2'], lab: UIDS },
  { name: '-c on the second interface', args: [...ISTIO_INIT_ARGS, '-c', 'eth1'], lab: VIRT },
  { name: '-c and -k on the same interface', args: [...ISTIO_INIT_ARGS, '-c', 'eth1', '-k', 'eth1'], lab: VIRT },
  { name: 'flags from environment variables', args: [], env: { ISTIO_SERVICE_CIDR: '*', ISTIO_INBOUND_PORTS: '*', ISTIO_LOCAL_EXCLUDE_PORTS: '15021,', PROXY_UID: '1337' } },
  { name: 'a flag overrides its environment variable', args: ['-i', '*', '-b', '8080'], env: { ISTIO_SERVICE_CIDR: '', ISTIO_INBOUND_PORTS: '*' } },
  { name: 'ISTIO_META_DNS_CAPTURE wins over REDIRECT_DNS', args: ISTIO_INIT_ARGS, env: { REDIRECT_DNS: 'false', ISTIO_META_DNS_CAPTURE: 'true', CAPTURE_ALL_DNS: 'true' } },
  { name: 'ISTIO_DUAL_STACK and INBOUND_CAPTURE_PORT', args: ['-i', '*', '-b', '*'], env: { ISTIO_DUAL_STACK: 'true', INBOUND_CAPTURE_PORT: '15001' } },
  { name: '--drop-invalid', args: [...ISTIO_INIT_ARGS, '--drop-invalid'] },
  { name: '--native-nftables in an IPv4 pod', args: [...ISTIO_INIT_ARGS, '--native-nftables'], lab: { ...DUAL, ipv6: false } },
  { name: '--native-nftables --dual-stack', args: [...ISTIO_INIT_ARGS, '--native-nftables', '--dual-stack'] },
  { name: NATIVE_V6, args: [...ISTIO_INIT_ARGS, '--native-nftables'] },
  { name: '--reconcile --force-apply --cni-mode', args: [...ISTIO_INIT_ARGS, '--reconcile', '--force-apply', '--cni-mode'] },
  { name: 'boolean flags written with values', args: [...ISTIO_INIT_ARGS, '--redirect-dns=true', '--dual-stack=false', '--log_as_json', '--log_output_level=default:info'] },
  // istio-iptables' own golden cases (capture/testdata), with addresses and ports of the lab.
  { name: 'istio case empty', args: [] },
  { name: 'istio case ip-range', args: ['-x', `${PEER4B}/32`, '-i', '10.250.0.0/24', '--redirect-dns', '-g', '1,2', '-u', '3,4'], lab: { ...UIDS, resolvConf: `nameserver ${LOCAL_DNS}\n` } },
  { name: 'istio case ipv6-empty-inbound-ports', args: ['-b', '', '--dual-stack'] },
  { name: 'istio case ipv6-inbound-ports', args: ['-b', '8080,5000', '--dual-stack'] },
  { name: 'istio case ipv6-virt-interfaces', args: ['-b', '8080,5000', '-k', 'eth0,eth1', '--dual-stack'], lab: VIRT },
  { name: 'istio case ipv6-ipnets', args: ['-b', '8080,5000', '-d', '6000,7000,', '-k', 'eth1', '-x', `${PEER6B}/128`, '-i', 'fd00:5d::/64', '--dual-stack'], lab: VIRT },
  { name: 'istio case ipv6-uid-gid', args: ['-b', '8080,5000', '-d', '6000,7000', '-k', 'eth1', '-g', '1,2', '-u', '3,4', '-x', `${PEER6B}/128`, '-i', 'fd00:5d::/64', '--dual-stack'], lab: { ...VIRT, proxyUid: 3, proxyGid: 1 } },
  { name: 'istio case ipv6-outbound-ports', args: ['-b', '', '-q', '9000,31000', '--dual-stack'] },
  { name: 'istio case kube-virt-interfaces', args: ['-k', 'eth1,eth2', '-i', '*'], lab: VIRT },
  { name: 'istio case ipnets', args: ['-i', '10.0.0.0/8'] },
  { name: 'istio case ipnets-with-kube-virt-interfaces', args: ['-k', 'eth1,eth2', '-i', '10.0.0.0/8'], lab: VIRT },
  { name: 'istio case inbound-ports-include', args: ['-b', '8080,31000'] },
  { name: 'istio case inbound-ports-wildcard', args: ['-b', '*'] },
  { name: 'istio case dns-uid-gid', args: ['--redirect-dns', '-g', '1,2', '-u', '3,4', '--dual-stack', '-i', '*'], lab: UIDS },
  { name: 'istio case ipv6-dns-uid-gid', args: ['--redirect-dns', '-g', '1,2', '-u', '3,4', '--dual-stack', '-i', '*'], lab: { ...UIDS, resolvConf: '' } },
  { name: 'istio case outbound-owner-groups', args: ISTIO_INIT_ARGS, env: { ISTIO_OUTBOUND_OWNER_GROUPS: `${2000},daemon` } },
  { name: 'istio case outbound-owner-groups-exclude', args: ISTIO_INIT_ARGS, env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: `${OTHER_GROUP},daemon` } },
  { name: 'istio case ipv6-dns-outbound-owner-groups', args: [...ISTIO_INIT_ARGS, '--dual-stack', '--redirect-dns'], env: { ISTIO_OUTBOUND_OWNER_GROUPS: `${2000},daemon` } },
  { name: 'istio case ipv6-dns-outbound-owner-groups-exclude', args: [...ISTIO_INIT_ARGS, '--dual-stack', '--redirect-dns'], env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: `${OTHER_GROUP},daemon` } },
  { name: 'istio case outbound-ports-include', args: ['-q', '9000,31000'] },
  { name: 'istio case loopback-outbound-iprange', args: ['-i', '127.1.2.3/32', '--redirect-dns', '-g', '1,2', '-u', '3,4'], lab: { ...UIDS, resolvConf: `nameserver ${LOCAL_DNS}\n` } },
  { name: 'istio case basic-exclude-nic', args: ['-c', 'eth1', '-i', '*', '-b', '*'], lab: VIRT },
  { name: 'istio case drop-invalid', args: ['--drop-invalid', '-i', '*', '-b', '*'] },
  { name: 'istio case host-ipv4-loopback-cidr', args: ISTIO_INIT_ARGS, env: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' } },
  // siding's documented refusal, and input both refuse.
  { name: 'TPROXY (siding refuses it)', args: [...ISTIO_INIT_ARGS.slice(0, 6), '-m', 'TPROXY', ...ISTIO_INIT_ARGS.slice(8)], sidingRefuses: /TPROXY interception is not supported/ },
  { name: 'an invalid CIDR', args: [...ISTIO_INIT_ARGS, '-x', '10.0.0.0/33'], bothRefuse: true },
  { name: 'an IPv4 loopback range that is not loopback', args: ISTIO_INIT_ARGS, env: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '10.0.0.0/8' }, bothRefuse: true },
];

/**
 * Differences siding has on purpose, per case and probe; each is explained in docs/init.md
 * ("Differences from istio-iptables"). Every other probe of every case must match.
 */
const DOCUMENTED: readonly { readonly caseName: string; readonly probe: string; readonly why: string }[] = [
  // istio-iptables --native-nftables writes inet tables: its rules without an address match
  // IPv6 too, even when it does not program IPv6. siding's --native-nftables is its iptables
  // behaviour through iptables-nft, which leaves IPv6 alone unless IPv6 is programmed.
  ...['app -> peer6:9000', 'app -> peer6 b:9000', 'app tcp dns -> peer6:53', 'peer -> pod6:8080'].map((probe) => ({
    caseName: NATIVE_V6,
    probe,
    why: 'istio native nftables captures IPv6 of a pod whose IPv6 it does not program',
  })),
];

/** Two labs made side by side; when one cannot be made, the other is taken down again. */
async function twinLabs(opts: LabOptions): Promise<[Lab, Lab]> {
  const made = await Promise.allSettled([Lab.create('istio', opts), Lab.create('siding', opts)]);
  const [a, b] = made;
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  for (const m of made) if (m.status === 'fulfilled') await m.value.destroy();
  throw (a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason) as Error;
}

const show = (args: readonly string[]): string => args.map((a) => (a === '' ? "''" : /[\s*]/.test(a) ? `'${a}'` : a)).join(' ');
const fmt = (r: Result): string => `exit ${r.code}\n${r.stderr.slice(-1500)}${r.stdout.slice(-1500)}`;

describe('siding init behaves like istio-iptables for the same flags (real traffic)', skipUnless(prereq), () => {
  const timings: string[] = [];
  after(() => {
    if (timings.length > 0) process.stderr.write(`differential suite timings:\n${timings.join('\n')}\n`);
  });

  for (const c of CASES) {
    it(`answers every probe as istio-iptables does: ${c.name} (${show(c.args)}${c.env === undefined ? '' : ` with ${Object.keys(c.env).join(', ')}`})`, async (t) => {
      const started = Date.now();
      const opts = c.lab ?? DUAL;
      const [a, b] = await twinLabs(opts);
      try {
        const [ri, rs] = await Promise.all([a.exec(istio, c.args, c.env), b.exec(process.execPath, [CLI, 'init', ...c.args], c.env)]);
        if (c.bothRefuse === true) {
          assert.notEqual(ri.code, 0, `istio-iptables accepted the input: ${fmt(ri)}`);
          assert.equal(rs.code, 2, `siding init did not refuse the input with exit 2: ${fmt(rs)}`);
          return;
        }
        assert.equal(ri.code, 0, `istio-iptables failed: ${fmt(ri)}`);
        if (c.sidingRefuses !== undefined) {
          assert.equal(rs.code, 2, fmt(rs));
          assert.match(rs.stderr, c.sidingRefuses);
          return;
        }
        assert.equal(rs.code, 0, `siding init failed: ${fmt(rs)}`);
        const probes = probesFor(opts);
        const [pi, ps] = await Promise.all([runProbes(a, probes), runProbes(b, probes)]);
        // A probe that differs is made again in both labs, alone and with a longer timeout, so
        // a connection slowed by a loaded machine is not taken for a difference in the rules.
        const differing = probes.filter((p) => pi.get(p.id) !== ps.get(p.id));
        if (differing.length > 0) {
          const [ri2, rs2] = await Promise.all([runProbes(a, differing, 5000), runProbes(b, differing, 5000)]);
          for (const p of differing) {
            pi.set(p.id, ri2.get(p.id) ?? 'MISSING');
            ps.set(p.id, rs2.get(p.id) ?? 'MISSING');
          }
        }
        const differences: string[] = [];
        for (const p of probes) {
          const want = pi.get(p.id);
          const got = ps.get(p.id);
          const documented = DOCUMENTED.some((d) => d.caseName === c.name && d.probe === p.id);
          // A documented difference must still be one, or the documentation has gone stale.
          if (documented && want === got) differences.push(`  ${p.id}: documented as a difference, but both answered ${want}`);
          if (want === got || documented) continue;
          differences.push(`  ${p.id}: istio-iptables -> ${want}, siding init -> ${got}`);
        }
        t.diagnostic(`${probes.length} probes; ${[...pi.values()].filter((v) => v === 'outbound').length} to the outbound port, ${[...pi.values()].filter((v) => v === 'inbound').length} to the inbound port`);
        assert.deepEqual(differences, [], `different answers:\n${differences.join('\n')}\nistio-iptables log:\n${ri.stdout.slice(-3000)}`);
      } finally {
        await Promise.all([a.destroy(), b.destroy()]);
        timings.push(`  ${((Date.now() - started) / 1000).toFixed(1)} s  ${c.name}`);
      }
    });
  }
});
