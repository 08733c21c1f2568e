/**
 * Pod Security: both injected containers carry seccompProfile RuntimeDefault, and a pod
 * headed for a namespace that enforces `baseline` or `restricted` (which forbid
 * siding-init's root, NET_ADMIN and NET_RAW) is injected with a warning that the API
 * server will reject it and that CNI mode avoids siding-init, in the engine, in
 * `siding check`, in the webhook's answer, and from the cluster mode's namespace cache.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/admission/app.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { injectPod, type InjectOutcome } from '../../src/inject/index.js';
import { checkObjects } from '../../src/inject/manifests.js';
import { parseKubeFlags } from '../../src/kube/options.js';
import { startKubeParts } from '../../src/kube/webhook.js';
import { FakeKubeApi, RecordingLogger } from '../helpers/kube-fake.js';

const ENFORCE = 'pod-security.kubernetes.io/enforce';

function pod(): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } };
}

function injected(o: InjectOutcome): Extract<InjectOutcome, { kind: 'injected' }> {
  if (o.kind !== 'injected') assert.fail(`expected injected, got ${JSON.stringify(o)}`);
  return o;
}

const rejection = (warnings: readonly string[]): string | undefined => warnings.find((w) => w.includes('Pod Security'));

describe('Pod Security', () => {
  it('sets seccompProfile RuntimeDefault on siding-init and siding-proxy', () => {
    const out = injected(injectPod(pod(), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    const ours = (out.spec?.initContainers ?? []).filter((c) => c.name === 'siding-init' || c.name === 'siding-proxy');
    assert.equal(ours.length, 2);
    for (const c of ours) assert.deepEqual(c.securityContext?.seccompProfile, { type: 'RuntimeDefault' }, c.name);
  });

  for (const level of ['baseline', 'restricted']) {
    it(`warns that a namespace enforcing '${level}' will reject the pod and that CNI mode is the way out`, () => {
      const out = injected(injectPod(pod(), { namespace: 'shop', namespaceLabels: { 'siding-injection': 'enabled', [ENFORCE]: level } }, DEFAULT_CONFIG));
      const w = rejection(out.warnings);
      assert.ok(w !== undefined, out.warnings.join('\n'));
      assert.match(w, new RegExp(`namespace shop enforces Pod Security '${level}'.*will reject this pod.*CNI mode`));
    });
  }

  it("does not warn for 'privileged', for no label, or when the namespace is not known", () => {
    for (const labels of [{ 'siding-injection': 'enabled', [ENFORCE]: 'privileged' }, { 'siding-injection': 'enabled' }, undefined]) {
      const out = injected(injectPod(pod(), { namespace: 'shop', ...(labels === undefined ? {} : { namespaceLabels: labels }) }, DEFAULT_CONFIG));
      assert.equal(rejection(out.warnings), undefined, JSON.stringify(labels));
    }
  });

  it('shows the warning in siding check', () => {
    const run = checkObjects([{ ...pod() }], {
      config: DEFAULT_CONFIG,
      namespace: 'locked',
      namespaceLabels: () => ({ 'siding-injection': 'enabled', [ENFORCE]: 'restricted' }),
    });
    assert.match(run.lines.join('\n'), /injected \(warnings: .*namespace locked enforces Pod Security 'restricted'/);
  });

  it("puts the warning in the webhook's answer when the namespace's labels are known, and only then", async () => {
    const labels = new Map([['locked', { [ENFORCE]: 'baseline' }]]);
    const app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'silent' }, namespaceLabels: (ns) => labels.get(ns) });
    try {
      for (const [namespace, expect] of [['locked', true], ['open', false]] as const) {
        const review = {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: { uid: `u-${namespace}`, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace, operation: 'CREATE', object: pod() },
        };
        const res = await app.inject({ method: 'POST', url: '/inject', payload: review });
        const answer = res.json<{ response: { allowed: boolean; patch?: string; warnings?: string[] } }>().response;
        assert.equal(answer.allowed, true);
        assert.ok(answer.patch !== undefined, 'the pod is still injected');
        assert.equal(rejection(answer.warnings ?? []) !== undefined, expect, `${namespace}: ${JSON.stringify(answer.warnings)}`);
      }
    } finally {
      await app.close();
    }
  });

  it("answers namespace labels from the cluster mode's namespace cache, and a namespace's other labels do not change policy", async () => {
    const api = new FakeKubeApi();
    api.putNamespace('locked', { [ENFORCE]: 'restricted' });
    const parts = await startKubeParts(parseKubeFlags({ configMap: 'siding-config' }, { POD_NAMESPACE: 'mesh' }), {
      api,
      registry: new Registry(),
      log: new RecordingLogger(),
      initialConfig: DEFAULT_CONFIG,
      initialSource: 'x',
    });
    try {
      assert.deepEqual(parts.namespaceLabels('locked'), { [ENFORCE]: 'restricted' });
      assert.equal(parts.namespaceLabels('unseen'), undefined);
      // The webhook hands the engine the level alone: a namespace without siding's own label
      // in the cache still gets the pod injected (the API server's namespaceSelector decided).
      const out = injected(injectPod(pod(), { namespace: 'locked', podSecurityEnforce: 'restricted' }, DEFAULT_CONFIG));
      assert.ok(rejection(out.warnings) !== undefined);
    } finally {
      parts.stop();
    }
  });
});
