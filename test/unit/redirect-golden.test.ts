/**
 * Golden payloads: `siding init ... --dry-run` through the real commander command, for many
 * flag combinations (test/helpers/golden.ts: UPDATE_GOLDEN=1 rewrites the files, a mismatch
 * prints a diff, a golden file that no case declares fails the run).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerInit } from '../../src/cli/init.js';
import { RecordingRunner } from '../../src/redirect/runner.js';
import { GoldenSet } from '../helpers/golden.js';

/** The command line of a typical injected pod (what the webhook's siding-init runs, by default). */
const ISTIO_INIT_ARGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];

/** A case: the arguments, and environment variables (istio-iptables reads its flags from them too). */
type Case = string[] | { args: string[]; env: Record<string, string> };

const CASES: Record<string, Case> = {
  'istio-injector': ISTIO_INIT_ARGS,
  'istio-injector-ipv4-only': [...ISTIO_INIT_ARGS, '--ipv6', 'off'],
  'istio-injector-trailing-comma': [...ISTIO_INIT_ARGS.slice(0, -1), '15090,15021,15020,'],
  defaults: [],
  'redirect-dns': [...ISTIO_INIT_ARGS, '--redirect-dns'],
  'redirect-dns-custom-port': [...ISTIO_INIT_ARGS, '--redirect-dns', '--dns-port', '5353', '--ipv6', 'off'],
  'capture-all-dns': [...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns'],
  'include-cidrs': ['-i', '10.0.0.0/8,172.16.0.0/12,fd00::/8', '-b', '*'],
  'exclude-cidrs': [...ISTIO_INIT_ARGS, '-x', '10.96.0.0/12,169.254.169.254,2001:db8::/32'],
  'inbound-port-list': ['-i', '*', '-b', '8080,9090-9099', '-d', '15020'],
  'inbound-none': ['-i', '*', '-b', ''],
  'outbound-ports': [...ISTIO_INIT_ARGS, '-o', '3306,5432-5440', '-q', '443'],
  'include-ports-only': ['-i', '', '-b', '*', '-q', '443,8443'],
  'several-uids-and-gid': [...ISTIO_INIT_ARGS, '-u', '1337,1338', '-g', '1400', '--ipv6', 'off'],
  interfaces: [...ISTIO_INIT_ARGS, '-c', 'eth1,eth2', '-k', 'net1', '--ipv6', 'off'],
  'virtual-interfaces-with-cidrs': ['-i', '10.0.0.0/8', '-b', '*', '-k', 'net1,net2', '--ipv6', 'off'],
  'custom-ports': ['-p', '16001', '-z', '16006', '-e', '16008', '-i', '*', '-b', '*', '--ipv6', 'off'],
  'from-environment': { args: ['-b', '8080'], env: { ISTIO_SERVICE_CIDR: '*', ISTIO_INBOUND_PORTS: '*', PROXY_UID: '1500', ISTIO_META_DNS_CAPTURE: 'true' } },
  cleanup: [...ISTIO_INIT_ARGS, '--redirect-dns', '--cleanup'],
  // istio-iptables' own golden cases (capture/testdata), as siding flags: a checklist of
  // configurations whose meaning the differential suite compares with istio-iptables.
  'istio-empty': [],
  'istio-ip-range': ['-x', '1.1.0.0/16', '-i', '9.9.0.0/16', '--redirect-dns', '-g', '1,2', '-u', '3,4', '--ipv6', 'off'],
  'istio-ipv6-empty-inbound-ports': ['-b', '', '--ipv6', 'on'],
  'istio-ipv6-inbound-ports': ['-b', '4000,5000', '--ipv6', 'on'],
  'istio-ipv6-virt-interfaces': ['-b', '4000,5000', '-k', 'eth0,eth1', '--ipv6', 'on'],
  'istio-ipv6-ipnets': ['-b', '4000,5000', '-d', '6000,7000,', '-k', 'eth0,eth1', '-x', '2001:db8::/32', '-i', '2001:db8::/32', '--ipv6', 'on'],
  'istio-ipv6-uid-gid': ['-b', '4000,5000', '-d', '6000,7000', '-k', 'eth0,eth1', '-g', '1,2', '-u', '3,4', '-x', '2001:db8::/32', '-i', '2001:db8::/32', '--ipv6', 'on'],
  'istio-ipv6-outbound-ports': ['-b', '', '-q', '32000,31000', '--ipv6', 'on'],
  'istio-kube-virt-interfaces': ['-k', 'eth1,eth2', '-i', '*', '--ipv6', 'off'],
  'istio-ipnets': ['-i', '10.0.0.0/8', '--ipv6', 'off'],
  'istio-ipnets-with-kube-virt-interfaces': ['-k', 'eth1,eth2', '-i', '10.0.0.0/8', '--ipv6', 'off'],
  'istio-inbound-ports-include': ['-b', '32000,31000', '--ipv6', 'off'],
  'istio-inbound-ports-wildcard': ['-b', '*', '--ipv6', 'off'],
  'istio-dns-uid-gid': ['--redirect-dns', '-g', '1,2', '-u', '3,4', '--ipv6', 'on'],
  'istio-outbound-owner-groups': { args: ['--ipv6', 'off'], env: { ISTIO_OUTBOUND_OWNER_GROUPS: 'daemon,202' } },
  'istio-outbound-owner-groups-exclude': { args: ['--ipv6', 'off'], env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888,daemon' } },
  'istio-ipv6-dns-outbound-owner-groups': { args: ['--redirect-dns', '--ipv6', 'on'], env: { ISTIO_OUTBOUND_OWNER_GROUPS: 'daemon,202' } },
  'istio-ipv6-dns-outbound-owner-groups-exclude': { args: ['--redirect-dns', '--ipv6', 'on'], env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888,daemon' } },
  'istio-outbound-ports-include': ['-q', '32000,31000', '--ipv6', 'off'],
  'istio-loopback-outbound-iprange': ['-i', '127.1.2.3/32', '--redirect-dns', '-g', '1,2', '-u', '3,4', '--ipv6', 'off'],
  'istio-basic-exclude-nic': ['-c', 'not-istio-nic', '--ipv6', 'off'],
  'istio-drop-invalid': ['--drop-invalid', '--ipv6', 'off'],
  'istio-host-ipv4-loopback-cidr': { args: ['--ipv6', 'off'], env: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' } },
};

// The container's files as --dry-run reads them: the nameservers DNS capture is limited to.
const FILES: Record<string, string> = { '/etc/resolv.conf': 'nameserver 127.0.0.53\nnameserver ::127.0.0.53\n' };

/** Runs `siding init <args> --dry-run` in this process; nothing may run, and only FILES be read. */
async function dryRun(args: string[], environment: Record<string, string> = {}): Promise<{ out: string; runner: RecordingRunner }> {
  let out = '';
  const runner = new RecordingRunner();
  const program = new Command('siding').exitOverride();
  const forbidden = (what: string) => (): never => {
    throw new Error(`--dry-run must not ${what}`);
  };
  registerInit(program, {
    runner,
    out: (t) => (out += t),
    err: () => undefined,
    lookPath: forbidden('look up programs'),
    readFile: (p) => FILES[p],
    sleep: forbidden('sleep'),
    exists: () => true,
    environment,
  });
  program.commands.forEach((c) => c.exitOverride());
  await program.parseAsync(['init', ...args, '--dry-run'], { from: 'user' });
  return { out, runner };
}

const golden = new GoldenSet('redirect', Object.keys(CASES).map((name) => `${name}.txt`));

describe('golden --dry-run payloads', () => {
  for (const [name, c] of Object.entries(CASES)) {
    const { args, env } = Array.isArray(c) ? { args: c, env: {} } : c;
    const envText = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
    it(`prints the expected payload for ${name}: ${envText}siding init ${args.map((a) => (a === '' ? "''" : a)).join(' ')}`, async () => {
      const { out, runner } = await dryRun(args, env);
      assert.equal(runner.commands.length, 0, '--dry-run runs no program');
      golden.check(`${name}.txt`, out);
    });
  }

  it('prints the same payload for the istio-iptables long flag names as for the short ones', async () => {
    const long = await dryRun([
      '--envoy-port', '15001', '--inbound-capture-port', '15006', '--proxy-uid', '1337', '--istio-inbound-interception-mode', 'REDIRECT',
      '--istio-service-cidr', '*', '--istio-service-exclude-cidr', '', '--istio-inbound-ports', '*', '--istio-local-exclude-ports', '15090,15021,15020',
    ]);
    assert.equal(long.out, (await dryRun(ISTIO_INIT_ARGS)).out);
  });

  it('has a golden file for every case above and no other', () => {
    golden.assertNoStale();
  });
});
