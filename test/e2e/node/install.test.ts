/**
 * siding as a user installs it, on a real node: `kubectl apply -k` of test/e2e/overlay
 * (the manifests with only the image and pull policy changed), applied by
 * `scripts/kube-testenv.sh up --node`. The webhook's two replicas run on the node, manage
 * their own certificates, and the API server calls them through the Service.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, caBundle, clients, injectionProblems, Namespaces, prereq, siding, untouched, type Clients } from '../helpers/cluster.js';
import { IDLE_SCRIPT, NODE_NAME, describeStart, nodeContainer, pod, podStartTimes } from '../helpers/node.js';

/** The certificate chain a webhook pod serves, verified against `ca` for the Service's DNS name. */
function servedCertificate(ip: string, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: ip, port: 9443, ca, servername: `${SIDING.service}.${SIDING.namespace}.svc` }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('siding installed from its image on a real node', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let dir: string;

  before(() => {
    c = clients();
    namespaces = new Namespaces(c.core);
    dir = mkdtempSync(join(tmpdir(), 'siding-e2e-install-'));
  });

  after(async () => {
    await namespaces?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the webhook Deployment Available with both replicas Ready on the node, from the local image', async () => {
    const d = await c.apps.readNamespacedDeployment({ namespace: SIDING.namespace, name: 'siding' });
    assert.equal(d.status?.conditions?.find((x) => x.type === 'Available')?.status, 'True');
    assert.equal(d.status?.readyReplicas, 2);
    const pods = await c.core.listNamespacedPod({ namespace: SIDING.namespace, labelSelector: 'app.kubernetes.io/component=webhook' });
    const ready = pods.items.filter((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
    assert.equal(ready.length, 2);
    for (const p of ready) {
      assert.equal(p.spec?.nodeName, NODE_NAME);
      assert.equal(p.spec?.containers[0]?.image, 'localhost/siding:e2e');
      assert.equal(p.spec?.containers[0]?.imagePullPolicy, 'Never');
      assert.equal(p.status?.containerStatuses?.[0]?.restartCount, 0, `${p.metadata?.name ?? '?'} restarted`);
    }
  });

  it('has the caBundle patched with the CA that signs what each replica serves for the Service name', async () => {
    const bundle = await caBundle(c);
    assert.ok(bundle.length > 0, 'the caBundle is empty');
    const pods = await c.core.listNamespacedPod({ namespace: SIDING.namespace, labelSelector: 'app.kubernetes.io/component=webhook' });
    for (const p of pods.items) {
      const cert = await servedCertificate(p.status!.podIP!, bundle.join('\n'));
      assert.match(cert.subjectaltname ?? '', /DNS:siding\.siding-system\.svc/);
    }
  });

  it('injects what siding check --live predicts, and the node runs exactly that', async (t) => {
    const ns = await namespaces.create('e2e-node-check', { ...SIDING.injectionLabel });
    const pods = [
      pod(ns, 'meshed', { containers: [nodeContainer('app', IDLE_SCRIPT)] }),
      pod(ns, 'opted-out', { containers: [nodeContainer('app', IDLE_SCRIPT)] }, { labels: { 'siding.io/inject': 'false' } }),
    ];
    const manifest = join(dir, 'pods.yaml');
    writeFileSync(manifest, pods.map((p) => stringify(p)).join('---\n'));
    const check = await siding(['check', '--live', '-f', manifest]);
    assert.equal(check.exitCode, 0, check.stderr);
    assert.match(check.stdout, /^Pod\/meshed: injected$/m);
    assert.match(check.stdout, /^Pod\/opted-out: skipped/m);

    const t0 = performance.now();
    await Promise.all(pods.map((p) => c.core.createNamespacedPod({ namespace: ns, body: p })));
    const [meshed, optedOut] = (await Promise.all(['meshed', 'opted-out'].map((name) => podStartTimes(c, ns, name, t0)))).map((s, i) => {
      t.diagnostic(`${i === 0 ? 'injected' : 'opted-out'} pod: ${describeStart(s)}`);
      return s.pod;
    });
    assert.ok(meshed !== undefined && optedOut !== undefined);
    assert.deepEqual(injectionProblems(meshed), []);
    assert.ok(untouched(optedOut));
    // What runs on the node, not only what is stored: the kubelet reports the containers it started.
    const running = (p: typeof meshed): string[] =>
      [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map((s) => s.name).sort();
    assert.deepEqual(running(meshed), ['app', 'siding-init', 'siding-proxy']);
    assert.deepEqual(running(optedOut), ['app']);
  });
});
