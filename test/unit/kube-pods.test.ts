/**
 * The CNI agent's pod calls (src/kube/pods.ts) against an HTTPS server that answers as the
 * API server does (JSON, Status bodies, a watch stream), with siding's own certificates: the
 * requests it sends (paths, field selectors, bodies, the bearer token) and what it makes of
 * each answer. The real API server is the CNI end-to-end suite's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../../src/certs/index.js';
import { KubeError } from '../../src/errors/index.js';
import { apiTarget, createPodApi, podView, type PodView } from '../../src/kube/pods.js';
import type { WatchEvent } from '../../src/kube/api.js';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

const pod = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: 'app', uid: `uid-${name}`, resourceVersion: '7', annotations: { a: 'b' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', controller: true }] },
  spec: { nodeName: 'node-a' },
  status: { initContainerStatuses: [{ name: 'siding-validation', state: { waiting: {} }, lastState: { terminated: { exitCode: 126, reason: 'Error' } } }] },
  ...extra,
});

describe("the CNI agent's pod calls", () => {
  const seen: Seen[] = [];
  let server: https.Server;
  let kubeconfig: string;

  before(async () => {
    const tls = await generateSelfSigned({ subjectAltNames: [{ type: 'ip', value: '127.0.0.1' }], keyBits: 2048, validityDays: 1 });
    server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
        const url = new URL(req.url ?? '/', 'https://x');
        res.setHeader('content-type', 'application/json');
        if (url.searchParams.get('watch') === 'true') {
          res.write(`${JSON.stringify({ type: 'ADDED', object: pod('w1') })}\n`);
          res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '99' } } })}\n{"type":"MODIFIED","obj`);
          setTimeout(() => res.end(`ect":${JSON.stringify(pod('w1', { metadata: { ...pod('w1').metadata, deletionTimestamp: 'now' } }))}}\n`), 20);
          return;
        }
        if (url.pathname === '/api/v1/pods') return void res.end(JSON.stringify({ metadata: { resourceVersion: '42' }, items: [pod('p1'), pod('p2')] }));
        if (url.pathname === '/api/v1/namespaces/app/pods/missing') {
          res.statusCode = 404;
          return void res.end(JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'pods "missing" not found' }));
        }
        if (req.method === 'DELETE') {
          res.statusCode = 409;
          return void res.end(JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'Precondition failed: UID in precondition: uid-x' }));
        }
        res.end(JSON.stringify(req.method === 'POST' ? {} : pod('p1')));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/siding-pods-`);
    kubeconfig = `${dir}/kubeconfig`;
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${Buffer.from(tls.cert).toString('base64')}}}]\nusers: [{name: u, user: {token: secret-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
    );
  });
  after(() => server.close());

  it('lists the pods of a node with its field selector and the bearer token, verifying the server', async () => {
    const api = await createPodApi(kubeconfig);
    const list = await api.listPods('spec.nodeName=node-a');
    assert.equal(list.resourceVersion, '42');
    assert.deepEqual(list.items.map((p) => p.name), ['p1', 'p2']);
    const req = seen.at(-1);
    assert.equal(req?.url, '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a');
    assert.equal(req?.auth, 'Bearer secret-token');
  });

  it("reads what repair needs: the controller, the validation container's last exit code, deletion", () => {
    const v: PodView = podView(pod('p1'));
    assert.deepEqual(v.controller, { kind: 'ReplicaSet', name: 'rs' });
    assert.deepEqual(v.initTerminations['siding-validation'], { exitCode: 126, reason: 'Error' });
    assert.equal(v.deleting, false);
    assert.equal(podView({ metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } }).deleting, true);
  });

  it('follows a watch stream, events split across chunks included, and reports its end', async () => {
    const api = await createPodApi(kubeconfig);
    const events: WatchEvent<PodView>[] = [];
    await new Promise<void>((resolve, reject) => {
      void api.watchPods('spec.nodeName=node-a', '42', { onEvent: (e) => events.push(e), onEnd: (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error(JSON.stringify(err)))) });
    });
    assert.deepEqual(events.map((e) => e.type), ['ADDED', 'BOOKMARK', 'MODIFIED']);
    const last = events[2];
    assert.equal(last?.type === 'MODIFIED' ? last.object.deleting : undefined, true);
    assert.match(seen.at(-1)?.url ?? '', /watch=true.*resourceVersion=42.*allowWatchBookmarks=true/);
  });

  it('gets a pod, and undefined for one that does not exist', async () => {
    const api = await createPodApi(kubeconfig);
    assert.equal((await api.getPod('app', 'p1'))?.uid, 'uid-p1');
    assert.equal(await api.getPod('app', 'missing'), undefined);
  });

  it('deletes with a UID precondition and reports the Status reason of a refusal', async () => {
    const api = await createPodApi(kubeconfig);
    await assert.rejects(api.deletePod('app', 'p1', 'uid-x'), (e: unknown) => e instanceof KubeError && e.statusCode === 409 && e.reason === 'Conflict');
    assert.deepEqual(JSON.parse(seen.at(-1)?.body ?? '{}'), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'uid-x' } });
  });

  it("records an event on the pod, naming it by UID", async () => {
    const api = await createPodApi(kubeconfig);
    await api.createPodEvent(podView(pod('p1')), { reason: 'SidingRedirectMissing', message: 'why', type: 'Warning' }, 'siding-cni-agent', 'node-a');
    const req = seen.at(-1);
    assert.equal(req?.url, '/api/v1/namespaces/app/events');
    const body = JSON.parse(req?.body ?? '{}') as { involvedObject: unknown; reason: string; type: string };
    assert.deepEqual(body.involvedObject, { kind: 'Pod', apiVersion: 'v1', namespace: 'app', name: 'p1', uid: 'uid-p1' });
    assert.equal(body.reason, 'SidingRedirectMissing');
  });

  it('in a pod, fails clearly without the service account files', async () => {
    await assert.rejects(apiTarget(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }), /cannot read the service account's CA/);
  });
});
