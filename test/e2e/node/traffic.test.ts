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
  containerStatus,
  describeStart,
  nodeContainer,
  pod,
  podReady,
  podStartTimes,
  requests,
  startedAt,
  totalTraffic,
  traffic,
  trafficDelta,
  type Traffic,
} from '../helpers/node.js';
import { runtimeSpec } from '../helpers/containerd.js';
import { followLogs, lineMatching, ms, processStart, timedLogs } from '../helpers/timeline.js';

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
  const inboundOfServers = async (): Promise<Traffic> =>
    totalTraffic(await Promise.all((await serverPods()).map((p) => traffic(p, 'inbound'))));
  const outboundOfClient = async (): Promise<Traffic> => traffic(await podReady(c, ns, 'client'), 'outbound');
  /** How long the client took from its creation request to Running and Ready, for the report. */
  let clientStart = '';

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-node-traffic', { ...SIDING.injectionLabel });
    const t0 = performance.now();
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
    clientStart = describeStart(await podStartTimes(c, ns, 'client', t0));
    clusterIP = (await c.core.readNamespacedService({ namespace: ns, name: 'server' })).spec?.clusterIP ?? '';
    const rollout = await kubectl(['rollout', 'status', '-n', ns, 'deployment/server', '--timeout', '90s']);
    assert.equal(rollout.exitCode, 0, rollout.stderr);
  });

  after(async () => {
    // Let the held client go, then the namespace.
    await kubectl(['patch', 'pod', '-n', ns, 'client', '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    await namespaces?.cleanup();
  });

  it('runs every pod injected; siding-init exited 0 and logged its rules; the proxy was ready before the app started, confined as injected', async (t) => {
    t.diagnostic(`injected client pod: ${clientStart}`);
    const pods = [await podReady(c, ns, 'client'), ...(await serverPods())];
    assert.equal(pods.length, 3);
    for (const p of pods) {
      const name = p.metadata!.name!;
      assert.deepEqual(injectionProblems(p), []);
      const init = containerStatus(p, INIT_CONTAINER)?.state?.terminated;
      assert.equal(init?.exitCode, 0, `${name}: siding-init did not exit 0`);
      // The API's start times (whole seconds) first, then the node's own, finer ones.
      const initFinished = init?.finishedAt;
      assert.ok(initFinished !== undefined && new Date(initFinished) <= startedAt(p, PROXY_CONTAINER), `${name}: the proxy started before siding-init ended`);
      assert.ok(startedAt(p, PROXY_CONTAINER) <= startedAt(p, 'app'), `${name}: the app started before the proxy`);
      const initLog = await timedLogs(ns, name, INIT_CONTAINER);
      const applied = lineMatching(initLog, /applied the IPv4 rules/, `${name}: siding-init log`);
      const proxyReady = lineMatching(await timedLogs(ns, name, PROXY_CONTAINER), /"msg":"ready"/, `${name}: siding-proxy log`);
      const proxyStart = processStart(p, PROXY_CONTAINER);
      const appStart = processStart(p, 'app');
      const initEnd = initLog.at(-1)!.at;
      t.diagnostic(
        `${name}: rules applied → proxy process ${ms(applied.at, proxyStart)}, → proxy ready ${ms(proxyStart, proxyReady.at)}, → app process ${ms(proxyReady.at, appStart)}`,
      );
      assert.ok(initEnd < proxyStart, `${name}: the proxy's process started ${ms(proxyStart, initEnd)} before siding-init's last line`);
      assert.ok(proxyStart < appStart, `${name}: the app's process started ${ms(appStart, proxyStart)} before the proxy's`);
      assert.ok(proxyReady.at < appStart, `${name}: the app's process started ${ms(appStart, proxyReady.at)} before the proxy said ready`);
      // What the proxy (and koffi's native getsockopt within it, which the traffic tests below
      // need) runs under on the node: UID 1337, read-only root, no capabilities, seccomp.
      const spec = runtimeSpec(p, PROXY_CONTAINER);
      assert.deepEqual([spec.process.user.uid, spec.process.user.gid], [1337, 1337], `${name}: proxy user`);
      assert.equal(spec.root.readonly, true, `${name}: the proxy's root filesystem is writable`);
      assert.equal(spec.process.noNewPrivileges, true, `${name}: the proxy may gain privileges`);
      assert.deepEqual(spec.process.capabilities?.effective ?? [], [], `${name}: the proxy has capabilities`);
      assert.equal(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO', `${name}: the proxy runs without the runtime's seccomp profile`);
      // The app's own view: the first thing it does is ask the proxy whether it is ready.
      const appLog = await timedLogs(ns, name, 'app');
      assert.match(appLog[0]?.text ?? '', /^proxy ready at app start: 200$/, `${name}: the app saw the proxy not ready:\n${appLog.map((l) => l.text).join('\n')}`);
    }
  });

  it("sends the client's requests to the Service through both proxies: counted outbound and inbound, the server sees 127.0.0.6", async () => {
    const outBefore = await outboundOfClient();
    const inBefore = await inboundOfServers();
    const r = await requests(ns, 'client', `http://${clusterIP}/`, 20);
    assert.equal(r.failed, 0, r.errors.join(', '));
    assert.equal(r.ok, 20);
    assert.deepEqual(Object.keys(r.peers).map((p) => p.replace(/^::ffff:/, '')), ['127.0.0.6']);
    // A connection is counted when both its sides have closed, which may trail the response.
    const out = await eventually('the client proxy to count 20 outbound connections', async () => {
      const d = trafficDelta(outBefore, await outboundOfClient());
      return d.connections >= 20 ? d : undefined;
    }, 10_000);
    const inb = await eventually('the server proxies to count 20 inbound connections', async () => {
      const d = trafficDelta(inBefore, await inboundOfServers());
      return d.connections >= 20 ? d : undefined;
    }, 10_000);
    for (const [what, d] of [['outbound', out], ['inbound', inb]] as const) {
      assert.equal(d.connections, 20, `${what}: ${JSON.stringify(d)}`);
      assert.equal(d.ok, 20, `${what}: not every connection ended normally: ${JSON.stringify(d)}`);
      assert.ok(d.upstreamBytes > 0 && d.downstreamBytes > 0, `${what}: no bytes relayed both ways: ${JSON.stringify(d)}`);
    }
    // Both proxies relayed the same bytes: the requests one way, the answers the other.
    assert.equal(inb.upstreamBytes, out.upstreamBytes);
    assert.equal(inb.downstreamBytes, out.downstreamBytes);
  });

  it('leaves an opted-out pod and a port excluded by annotation alone: requests succeed and no counter moves', async () => {
    await podReady(c, ns, 'opted-out');
    // First the counters are shown to be live: the opted-out pod has no proxy of its own,
    // but its requests to the server's proxied port are counted by the server proxies.
    const inFirst = await inboundOfServers();
    const toProxied = await requests(ns, 'opted-out', `http://${clusterIP}:80/`, 10);
    assert.equal(toProxied.failed, 0, toProxied.errors.join(', '));
    assert.deepEqual(Object.keys(toProxied.peers).map((p) => p.replace(/^::ffff:/, '')), ['127.0.0.6']);
    await eventually("the server proxies to count the opted-out pod's 10 connections", async () =>
      trafficDelta(inFirst, await inboundOfServers()).connections >= 10 ? true : undefined, 10_000);

    const outBefore = await outboundOfClient();
    const inBefore = await inboundOfServers();
    assert.equal(inBefore.connections - inFirst.connections, 10);
    const excluded = await requests(ns, 'client', `http://${clusterIP}:81/`, 10);
    const optedOut = await requests(ns, 'opted-out', `http://${clusterIP}:81/`, 10);
    for (const r of [excluded, optedOut]) {
      assert.equal(r.failed, 0, r.errors.join(', '));
      assert.equal(r.ok, 10);
      assert.ok(!Object.keys(r.peers).some((p) => p.endsWith('127.0.0.6')), `went through a proxy: ${JSON.stringify(r.peers)}`);
    }
    // Bytes include connections still open: one that was relayed shows even before it is counted.
    assert.deepEqual(await outboundOfClient(), outBefore, 'the client proxy relayed traffic to an excluded port');
    assert.deepEqual(await inboundOfServers(), inBefore, 'the server proxies relayed traffic to an excluded port');
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
    assert.deepEqual(Object.keys(r.peers).map((p) => p.replace(/^::ffff:/, '')), ['127.0.0.6']);
    const after = (await serverPods()).map((p) => p.metadata!.name!);
    assert.ok(after.every((n) => !before.has(n)), 'the rollout did not replace the server pods');
    assert.ok(Object.keys(r.pods).some((n) => before.has(n)) && Object.keys(r.pods).some((n) => !before.has(n)), 'the loop did not span old and new pods');
  });

  it('ends a deleted client cleanly: the app exits 0 first, then the proxy drains and exits 0', async () => {
    await podReady(c, ns, 'client');
    // Once the kubelet removes the containers their logs are gone: follow them from now on.
    const appLog = followLogs(ns, 'client', 'app');
    const proxyLog = followLogs(ns, 'client', PROXY_CONTAINER);
    await Promise.all([appLog.started, proxyLog.started]);
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
    const app = await appLog.done;
    const proxy = await proxyLog.done;
    const appTerm = lineMatching(app, /^SIGTERM$/, 'app log');
    const draining = lineMatching(proxy, /"msg":"draining/, 'siding-proxy log');
    const stopped = lineMatching(proxy, /"msg":"stopped"/, 'siding-proxy log');
    assert.equal(app.at(-1), appTerm, 'the app logged after its SIGTERM');
    assert.ok(appTerm.at < draining.at, `the proxy began draining ${ms(draining.at, appTerm.at)} before the app got SIGTERM`);
    assert.ok(draining.at <= stopped.at);
    assert.match(draining.text, /"open":0,"exitWhenIdle":true/, 'the proxy had connections open when it was told to stop');
    assert.ok(!proxy.some((l) => /drain over/.test(l.text)), 'the proxy had to reset connections at the end of its drain');
  });
});
