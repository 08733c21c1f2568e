/**
 * Uninstalling the node agent as docs/cni.md says gives the node its CNI configuration back
 * byte for byte and removes siding's plugin. Runs last (it removes the agent).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, clients, eventually, kubectl, prereq, type Clients } from '../helpers/cluster.js';
import { AGENT, agentReady, testenvPaths } from '../helpers/cni.js';

describe('uninstalling CNI mode', skipUnless(prereq), () => {
  let c: Clients;
  before(() => {
    c = clients();
  });

  it('restores the node CNI configuration byte for byte and removes the plugin', async () => {
    await agentReady(c);
    const paths = testenvPaths();
    assert.notEqual(readFileSync(join(paths.confDir, AGENT.conflist), 'utf8'), readFileSync(paths.original, 'utf8'), 'chained while installed');
    // docs/cni.md, "Uninstall", step 3.
    for (const args of [
      ['-n', SIDING.namespace, 'delete', 'daemonset', AGENT.daemonSet],
      ['delete', 'clusterrolebinding', 'siding-cni'],
      ['delete', 'clusterrole', 'siding-cni'],
      ['-n', SIDING.namespace, 'delete', 'serviceaccount', 'siding-cni'],
    ]) {
      const r = await kubectl(args);
      assert.equal(r.exitCode, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    }
    await eventually('the agent pod to be gone', async () => {
      const pods = await c.core.listNamespacedPod({ namespace: SIDING.namespace, labelSelector: AGENT.labels });
      return pods.items.length === 0 ? true : undefined;
    }, 90_000);
    assert.equal(readFileSync(join(paths.confDir, AGENT.conflist), 'utf8'), readFileSync(paths.original, 'utf8'));
    assert.deepEqual(readdirSync(paths.confDir), [AGENT.conflist]);
    assert.equal(existsSync(join(paths.binDir, 'siding')), false, 'the plugin is removed');
    assert.deepEqual(readdirSync(paths.binDir).sort(), ['bridge', 'host-local', 'loopback', 'portmap']);
  });
});
