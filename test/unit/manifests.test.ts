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

describe('the CNI overlay (manifests/overlays/cni)', skipUnless(kubectl), () => {
  const render = (): Obj[] => {
    const bin = execFileSync('bash', ['scripts/build-kube.sh', '--check'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
    const text = execFileSync(`${bin}/kubectl`, ['kustomize', 'manifests/overlays/cni'], { encoding: 'utf8' });
    return parseAllDocuments(text).map((d) => d.toJS() as Obj).filter(Boolean);
  };
  const get = (objs: Obj[], kind: string, name: string): Obj => {
    const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(o, `${kind}/${name} is not in the CNI overlay`);
    return o;
  };

  test('sets redirect.mode cni and keeps every other config default', () => {
    const cm = get(render(), 'ConfigMap', 'siding-config') as Obj & { data: Record<string, string> };
    const config = parseConfig(cm.data['config.yaml'] ?? '', 'overlay');
    assert.deepEqual(config, { ...DEFAULT_CONFIG, redirect: { ...DEFAULT_CONFIG.redirect, mode: 'cni' } });
  });

  test("gives the node agent exactly pods get/list/watch/delete and events create, and the webhook's roles stay as they were", () => {
    const objs = render();
    const role = get(objs, 'ClusterRole', 'siding-cni') as Obj & { rules: unknown[] };
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
    assert.deepEqual((get(objs, 'ClusterRole', 'siding') as Obj & { rules: unknown[] }).rules, (find('ClusterRole', 'siding') as Obj & { rules: unknown[] }).rules);
  });

  test('runs the agent as root with only NET_ADMIN, NET_RAW, SYS_ADMIN and SYS_PTRACE, never privileged, read-only root filesystem', () => {
    const ds = get(render(), 'DaemonSet', 'siding-cni') as Obj & { spec: { template: { spec: { hostNetwork: boolean; hostPID: boolean; containers: { image: string; securityContext: Record<string, unknown> }[] } } } };
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.hostPID, true);
    const c = pod.containers[0]!;
    assert.equal(c.securityContext.privileged, false);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE'] });
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(c.image, `ghcr.io/siding-mesh/siding:${pkg.version}`);
  });

  test('lets siding-system run the agent (privileged) while auditing and warning at restricted', () => {
    const ns = get(render(), 'Namespace', 'siding-system') as Obj & { metadata: { labels: Record<string, string> } };
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/audit'], 'restricted');
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/warn'], 'restricted');
  });
});
