import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CONFIG, parseConfig } from '../../src/config/index.js';
import { prerequisite, skipUnless } from '../helpers/prereq.js';

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

const installText = readFileSync(new URL('../../manifests/install.yaml', import.meta.url), 'utf8');
const objects = parseAllDocuments(installText).map((d) => d.toJS() as Obj).filter(Boolean);
const find = (kind: string, name: string): Obj => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} is not in manifests/install.yaml`);
  return o;
};

describe('the install manifests', () => {
  test('the ConfigMap carries exactly the built-in default injection config', () => {
    const cm = find('ConfigMap', 'siding-config') as Obj & { data: Record<string, string> };
    const text = cm.data['config.yaml'];
    assert.ok(text, 'siding-config has no config.yaml key');
    assert.deepEqual(parseConfig(text, 'siding-config'), DEFAULT_CONFIG);
  });

  test('the webhook configuration fails closed, is called for pod creation only, and re-invokes', () => {
    const mwc = find('MutatingWebhookConfiguration', 'siding') as Obj & { webhooks: Record<string, unknown>[] };
    assert.equal(mwc.webhooks.length, 1);
    const w = mwc.webhooks[0]!;
    assert.equal(w.name, 'inject.siding.io');
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.sideEffects, 'None');
    assert.equal(w.timeoutSeconds, 10);
    assert.equal(w.reinvocationPolicy, 'IfNeeded');
    assert.equal(w.matchPolicy, 'Equivalent');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.deepEqual(w.rules, [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
    ]);
    const ns = JSON.stringify(w.namespaceSelector);
    assert.match(ns, /siding-injection/);
    assert.match(ns, /kube-system/);
    assert.match(ns, /siding-system/);
    assert.match(JSON.stringify(w.objectSelector), /siding\.io\/inject/);
  });

  test('the webhook Deployment runs non-root with a read-only root filesystem and no capabilities', () => {
    const dep = find('Deployment', 'siding') as Obj & { spec: { replicas: number; template: { spec: Record<string, unknown> } } };
    assert.equal(dep.spec.replicas, 2);
    const pod = dep.spec.template.spec as { securityContext: Record<string, unknown>; containers: Record<string, unknown>[] };
    assert.equal(pod.securityContext.runAsNonRoot, true);
    for (const c of pod.containers) {
      const sc = c.securityContext as Record<string, unknown>;
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.deepEqual((sc.capabilities as { drop: string[] }).drop, ['ALL']);
    }
  });

  test('a NetworkPolicy isolates the webhook pods and lets only the API server reach their webhook port', () => {
    const dep = find('Deployment', 'siding') as Obj & {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports?: { name: string; containerPort: number }[] }[] } } };
    };
    const np = find('NetworkPolicy', 'siding-webhook') as Obj & {
      spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from: unknown[]; ports: unknown[] }[] };
    };
    assert.equal(np.metadata.namespace, 'siding-system');
    // It selects exactly the Deployment's pods.
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) assert.equal(dep.spec.template.metadata.labels[k], v, `podSelector ${k}=${v}`);
    assert.deepEqual(np.spec.policyTypes, ['Ingress']);
    // One rule: the webhook's container port, from the API server's pods only.
    assert.equal(np.spec.ingress.length, 1);
    const port = dep.spec.template.spec.containers[0]?.ports?.find((p) => p.name === 'https')?.containerPort;
    assert.deepEqual(np.spec.ingress[0]!.ports, [{ protocol: 'TCP', port }]);
    assert.deepEqual(np.spec.ingress[0]!.from, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { component: 'kube-apiserver' } } },
    ]);
  });

  test('the webhook container\'s memory limit is what the webhook\'s bounds are sized for', () => {
    const dep = find('Deployment', 'siding') as Obj & { spec: { template: { spec: { containers: { name: string; resources: { limits: { memory: string } } }[] } } } };
    const webhook = dep.spec.template.spec.containers.find((c) => c.name === 'webhook');
    assert.equal(webhook?.resources.limits.memory, '256Mi', 'change DEFAULT_REVIEW_LIMITS and DEFAULT_CONNECTION_LIMITS (and their measurement) with the limit');
  });

  test("the cluster-wide permissions are get and patch of siding's own webhook configuration and list and watch of Namespaces, nothing else", () => {
    const roles = objects.filter((o) => o.kind === 'ClusterRole') as (Obj & { rules: Record<string, unknown>[] })[];
    assert.equal(roles.length, 1);
    assert.deepEqual(roles[0]!.rules, [
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: ['siding'],
        verbs: ['get', 'patch'],
      },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
    ]);
  });
});

const kubectl = prerequisite(() => {
  try {
    execFileSync('bash', ['scripts/build-kube.sh', '--check'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'the kubectl built by scripts/build-kube.sh is missing, so install.yaml cannot be re-rendered';
  }
});

test('manifests/install.yaml is what kubectl kustomize renders from manifests/', skipUnless(kubectl), () => {
  execFileSync('bash', ['scripts/render-manifests.sh', '--check'], { stdio: ['ignore', 'inherit', 'inherit'] });
});
