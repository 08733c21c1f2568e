import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { DEFAULT_CONFIG, parseConfig, type InjectionConfig } from '../../src/config/index.js';
import { injectPod, matchesSelector, shouldInject, type InjectContext } from '../../src/inject/index.js';

function pod(opts: { labels?: Record<string, string>; annotations?: Record<string, unknown>; hostNetwork?: boolean } = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.annotations ? { annotations: opts.annotations as Record<string, string> } : {}),
    },
    spec: { ...(opts.hostNetwork ? { hostNetwork: true } : {}), containers: [{ name: 'app', image: 'nginx' }] },
  };
}

const disabled = parseConfig('policy: disabled\n', 'disabled.yaml');
const selectors = parseConfig(
  `
neverInjectSelector:
  - matchLabels: {tier: batch}
  - matchExpressions: [{key: legacy, operator: Exists}]
alwaysInjectSelector:
  - matchExpressions: [{key: team, operator: In, values: [payments, checkout]}]
excludedNamespaces: [kube-system, tools]
`,
  'selectors.yaml',
);
const selectorsDisabled = { ...selectors, policy: 'disabled' as const };

interface Row {
  name: string;
  pod: V1Pod;
  ctx?: Partial<InjectContext>;
  config?: InjectionConfig;
  kind: 'inject' | 'skip' | 'deny';
  reason?: string;
  message?: RegExp;
}

const ROWS: Row[] = [
  { name: 'a plain pod is injected when the policy is enabled', pod: pod(), kind: 'inject', reason: 'policyEnabled' },
  { name: 'a plain pod is skipped when the policy is disabled', pod: pod(), config: disabled, kind: 'skip', reason: 'policyDisabled' },
  { name: 'a pod labelled inject=true is injected when the policy is disabled', pod: pod({ labels: { 'siding.io/inject': 'true' } }), config: disabled, kind: 'inject', reason: 'optedInByLabel' },
  { name: 'a pod annotated inject=true is injected when the policy is disabled', pod: pod({ annotations: { 'siding.io/inject': 'true' } }), config: disabled, kind: 'inject', reason: 'optedInByAnnotation' },
  { name: "Istio's inject label opts a pod out", pod: pod({ labels: { 'sidecar.istio.io/inject': 'false' } }), kind: 'skip', reason: 'optedOutByLabel', message: /sidecar\.istio\.io\/inject/ },
  { name: "Istio's inject annotation opts a pod in when the policy is disabled", pod: pod({ annotations: { 'sidecar.istio.io/inject': 'true' } }), config: disabled, kind: 'inject', reason: 'optedInByAnnotation' },
  { name: "siding's label wins over Istio's label", pod: pod({ labels: { 'siding.io/inject': 'true', 'sidecar.istio.io/inject': 'false' } }), kind: 'inject', reason: 'optedInByLabel' },
  { name: "siding's label wins over siding's annotation", pod: pod({ labels: { 'siding.io/inject': 'false' }, annotations: { 'siding.io/inject': 'true' } }), kind: 'skip', reason: 'optedOutByLabel' },
  { name: 'an opt-out label is reported as a label', pod: pod({ labels: { 'siding.io/inject': 'false' } }), kind: 'skip', reason: 'optedOutByLabel', message: /^opted out by label siding\.io\/inject$/ },
  { name: 'an opt-out annotation is reported as an annotation', pod: pod({ annotations: { 'siding.io/inject': 'false' } }), kind: 'skip', reason: 'optedOutByAnnotation', message: /^opted out by annotation siding\.io\/inject$/ },
  { name: 'a hostNetwork pod is skipped', pod: pod({ hostNetwork: true }), kind: 'skip', reason: 'hostNetwork', message: /^hostNetwork/ },
  { name: 'a hostNetwork pod is skipped even when it opts in', pod: pod({ hostNetwork: true, labels: { 'siding.io/inject': 'true' } }), kind: 'skip', reason: 'hostNetwork' },
  { name: 'a pod in kube-system is skipped', pod: pod(), ctx: { namespace: 'kube-system' }, kind: 'skip', reason: 'excludedNamespace' },
  { name: 'a pod in kube-public is skipped', pod: pod(), ctx: { namespace: 'kube-public' }, kind: 'skip', reason: 'excludedNamespace' },
  { name: 'a pod in kube-node-lease is skipped', pod: pod(), ctx: { namespace: 'kube-node-lease' }, kind: 'skip', reason: 'excludedNamespace' },
  { name: "a pod in siding's own namespace is skipped", pod: pod(), ctx: { namespace: 'siding-system' }, kind: 'skip', reason: 'excludedNamespace' },
  { name: "siding's own namespace stays excluded when the list is replaced", pod: pod(), ctx: { namespace: 'siding-system' }, config: selectors, kind: 'skip', reason: 'excludedNamespace' },
  { name: 'a configured excluded namespace is skipped even when the pod opts in', pod: pod({ labels: { 'siding.io/inject': 'true' } }), ctx: { namespace: 'tools' }, config: selectors, kind: 'skip', reason: 'excludedNamespace' },
  { name: 'a namespace without the injection label is skipped when its labels are known', pod: pod(), ctx: { namespaceLabels: { team: 'x' } }, kind: 'skip', reason: 'namespaceNotEnabled', message: /siding-injection=enabled/ },
  { name: 'a namespace labelled siding-injection=disabled is skipped', pod: pod({ labels: { 'siding.io/inject': 'true' } }), ctx: { namespaceLabels: { 'siding-injection': 'disabled' } }, kind: 'skip', reason: 'namespaceNotEnabled' },
  { name: 'a namespace labelled siding-injection=enabled is injected', pod: pod(), ctx: { namespaceLabels: { 'siding-injection': 'enabled' } }, kind: 'inject', reason: 'policyEnabled' },
  { name: 'a pod matching neverInjectSelector by label is skipped', pod: pod({ labels: { tier: 'batch' } }), config: selectors, kind: 'skip', reason: 'neverInjectSelector', message: /neverInjectSelector\[0\]/ },
  { name: 'a pod matching neverInjectSelector by expression is skipped', pod: pod({ labels: { legacy: '' } }), config: selectors, kind: 'skip', reason: 'neverInjectSelector', message: /neverInjectSelector\[1\]/ },
  { name: 'an explicit opt-in overrides neverInjectSelector', pod: pod({ labels: { tier: 'batch', 'siding.io/inject': 'true' } }), config: selectors, kind: 'inject', reason: 'optedInByLabel' },
  { name: 'a pod matching alwaysInjectSelector is injected when the policy is disabled', pod: pod({ labels: { team: 'payments' } }), config: selectorsDisabled, kind: 'inject', reason: 'alwaysInjectSelector' },
  { name: 'a pod not matching alwaysInjectSelector is skipped when the policy is disabled', pod: pod({ labels: { team: 'search' } }), config: selectorsDisabled, kind: 'skip', reason: 'policyDisabled' },
  { name: 'neverInjectSelector wins over alwaysInjectSelector', pod: pod({ labels: { team: 'payments', tier: 'batch' } }), config: selectors, kind: 'skip', reason: 'neverInjectSelector' },
  { name: 'an opt-out wins over alwaysInjectSelector', pod: pod({ labels: { team: 'payments' }, annotations: { 'siding.io/inject': 'false' } }), config: selectors, kind: 'skip', reason: 'optedOutByAnnotation' },
  { name: 'an inject label that is not true or false denies the pod', pod: pod({ labels: { 'siding.io/inject': 'yes' } }), kind: 'deny', message: /^invalid value 'yes' for label 'siding\.io\/inject': must be exactly "true" or "false"$/ },
  { name: 'an unquoted boolean inject annotation denies the pod and says to quote it', pod: pod({ annotations: { 'siding.io/inject': false } }), kind: 'deny', message: /quote it/ },
  { name: 'an inject annotation in capitals denies the pod', pod: pod({ annotations: { 'sidecar.istio.io/inject': 'False' } }), kind: 'deny', message: /for annotation 'sidecar\.istio\.io\/inject'/ },
];

