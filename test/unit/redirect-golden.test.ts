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

const CASES: Record<string, string[]> = {
  'istio-injector': ISTIO_INIT_ARGS,
  'istio-injector-ipv4-only': [...ISTIO_INIT_ARGS, '--ipv6', 'off'],
  defaults: [],
  'redirect-dns': [...ISTIO_INIT_ARGS, '--redirect-dns'],
  'redirect-dns-custom-port': [...ISTIO_INIT_ARGS, '--redirect-dns', '--dns-port', '5353', '--ipv6', 'off'],
  'include-cidrs': ['-i', '10.0.0.0/8,172.16.0.0/12,fd00::/8', '-b', '*'],
  'exclude-cidrs': [...ISTIO_INIT_ARGS, '-x', '10.96.0.0/12,169.254.169.254,2001:db8::/32'],
  'inbound-port-list': ['-i', '*', '-b', '8080,9090-9099', '-d', '15020'],
  'inbound-none': ['-i', '*', '-b', ''],
  'outbound-ports': [...ISTIO_INIT_ARGS, '-o', '3306,5432-5440', '-q', '443'],
  'include-ports-only': ['-i', '', '-b', '*', '-q', '443,8443'],
  'several-uids-and-gid': [...ISTIO_INIT_ARGS, '-u', '1337,1338', '-g', '1400', '--ipv6', 'off'],
  interfaces: [...ISTIO_INIT_ARGS, '-c', 'eth1,eth2', '-k', 'net1', '--ipv6', 'off'],
  'virtual-interfaces-with-cidrs': ['-i', '10.0.0.0/8', '-b', '*', '-k', 'net1,net2', '--ipv6', 'off'],
  'custom-ports': ['-p', '16001', '-z', '16006', '--inbound-tunnel-port', '16008', '-i', '*', '-b', '*', '--ipv6', 'off'],
  cleanup: [...ISTIO_INIT_ARGS, '--redirect-dns', '--cleanup'],
};

/** Runs `siding init <args> --dry-run` in this process; nothing may run or be read. */
async function dryRun(args: string[]): Promise<{ out: string; runner: RecordingRunner }> {
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
    readFile: forbidden('read files'),
    sleep: forbidden('sleep'),
    exists: () => true,
  });
  program.commands.forEach((c) => c.exitOverride());
  await program.parseAsync(['init', ...args, '--dry-run'], { from: 'user' });
  return { out, runner };
}

const golden = new GoldenSet('redirect', Object.keys(CASES).map((name) => `${name}.txt`));

describe('golden --dry-run payloads', () => {
  for (const [name, args] of Object.entries(CASES)) {
    it(`prints the expected payload for ${name}: siding init ${args.map((a) => (a === '' ? "''" : a)).join(' ')}`, async () => {
      const { out, runner } = await dryRun(args);
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
