/**
 * Reinvocation: a second mutating webhook, started here, changes every pod after siding
 * did. Both have reinvocationPolicy IfNeeded, so the API server calls siding again with
 * the changed pod; siding's injection must stay single and the pod valid.
 *
 * The second webhook is a plain node HTTPS server on 127.0.0.1 with a certificate from
 * src/certs, registered by URL (the API server runs on this host, and URL webhooks, unlike
 * Service endpoints, may be loopback). Its configuration's name sorts after siding's, which
 * is what makes the API server call it second.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { generateWebhookCertificates } from '../../src/certs/index.js';
import { INIT_CONTAINER, PROXY_CONTAINER } from '../../src/inject/status.js';
import { skipUnless } from '../helpers/prereq.js';
import {
  SIDING,
  clients,
  eventually,
  injectionProblems,
  Namespaces,
  podFixture,
  prereq,
  suffix,
  type Clients,
} from './helpers/cluster.js';

const LATE_CONTAINER = 'late-sidecar';
const LATE_ANNOTATION = 'e2e.siding.io/late';

interface Call {
  at: number;
  pod: string;
  /** The containers the pod had when this webhook saw it. */
  initContainers: string[];
  containers: string[];
}

interface AdmissionReviewIn {
  request: { uid: string; object: k8s.V1Pod };
}

/**
 * Adds LATE_CONTAINER and LATE_ANNOTATION when missing (idempotent, as IfNeeded requires
 * of every webhook) and records each call.
 */
function lateMutation(pod: k8s.V1Pod): object[] {
  const ops: object[] = [];
  if (pod.metadata?.annotations === undefined) ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
  if (pod.metadata?.annotations?.[LATE_ANNOTATION] === undefined) {
    ops.push({ op: 'add', path: `/metadata/annotations/${LATE_ANNOTATION.replace('/', '~1')}`, value: 'added after siding' });
  }
  if (!pod.spec?.containers.some((c) => c.name === LATE_CONTAINER)) {
    ops.push({ op: 'add', path: '/spec/containers/-', value: { name: LATE_CONTAINER, image: 'registry.invalid/e2e/late:1' } });
  }
  return ops;
}

describe('siding under reinvocation by a second mutating webhook', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;
  let server: https.Server;
  const calls: Call[] = [];
  const id = suffix();
  // "siding-…" sorts after "siding": the API server calls configurations in name order.
  const configName = `siding-e2e-late-${id}`;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-reinvoke', { ...SIDING.injectionLabel, 'e2e.siding.io/late': id });

    const certs = await generateWebhookCertificates({
      service: 'late',
      namespace: 'e2e',
      extraSubjectAltNames: [{ type: 'ip', value: '127.0.0.1' }],
      validityDays: 1,
      caValidityDays: 1,
    });
    server = https.createServer({ cert: certs.serving.cert, key: certs.serving.key }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const review = JSON.parse(body) as AdmissionReviewIn;
        const pod = review.request.object;
        calls.push({
          at: Date.now(),
          pod: pod.metadata?.name ?? pod.metadata?.generateName ?? '?',
          initContainers: (pod.spec?.initContainers ?? []).map((x) => x.name),
          containers: pod.spec?.containers.map((x) => x.name) ?? [],
        });
        const ops = lateMutation(pod);
        const response = {
          uid: review.request.uid,
          allowed: true,
          ...(ops.length === 0 ? {} : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') }),
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    await c.admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: configName },
        webhooks: [
          {
            name: 'late.e2e.siding.io',
            clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(certs.ca.cert).toString('base64') },
            rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
            // Only this test's namespace.
            namespaceSelector: { matchLabels: { 'e2e.siding.io/late': id } },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            timeoutSeconds: 10,
            reinvocationPolicy: 'IfNeeded',
            admissionReviewVersions: ['v1'],
          },
        ],
      },
    });
    // The API server loads webhook configurations asynchronously: wait until a dry run
    // in the namespace comes back with the second webhook's change.
    await eventually('the API server to call the second webhook', async () => {
      const probe = await c.core.createNamespacedPod({ namespace: ns, body: podFixture(ns, 'probe'), dryRun: 'All' });
      return probe.metadata?.annotations?.[LATE_ANNOTATION] === undefined ? undefined : true;
    });
  });

  after(async () => {
    await c?.admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    await namespaces?.cleanup();
    server?.close();
    server?.closeAllConnections();
  });

  it('the stored pod has exactly one siding-init and one siding-proxy, the second webhook\'s container, and is valid', async () => {
    calls.length = 0;
    const stored = await c.core.createNamespacedPod({ namespace: ns, body: podFixture(ns, 'twice') });

    // The second webhook saw the pod after siding had injected it, so its change came
    // after siding's, and IfNeeded has the API server call siding again with that change.
    const mine = calls.filter((x) => x.pod === 'twice');
    assert.ok(mine.length > 0, 'the second webhook was called');
    assert.deepEqual(mine[0]?.initContainers, [INIT_CONTAINER, PROXY_CONTAINER]);
    assert.deepEqual(mine[0]?.containers, ['app']);

    // Read back what etcd holds, not only the create response.
    const pod = await c.core.readNamespacedPod({ namespace: ns, name: 'twice' });
    assert.equal(pod.metadata?.uid, stored.metadata?.uid);
    assert.deepEqual(injectionProblems(pod), []);
    assert.deepEqual(
      pod.spec?.initContainers?.map((x) => x.name),
      [INIT_CONTAINER, PROXY_CONTAINER],
    );
    assert.deepEqual(
      pod.spec?.containers.map((x) => x.name),
      ['app', LATE_CONTAINER],
    );
    assert.equal(pod.metadata?.annotations?.[LATE_ANNOTATION], 'added after siding');
    // siding's volumes exactly once each.
    const volumes = (pod.spec?.volumes ?? []).map((v) => v.name);
    assert.equal(new Set(volumes).size, volumes.length, `duplicate volumes: ${JSON.stringify(volumes)}`);
  });

  it('the stored pod, created again (server-side dry run), is accepted and still carries exactly one injection', async () => {
    const pod = await c.core.readNamespacedPod({ namespace: ns, name: 'twice' });
    const copy: k8s.V1Pod = {
      metadata: { name: 'twice-again', namespace: ns, labels: pod.metadata?.labels ?? {}, annotations: pod.metadata?.annotations ?? {} },
      spec: structuredClone(pod.spec!),
    };
    const again = await c.core.createNamespacedPod({ namespace: ns, body: copy, dryRun: 'All' });
    assert.deepEqual(injectionProblems(again), []);
    assert.deepEqual(
      again.spec?.containers.map((x) => x.name),
      ['app', LATE_CONTAINER],
    );
  });
});
