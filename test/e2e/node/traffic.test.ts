/**
 * Injected workloads on a real node, and their traffic through `siding proxy`: a server
 * Deployment (two replicas of a small HTTP server from siding's image) behind a ClusterIP
 * Service, a client pod, an opted-out pod, a port excluded by annotation, a rolling
 * restart under load, and a client that is deleted. Counters come from each proxy's
 * /stats/prometheus, read at the pod IP.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, clients, eventually, injectionProblems, kubectl, kubectlApply, Namespaces, prereq, sleep, type Clients } from '../helpers/cluster.js';
import {
  IDLE_SCRIPT,
  INIT_CONTAINER,
  PROXY_CONTAINER,
  SERVER_SCRIPT,
  connections,
  containerStatus,
  nodeContainer,
  pod,
  podReady,
  requests,
  startedAt,
} from '../helpers/node.js';

const SERVER_LABELS = { app: 'server' };

function serverDeployment(namespace: string): k8s.V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'server', namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: SERVER_LABELS },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: SERVER_LABELS,
          // 8081 bypasses the proxy; the readiness probe uses it so that probes never move
          // the inbound counters the tests read.
          annotations: { 'traffic.siding.io/excludeInboundPorts': '8081' },
        },
        spec: {
          terminationGracePeriodSeconds: 20,
          containers: [
            nodeContainer('app', SERVER_SCRIPT, {
              ports: [{ containerPort: 8080 }, { containerPort: 8081 }],
              readinessProbe: { httpGet: { path: '/', port: 8081 }, periodSeconds: 1 },
              // Served until every endpoint list has dropped this pod, as a real service does.
              lifecycle: { preStop: { sleep: { seconds: 4 } } },
            }),
          ],
        },
      },
    },
  };
}

function service(namespace: string): k8s.V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'server', namespace },
    spec: {
      selector: SERVER_LABELS,
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'excluded', port: 81, targetPort: 8081 },
      ],
    },
  };
}

describe('injected workloads on the node and their traffic through siding proxy', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;
  let clusterIP: string;

  const serverPods = async (): Promise<k8s.V1Pod[]> => {
    const list = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=server' });
    return list.items.filter((p) => p.metadata?.deletionTimestamp === undefined);
  };
  const inboundOfServers = async (): Promise<number> => {
    let sum = 0;
    for (const p of await serverPods()) sum += await connections(p, 'inbound');
    return sum;
  };

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-node-traffic', { ...SIDING.injectionLabel });
    const applied = await kubectlApply([
      serverDeployment(ns),
      service(ns),
      pod(ns, 'client', { containers: [nodeContainer('app', IDLE_SCRIPT)] }, {
        // Outbound to Service port 81 bypasses the client's proxy.
        annotations: { 'traffic.siding.io/excludeOutboundPorts': '81' },
        finalizers: ['siding.io/e2e-hold'],
      }),
      pod(ns, 'opted-out', { containers: [nodeContainer('app', IDLE_SCRIPT)] }, { labels: { 'siding.io/inject': 'false' } }),
    ]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    clusterIP = (await c.core.readNamespacedService({ namespace: ns, name: 'server' })).spec?.clusterIP ?? '';
    const rollout = await kubectl(['rollout', 'status', '-n', ns, 'deployment/server', '--timeout', '90s']);
    assert.equal(rollout.exitCode, 0, rollout.stderr);
  });

  after(async () => {
    // Let the held client go, then the namespace.
    await kubectl(['patch', 'pod', '-n', ns, 'client', '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    await namespaces?.cleanup();
  });

  it('runs every pod injected; siding-init exited 0 and logged its rules; the proxy was ready before the app started', async () => {
    const pods = [await podReady(c, ns, 'client'), ...(await serverPods())];
    assert.equal(pods.length, 3);
    for (const p of pods) {
      const name = p.metadata!.name!;
      assert.deepEqual(injectionProblems(p), []);
      const init = containerStatus(p, INIT_CONTAINER)?.state?.terminated;
      assert.equal(init?.exitCode, 0, `${name}: siding-init did not exit 0`);
      const initLog = await kubectl(['logs', '-n', ns, name, '-c', INIT_CONTAINER]);
      assert.match(initLog.stdout, /applied the IPv4 rules/, `${name}: siding-init log:\n${initLog.stdout}${initLog.stderr}`);
      assert.ok(startedAt(p, PROXY_CONTAINER) <= startedAt(p, 'app'), `${name}: the app started before the proxy`);
      assert.ok(startedAt(p, INIT_CONTAINER) <= startedAt(p, PROXY_CONTAINER), `${name}: the proxy started before siding-init`);
      const appLog = await kubectl(['logs', '-n', ns, name, '-c', 'app']);
      assert.match(appLog.stdout, /^proxy ready at app start: 200$/m, `${name}: the app saw the proxy not ready:\n${appLog.stdout}`);
    }
  });

  it("sends the client's requests to the Service through both proxies: counted outbound and inbound, the server sees 127.0.0.6", async () => {
    const client = await podReady(c, ns, 'client');
    const outBefore = await connections(client, 'outbound');
    const inBefore = await inboundOfServers();
    const r = await requests(ns, 'client', `http://${clusterIP}/`, 20);
    assert.equal(r.failed, 0, r.errors.join(', '));
    assert.equal(r.ok, 20);
    assert.deepEqual(Object.keys(r.peers).map((p) => p.replace(/^::ffff:/, '')), ['127.0.0.6']);
    assert.ok((await connections(client, 'outbound')) - outBefore >= 20, 'the client proxy did not count 20 outbound connections');
    assert.ok((await inboundOfServers()) - inBefore >= 20, 'the server proxies did not count 20 inbound connections');
  });

  it('leaves an opted-out pod and a port excluded by annotation alone: requests succeed and no counter moves', async () => {
    const client = await podReady(c, ns, 'client');
    await podReady(c, ns, 'opted-out');
    const outBefore = await connections(client, 'outbound');
    const inBefore = await inboundOfServers();
    const excluded = await requests(ns, 'client', `http://${clusterIP}:81/`, 10);
    const optedOut = await requests(ns, 'opted-out', `http://${clusterIP}:81/`, 10);
    for (const r of [excluded, optedOut]) {
      assert.equal(r.failed, 0, r.errors.join(', '));
      assert.equal(r.ok, 10);
      assert.ok(!Object.keys(r.peers).some((p) => p.endsWith('127.0.0.6')), `went through a proxy: ${JSON.stringify(r.peers)}`);
    }
    assert.equal(await connections(client, 'outbound'), outBefore);
    assert.equal(await inboundOfServers(), inBefore);
  });

  it('keeps every request of a bounded loop succeeding through a rollout restart of the server', async () => {
    const before = new Set((await serverPods()).map((p) => p.metadata!.name!));
    // 300 requests 100 ms apart: about 35 s, more than the restart takes (checked below).
    const loop = requests(ns, 'client', `http://${clusterIP}/`, 300, 100);
    await sleep(2000);
    const restart = await kubectl(['rollout', 'restart', '-n', ns, 'deployment/server']);
    assert.equal(restart.exitCode, 0, restart.stderr);
    const status = await kubectl(['rollout', 'status', '-n', ns, 'deployment/server', '--timeout', '120s']);
    assert.equal(status.exitCode, 0, status.stderr);
    const doneAt = Date.now();
    const r = await loop;
    assert.ok(Date.now() - doneAt > 500, 'the request loop ended before the rollout did: it proves nothing');
    assert.equal(r.failed, 0, `failed requests during the rollout: ${r.errors.join(', ')}`);
    assert.equal(r.ok, 300);
    const after = (await serverPods()).map((p) => p.metadata!.name!);
    assert.ok(after.every((n) => !before.has(n)), 'the rollout did not replace the server pods');
    assert.ok(Object.keys(r.pods).some((n) => before.has(n)) && Object.keys(r.pods).some((n) => !before.has(n)), 'the loop did not span old and new pods');
  });

  it('ends a deleted client cleanly: the app exits 0 first, then the proxy drains and exits 0', async () => {
    await podReady(c, ns, 'client');
    await c.core.deleteNamespacedPod({ namespace: ns, name: 'client' });
    // The finalizer keeps the pod object, with its final container states, after the kubelet is done.
    const done = await eventually('both containers of the deleted client to terminate', async () => {
      const p = await c.core.readNamespacedPod({ namespace: ns, name: 'client' });
      const app = containerStatus(p, 'app')?.state?.terminated;
      const proxy = containerStatus(p, PROXY_CONTAINER)?.state?.terminated;
      return app !== undefined && proxy !== undefined ? { app, proxy } : undefined;
    });
    assert.equal(done.app.exitCode, 0, `app: ${JSON.stringify(done.app)}`);
    assert.equal(done.proxy.exitCode, 0, `proxy: ${JSON.stringify(done.proxy)}`);
    assert.ok(new Date(done.proxy.finishedAt!) >= new Date(done.app.finishedAt!), 'the proxy exited before the app');
  });
});
