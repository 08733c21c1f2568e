/**
 * What users see after `kubectl apply -k manifests/` and labelling a namespace, against
 * the real kube-apiserver and kube-controller-manager of scripts/kube-testenv.sh:
 * which pods the API server stores injected, which it stores untouched, and which it
 * refuses with siding's message.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { loadFixture } from '../helpers/fixtures.js';
import { skipUnless } from '../helpers/prereq.js';
import {
  SIDING,
  clients,
  eventually,
  injectionProblems,
  kubectl,
  kubectlApply,
  Namespaces,
  podFixture,
  prereq,
  reviewLog,
  reviewLogThrough,
  untouched,
  type Clients,
} from './helpers/cluster.js';

describe('injection through the real API server', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  /** Labelled siding-injection=enabled. */
  let labelled: string;
  let unlabelled: string;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    labelled = await namespaces.create('e2e-inject', SIDING.injectionLabel);
    unlabelled = await namespaces.create('e2e-plain');
  });

  after(async () => {
    await namespaces?.cleanup();
  });

  const readPod = (namespace: string, name: string): Promise<k8s.V1Pod> => c.core.readNamespacedPod({ namespace, name });

  it('kubectl apply of a Deployment in a labelled namespace: the controller manager creates a ReplicaSet and two pods, and both are stored injected', async () => {
    const deployment = loadFixture<k8s.V1Deployment>('e2e', 'deployment.yaml');
    deployment.metadata = { ...deployment.metadata, namespace: labelled };
    const applied = await kubectlApply([deployment]);
    assert.equal(applied.exitCode, 0, applied.stderr);

    const replicaSets = await eventually('the ReplicaSet of the Deployment', async () => {
      const list = await c.apps.listNamespacedReplicaSet({ namespace: labelled });
      const owned = list.items.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'));
      return owned.length > 0 ? owned : undefined;
    });
    assert.equal(replicaSets.length, 1);
    const rsName = replicaSets[0]?.metadata?.name;

    // The ReplicaSet controller creates the pods; every create goes through admission.
    const pods = await eventually('two pods of the ReplicaSet', async () => {
      const list = await c.core.listNamespacedPod({ namespace: labelled, labelSelector: 'app=web' });
      return list.items.length >= 2 ? list.items : undefined;
    });
    assert.equal(pods.length, 2);
    for (const pod of pods) {
      assert.equal(pod.metadata?.ownerReferences?.[0]?.name, rsName, 'created by the ReplicaSet');
      assert.deepEqual(injectionProblems(pod), []);
      assert.deepEqual(
        pod.spec?.containers.map((x) => x.name),
        ['web'],
        "the app's containers are unchanged (native sidecar layout)",
      );
    }
  });

  it('a pod labelled siding.io/inject: "false" in a labelled namespace is stored untouched, and the API server never calls the webhook for it', async () => {
    const optOut = podFixture(labelled, 'opted-out');
    optOut.metadata!.labels = { 'siding.io/inject': 'false' };
    const applied = await kubectlApply([optOut]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.ok(untouched(await readPod(labelled, 'opted-out')));

    // Control, created after it: the same namespace injects a plain pod.
    const control = await c.core.createNamespacedPod({ namespace: labelled, body: podFixture(labelled, 'control') });
    assert.deepEqual(injectionProblems(control), []);
    // objectSelector: the label keeps the review from being sent at all. The log is in
    // order, so once the control pod's review is there, the opted-out pod's would be too.
    const log = await reviewLogThrough(labelled, 'control');
    assert.deepEqual(
      log.filter((l) => l.pod === 'opted-out'),
      [],
    );
  });

  it('a pod in a namespace without the label is stored untouched, and the API server never calls the webhook for it', async () => {
    const applied = await kubectlApply([podFixture(unlabelled, 'plain')]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.ok(untouched(await readPod(unlabelled, 'plain')));
    // namespaceSelector. A review after it, in a labelled namespace, marks how far the log is written.
    await c.core.createNamespacedPod({ namespace: labelled, body: podFixture(labelled, 'marker') });
    await reviewLogThrough(labelled, 'marker');
    assert.deepEqual(reviewLog(unlabelled), []);
  });

  it('a hostNetwork pod in a labelled namespace is stored untouched, after siding skipped it', async () => {
    const pod = podFixture(labelled, 'host-net');
    pod.spec!.hostNetwork = true;
    const applied = await kubectlApply([pod]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.ok(untouched(await readPod(labelled, 'host-net')));
    const reviews = (await reviewLogThrough(labelled, 'host-net')).filter((l) => l.pod === 'host-net');
    assert.ok(
      reviews.every((l) => l.decision === 'skipped' && l.reason === 'hostNetwork'),
      JSON.stringify(reviews),
    );
  });

  it("kubectl apply of a pod with an invalid traffic annotation fails with siding's message naming the annotation, and nothing is stored", async () => {
    const pod = podFixture(labelled, 'bad-ports');
    pod.metadata!.annotations = { 'traffic.siding.io/excludeOutboundPorts': '80;rm -rf /' };
    const applied = await kubectlApply([pod]);
    assert.notEqual(applied.exitCode, 0);
    assert.match(applied.stderr, /admission webhook "inject\.siding\.io" denied the request/);
    assert.match(applied.stderr, /invalid value '80;rm -rf \/' for annotation 'traffic\.siding\.io\/excludeOutboundPorts'/);
    const get = await kubectl(['-n', labelled, 'get', 'pod', 'bad-ports']);
    assert.match(get.stderr, /NotFound/);
  });

  it("a pod in a namespace enforcing Pod Security 'baseline' is refused by the API server, and kubectl shows siding's warning saying why and that CNI mode is the way out", async () => {
    const locked = await namespaces.create('e2e-psa', { ...SIDING.injectionLabel, 'pod-security.kubernetes.io/enforce': 'baseline' });
    // The webhook learns namespace labels from its watch of Namespaces: retry until it has
    // seen this one (every attempt is refused, so nothing is left behind).
    const applied = await eventually('a refusal that carries the warning', async () => {
      const r = await kubectlApply([podFixture(locked, 'psa')]);
      return /enforces Pod Security/.test(r.stderr) ? r : undefined;
    });
    assert.notEqual(applied.exitCode, 0);
    assert.match(applied.stderr, new RegExp(`Warning: namespace ${locked} enforces Pod Security 'baseline'.*the API server will reject this pod.*CNI mode`));
    assert.match(applied.stderr, /violates PodSecurity "baseline/);
    assert.match((await kubectl(['-n', locked, 'get', 'pod', 'psa'])).stderr, /NotFound/);
  });

  it("a pod running as the proxy's UID 1337 is refused with siding's message", async () => {
    const pod = podFixture(labelled, 'uid-1337');
    pod.spec!.securityContext = { runAsUser: 1337 };
    const applied = await kubectlApply([pod]);
    assert.notEqual(applied.exitCode, 0);
    assert.match(applied.stderr, /admission webhook "inject\.siding\.io" denied the request/);
    assert.match(applied.stderr, /the pod securityContext runs as UID 1337, the proxy's UID: its traffic would bypass the proxy/);
    const get = await kubectl(['-n', labelled, 'get', 'pod', 'uid-1337']);
    assert.match(get.stderr, /NotFound/);
  });
});
