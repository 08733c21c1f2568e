/**
 * `scripts/kube-testenv.sh down` after a round on the node (node or CNI mode) leaves nothing
 * behind: no process, mount, network namespace, link, cgroup, iptables rule, sysctl change
 * or file under the machine's /etc/cni and /opt/cni of the test environment's. Runs in the
 * machine's own namespaces (scripts/e2e.sh), brings the environment down itself, and
 * compares with the snapshot taken before `up --node` or `up --cni`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, prerequisite, skipUnless } from '../../helpers/prereq.js';
import { hostState, type HostState } from '../helpers/host-state.js';

const repo = new URL('../../../', import.meta.url).pathname;
const TESTENV = join(repo, 'scripts/kube-testenv.sh');
const beforeFile = process.env.SIDING_E2E_HOST_BEFORE ?? '';

const prereq = prerequisite(() => {
  if (beforeFile === '') return 'SIDING_E2E_HOST_BEFORE is not set (run through scripts/e2e.sh)';
  if (!isRoot()) return 'bringing the test environment down needs root';
  return undefined;
});

describe('kube-testenv.sh down after a round on the node', skipUnless(prereq), () => {
  it('leaves no process, mount, netns, link, cgroup, iptables rule, sysctl change or CNI file of the machine behind', () => {
    const before = JSON.parse(readFileSync(beforeFile, 'utf8')) as HostState;
    const env = Object.fromEntries(
      execFileSync('bash', [TESTENV, 'env'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    ) as Record<string, string>;
    const up = hostState();
    // The environment is up: the checks below look for things that exist now.
    assert.ok(up.netns.includes(env.netns!) && up.netns.includes(env.cp_netns!), 'the environment was not up');
    assert.ok(up.cgroups.some((c) => c.endsWith(`/${env.cgroup!}`)), `no cgroup ${env.cgroup!} while up`);

    execFileSync('bash', [TESTENV, 'down'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const after = hostState();

    const dir = env.dir!;
    assert.deepEqual(Object.entries(after.processes).filter(([, cmd]) => cmd.includes(`${dir}/`)), [], 'processes left');
    assert.deepEqual(after.mounts.filter((m) => m.includes(dir)), [], 'mounts left');
    // Names are compared with the snapshot: another environment on the machine may use the
    // same names (an older layout put its veth in the machine's namespace).
    const added = (now: string[], then: string[], names: (string | undefined)[]): string[] =>
      now.filter((n) => names.includes(n) && !then.includes(n));
    assert.deepEqual(added(after.netns, before.netns, [env.netns, env.cp_netns, env.netns2]), [], 'network namespaces left');
    assert.deepEqual(added(after.links, before.links, [env.veth, env.veth_peer, env.veth2, env.veth2_peer, env.bridge]), [], 'links left in the machine namespace');
    assert.deepEqual(after.cgroups.filter((c) => c.endsWith(`/${env.cgroup!}`)), [], 'cgroups left');
    assert.deepEqual(after.iptables, before.iptables, "the machine's iptables changed");
    assert.deepEqual(after.sysctls, before.sysctls, "the machine's sysctls changed");
    assert.deepEqual(after.cniFiles, before.cniFiles, "the machine's /etc/cni or /opt/cni changed");
    assert.deepEqual(readdirSync(dir), ['logs'], `state left in ${dir}`);
  });
});
