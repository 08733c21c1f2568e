/**
 * Race repair: with the agent stopped on the node (its DaemonSet kept off it by a node
 * selector), an injected pod starts without its redirect and siding-validation stops it
 * (exit 126). Once the agent runs again, it deletes that pod, with an event saying why, and
 * the pod's ReplicaSet creates one that gets its redirect and runs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, clients, eventually, kubectl, kubectlApply, Namespaces, prereq, type Clients } from '../helpers/cluster.js';
import { IDLE_SCRIPT, containerStatus, podReady } from '../helpers/node.js';
import { AGENT, RESTRICTED_INJECTED, agentLog, agentReady, restrictedDeployment, testenvPaths } from '../helpers/cni.js';

const VALIDATION = 'siding-validation';

describe('repair of pods that started while the CNI agent was stopped', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;
  let stopped = false;

  const setSelector = (on: boolean) =>
    kubectl([
      '-n', SIDING.namespace, 'patch', 'daemonset', AGENT.daemonSet, '--type', 'json', '-p',
      JSON.stringify(
        on
          ? [{ op: 'add', path: '/spec/template/spec/nodeSelector', value: { 'siding.io/e2e-no-such-node': 'true' } }]
          : [{ op: 'remove', path: '/spec/template/spec/nodeSelector' }],
      ),
    ]);

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-cni-repair', { ...RESTRICTED_INJECTED });
  });
  after(async () => {
    if (stopped) await setSelector(false);
    await namespaces?.cleanup();
  });

  it('deletes the pod that has no redirect once the agent is back, and its replacement runs', async () => {
    const agent = await agentReady(c);
    const paths = testenvPaths();
    assert.equal((await setSelector(true)).exitCode, 0);
    stopped = true;
    await eventually('the agent to be gone from the node', async () => {
      const pods = await c.core.listNamespacedPod({ namespace: SIDING.namespace, labelSelector: AGENT.labels });
      return pods.items.length === 0 ? true : undefined;
    }, 90_000);
    // Stopping, it took siding out of the node's configuration: exactly the original bytes.
    assert.equal(readFileSync(join(paths.confDir, AGENT.conflist), 'utf8'), readFileSync(paths.original, 'utf8'));

    const applied = await kubectlApply([restrictedDeployment(ns, 'app', IDLE_SCRIPT, { app: 'app' })]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    const broken = await eventually(
      'the pod without its redirect to fail siding-validation with 126',
      async () => {
        const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=app' });
        return pods.items.find((p) => {
          const s = containerStatus(p, VALIDATION);
          return (s?.state?.terminated?.exitCode ?? s?.lastState?.terminated?.exitCode) === 126;
        });
      },
      90_000,
    );
    const log = await kubectl(['logs', '-n', ns, broken.metadata?.name ?? '', '-c', VALIDATION, '--previous']);
    const now = await kubectl(['logs', '-n', ns, broken.metadata?.name ?? '', '-c', VALIDATION]);
    assert.match(log.stdout + log.stderr + now.stdout + now.stderr, /validation failed: a TCP connection to 127\.0\.0\.6:15002 should have been redirected to port 15006/);
    assert.equal(containerStatus(broken, 'app')?.state?.running, undefined, 'the app never started');

    assert.equal((await setSelector(false)).exitCode, 0);
    stopped = false;
    await agentReady(c, agent.metadata?.uid);

    const brokenUid = broken.metadata?.uid ?? '';
    await eventually('the pod without its redirect to be deleted', async () => {
      try {
        const p = await c.core.readNamespacedPod({ namespace: ns, name: broken.metadata?.name ?? '' });
        return p.metadata?.uid !== brokenUid || p.metadata?.deletionTimestamp !== undefined ? true : undefined;
      } catch {
        return true;
      }
    }, 90_000).catch(async (e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\nthe agent's log:\n${await agentLog()}`);
    });
    const events = await eventually('the repair event', async () => {
      const list = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.uid=${brokenUid}` });
      return list.items.find((e) => e.reason === 'SidingRedirectMissing');
    });
    assert.equal(events.type, 'Warning');
    assert.match(events.message ?? '', /siding deleted this pod: it started before siding's CNI agent was ready on node .*ReplicaSet/);

    const replacement = await eventually('a replacement pod', async () => {
      const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=app' });
      return pods.items.find((p) => p.metadata?.uid !== brokenUid && p.metadata?.deletionTimestamp === undefined);
    });
    const ready: k8s.V1Pod = await podReady(c, ns, replacement.metadata?.name ?? '', 90_000);
    assert.equal(containerStatus(ready, VALIDATION)?.state?.terminated?.exitCode, 0);
  });
});