for (const row of ROWS) {
  test(row.name, () => {
    const d = shouldInject(row.pod, { namespace: 'default', ...row.ctx }, row.config ?? DEFAULT_CONFIG);
    assert.equal(d.kind, row.kind, JSON.stringify(d));
    if (d.kind !== 'deny' && row.reason !== undefined) assert.equal(d.reason, row.reason);
    if (row.message !== undefined) {
      const text = d.kind === 'deny' ? d.errors.join('\n') : d.message;
      assert.match(text, row.message);
    }
    // The engine agrees with policy for every row.
    const o = injectPod(row.pod, { namespace: 'default', ...row.ctx }, row.config ?? DEFAULT_CONFIG);
    assert.equal(o.kind, { inject: 'injected', skip: 'skipped', deny: 'denied' }[row.kind]);
    if (o.kind === 'skipped' && d.kind === 'skip') assert.equal(o.reason, d.reason);
  });
}

test('a skipped pod with invalid annotations is skipped, not denied', () => {
  const p = pod({ labels: { 'siding.io/inject': 'false' }, annotations: { 'traffic.siding.io/excludeOutboundPorts': 'nope' } });
  assert.equal(injectPod(p, { namespace: 'default' }, DEFAULT_CONFIG).kind, 'skipped');
});

test('label selectors follow Kubernetes semantics for every operator', () => {
  const sel = (e: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }) => ({
    matchLabels: {},
    matchExpressions: [{ key: e.key, operator: e.operator, values: e.values ?? [] }],
  });
  assert.equal(matchesSelector({ a: 'x' }, sel({ key: 'a', operator: 'In', values: ['x', 'y'] })), true);
  assert.equal(matchesSelector({ a: 'z' }, sel({ key: 'a', operator: 'In', values: ['x'] })), false);
  assert.equal(matchesSelector({}, sel({ key: 'a', operator: 'In', values: ['x'] })), false);
  assert.equal(matchesSelector({}, sel({ key: 'a', operator: 'NotIn', values: ['x'] })), true, 'NotIn matches a missing key');
  assert.equal(matchesSelector({ a: 'x' }, sel({ key: 'a', operator: 'NotIn', values: ['x'] })), false);
  assert.equal(matchesSelector({ a: '' }, sel({ key: 'a', operator: 'Exists' })), true);
  assert.equal(matchesSelector({ a: '' }, sel({ key: 'a', operator: 'DoesNotExist' })), false);
  assert.equal(matchesSelector({ a: '1', b: '2' }, { matchLabels: { a: '1', b: '2' }, matchExpressions: [] }), true);
  assert.equal(matchesSelector({ a: '1' }, { matchLabels: { a: '1', b: '2' }, matchExpressions: [] }), false);
});

test('a pod already injected by Istio is denied with a message saying so', () => {
  const o = injectPod(pod({ annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } }), { namespace: 'default' }, DEFAULT_CONFIG);
  assert.equal(o.kind, 'denied');
  assert.match(o.kind === 'denied' ? o.message : '', /already injected by Istio/);
});
