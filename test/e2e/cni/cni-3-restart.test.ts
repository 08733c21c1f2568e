/**
 * Restarting the node agent (`kubectl rollout restart` of its DaemonSet) leaves running pods
 * alone: their rules live in their own network namespaces. A request loop through both
 * proxies runs across the restart without a failure, and no container restarts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, clients, kubectl, kubectlApply, Namespaces, prereq, type Clients } from '../helpers/cluster.js';
import { IDLE_SCRIPT, SERVER_SCRIPT, podReady, requests } from '../helpers/node.js';
import { AGENT, RESTRICTED_INJECTED, agentReady, peerAddresses, restrictedPod, testenvPaths } from '../helpers/cni.js';

const restarts = (p: k8s.V1Pod): number =>
  [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].reduce((n, s) => n + s.restartCount, 0);

describe('restarting the CNI agent', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-cni-restart', { ...RESTRICTED_INJECTED });
  });
  after(async () => namespaces?.cleanup());

  it('does not disturb running injected pods: their traffic goes on, nothing restarts', async () => {
    const applied = await kubectlApply([
      restrictedPod(ns, 'server', SERVER_SCRIPT, { ports: [{ containerPort: 8080 }] }),
      restrictedPod(ns, 'client', IDLE_SCRIPT),
    ]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    const server = await podReady(c, ns, 'server');
    const client = await podReady(c, ns, 'client');
    const oldAgent = await agentReady(c);

    // 60 requests, 250 ms apart: about 15 s of traffic, during which the agent restarts.
    const loop = requests(ns, 'client', `http://${server.status?.podIP ?? ''}:8080/`, 60, 250);
    const restart = await kubectl(['-n', SIDING.namespace, 'rollout', 'restart', `daemonset/${AGENT.daemonSet}`]);
    assert.equal(restart.exitCode, 0, restart.stderr);
    const newAgent = await agentReady(c, oldAgent.metadata?.uid);
    const r = await loop;
    assert.equal(r.failed, 0, JSON.stringify(r));
    assert.equal(r.ok, 60);
    assert.deepEqual(peerAddresses(r.peers), ['127.0.0.6'], 'every request went through the server proxy');

    for (const [name, was] of [['server', server], ['client', client]] as const) {
      const now = await c.core.readNamespacedPod({ namespace: ns, name });
      assert.equal(now.metadata?.uid, was.metadata?.uid, `${name} is the same pod`);
      assert.equal(restarts(now), restarts(was), `no container of ${name} restarted`);
    }
    assert.notEqual(newAgent.metadata?.uid, oldAgent.metadata?.uid);
    // The new agent chained siding again.
    const conf = JSON.parse(readFileSync(join(testenvPaths().confDir, AGENT.conflist), 'utf8')) as { plugins: { type: string }[] };
    assert.equal(conf.plugins.at(-1)?.type, 'siding');
  });
});
