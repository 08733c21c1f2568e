/**
 * CNI mode installed on the real node (`kube-testenv.sh up --cni`): the node agent runs, its
 * plugin is on the node and chained last into the node's CNI configuration, and
 * `siding check --live` reports the mode and the agent.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '../../helpers/fixtures.js';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, clients, prereq, siding, type Clients } from '../helpers/cluster.js';
import { AGENT, agentReady, testenvPaths } from '../helpers/cni.js';

describe('CNI mode on the node', skipUnless(prereq), () => {
  let c: Clients;
  before(() => {
    c = clients();
  });

  it('runs the agent, which installs its plugin and chains it last into the node configuration', async () => {
    const agent = await agentReady(c);
    assert.equal(agent.spec?.hostNetwork, true);
    const paths = testenvPaths();
    const plugin = join(paths.binDir, 'siding');
    assert.ok(existsSync(plugin), `${plugin} is missing`);
    assert.equal(statSync(plugin).mode & 0o111, 0o111, 'the plugin is executable');
    const conf = JSON.parse(readFileSync(join(paths.confDir, AGENT.conflist), 'utf8')) as { plugins: Record<string, unknown>[] };
    assert.deepEqual(conf.plugins.map((p) => p.type), ['bridge', 'portmap', 'siding']);
    assert.equal(conf.plugins[2]?.socket, '/var/run/siding/cni.sock');
    assert.deepEqual(conf.plugins[2]?.capabilities, { 'io.kubernetes.cri.pod-annotations': true });
    const original = JSON.parse(readFileSync(paths.original, 'utf8')) as { plugins: unknown[] };
    assert.deepEqual(conf.plugins.slice(0, 2), original.plugins, 'the node plugins are untouched');
  });

  it('siding check --live reports CNI mode from the live config and the agent ready on the node', async () => {
    const r = await siding(['check', '--live', '-f', fixturePath('e2e', 'pod.yaml')]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`redirect mode cni \\(ConfigMap ${SIDING.namespace}/siding-config\\): .*node agent ready on all 1 nodes \\(DaemonSet ${SIDING.namespace}/siding-cni\\)`));
  });
});
