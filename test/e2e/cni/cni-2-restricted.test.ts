/**
 * CNI mode's promise: in a namespace that enforces Pod Security "restricted", injected pods
 * whose own containers comply are admitted and run (no privileged init container), and their
 * traffic crosses both proxies; a pod siding did not inject, elsewhere, starts untouched and
 * never reaches the agent.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { skipUnless } from '../../helpers/prereq.js';
import { clients, kubectl, kubectlApply, Namespaces, prereq, type Clients } from '../helpers/cluster.js';
import { IDLE_SCRIPT, PROXY_CONTAINER, SERVER_SCRIPT, containerStatus, podReady, requests } from '../helpers/node.js';
import { RESTRICTED_INJECTED, agentCalls, agentMetrics, agentReady, cniInjectionProblems, peerAddresses, restrictedDeployment, restrictedPod, service, traffic, trafficDelta } from '../helpers/cni.js';

const SERVER = { app: 'server' };
const VALIDATION = 'siding-validation';

describe('injected pods under Pod Security restricted, in CNI mode', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-cni', { ...RESTRICTED_INJECTED });
  });
  after(async () => namespaces?.cleanup());

  const serverPod = async (): Promise<k8s.V1Pod> => {
    const list = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=server' });
    const p = list.items.find((x) => x.metadata?.deletionTimestamp === undefined);
    if (p?.metadata?.name === undefined) throw new Error('no server pod');
    return podReady(c, ns, p.metadata.name);
  };

  it('admits and runs an injected server and client that meet restricted, with siding-validation instead of siding-init', async () => {
    const applied = await kubectlApply([
      restrictedDeployment(ns, 'server', SERVER_SCRIPT, SERVER, {
        ports: [{ containerPort: 8080 }, { containerPort: 8081 }],
        readinessProbe: { httpGet: { path: '/', port: 8081 }, periodSeconds: 1 },
      }, { 'traffic.siding.io/excludeInboundPorts': '8081' }),
      service(ns, 'server', SERVER),
      restrictedPod(ns, 'client', IDLE_SCRIPT),
    ]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.doesNotMatch(applied.stderr, /violate PodSecurity/, 'no Pod Security warning');
    for (const p of [await serverPod(), await podReady(c, ns, 'client')]) {
      assert.deepEqual(cniInjectionProblems(p), [], `${p.metadata?.name ?? '?'} is injected in CNI mode`);
      const init = (p.spec?.initContainers ?? []).map((x) => x.name);
      assert.deepEqual(init, [VALIDATION, PROXY_CONTAINER]);
      const validation = containerStatus(p, VALIDATION);
      assert.equal(validation?.state?.terminated?.exitCode, 0, JSON.stringify(validation));
      const spec = p.spec?.initContainers?.[0];
      assert.equal(spec?.securityContext?.runAsNonRoot, true);
      assert.deepEqual(spec?.securityContext?.capabilities?.drop, ['ALL']);
      assert.equal(spec?.securityContext?.capabilities?.add, undefined);
      const log = await kubectl(['logs', '-n', ns, p.metadata?.name ?? '', '-c', VALIDATION]);
      assert.match(log.stdout + log.stderr, /validation passed: the proxy's loopback calls are redirected/);
    }
  });

  it("sends the client's requests through both proxies: outbound on the client, inbound on the server from 127.0.0.6", async () => {
    const client = await podReady(c, ns, 'client');
    const server = await serverPod();
    const before = { out: await traffic(client, 'outbound'), in: await traffic(server, 'inbound') };
    // The pods have no DNS server (the test node's resolver is their own loopback): the
    // Service by its ClusterIP.
    const svc = await c.core.readNamespacedService({ namespace: ns, name: 'server' });
    const r = await requests(ns, 'client', `http://${svc.spec?.clusterIP ?? ''}/`, 10);
    assert.equal(r.failed, 0, JSON.stringify(r));
    assert.equal(r.ok, 10);
    assert.deepEqual(peerAddresses(r.peers), ['127.0.0.6'], 'the server saw the proxy hand the connection over');
    const out = trafficDelta(before.out, await traffic(client, 'outbound'));
    const inbound = trafficDelta(before.in, await traffic(server, 'inbound'));
    assert.ok(out.ok >= 10, `the client's proxy counted the requests outbound: ${JSON.stringify(out)}`);
    assert.ok(inbound.ok >= 10, `the server's proxy counted them inbound: ${JSON.stringify(inbound)}`);
    assert.ok(out.upstreamBytes > 0 && out.downstreamBytes > 0, `the client's proxy relayed bytes both ways: ${JSON.stringify(out)}`);
    assert.ok(inbound.upstreamBytes > 0 && inbound.downstreamBytes > 0, `the server's proxy relayed bytes both ways: ${JSON.stringify(inbound)}`);
  });

  it('starts a pod siding does not inject, in another namespace, without it ever reaching the agent', async () => {
    const agent = await agentReady(c);
    const calls = (m: string) => agentCalls(m, 'programmed') + agentCalls(m, 'passthrough') + agentCalls(m, 'error');
    const before = calls(await agentMetrics(agent));
    const plainNs = await namespaces.create('e2e-cni-plain');
    const applied = await kubectlApply([restrictedPod(plainNs, 'plain', SERVER_SCRIPT, { ports: [{ containerPort: 8080 }] })]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    const p = await podReady(c, plainNs, 'plain');
    assert.deepEqual((p.spec?.initContainers ?? []).map((x) => x.name), []);
    assert.equal(p.metadata?.annotations?.['siding.io/status'], undefined);
    // The plugin decided alone from the annotations the runtime passed it.
    assert.equal(calls(await agentMetrics(agent)), before, "the agent answered no call for it");
    // And its network works as the node plugin set it up: the client reaches it directly.
    const r = await requests(ns, 'client', `http://${p.status?.podIP ?? ''}:8080`, 3);
    assert.equal(r.ok, 3, JSON.stringify(r));
  });
});
