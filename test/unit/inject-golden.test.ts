import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { parse, stringify } from 'yaml';
import { configFromValue, DEFAULT_CONFIG, type InjectionConfig } from '../../src/config/index.js';
import { injectPod, type InjectOutcome } from '../../src/inject/index.js';
import { checkObjects, injectManifests, parseManifests } from '../../src/inject/manifests.js';
import { VERSION } from '../../src/version.js';
import { GoldenSet } from '../helpers/golden.js';
import { fixtureText } from '../helpers/fixtures.js';

function loadPod(name: string): V1Pod {
  return parse(fixtureText('inject', `${name}.yaml`).replaceAll('{{VERSION}}', VERSION)) as V1Pod;
}

function render(o: InjectOutcome): string {
  const doc =
    o.kind === 'injected'
      ? { outcome: o.kind, warnings: o.warnings, patch: o.patch, pod: o.pod }
      : o.kind === 'skipped'
        ? { outcome: o.kind, reason: o.reason, message: o.message }
        : { outcome: o.kind, errors: o.errors };
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}

interface PodCase {
  fixture: string;
  title: string;
  expect: InjectOutcome['kind'];
  config?: InjectionConfig;
  check?: (o: InjectOutcome, input: V1Pod) => void;
}

function injected(o: InjectOutcome): Extract<InjectOutcome, { kind: 'injected' }> {
  if (o.kind !== 'injected') assert.fail(`expected injected, got ${JSON.stringify(o)}`);
  return o;
}

function denied(o: InjectOutcome): string[] {
  if (o.kind !== 'denied') assert.fail(`expected denied, got ${JSON.stringify(o)}`);
  return o.errors;
}

const names = (list: { name: string }[] | undefined): string[] => (list ?? []).map((c) => c.name);

/** A config that lets pods choose proxy images from two registries' paths. */
const IMAGE_PREFIXES = configFromValue({ proxy: { imageOverridePrefixes: ['registry.example.com:5000/mesh/', 'docker.io/istio/'] } }, 'test');

const POD_CASES: PodCase[] = [
  {
    fixture: 'plain-pod',
    title: 'a plain pod gets siding-init then siding-proxy as native sidecar init containers',
    expect: 'injected',
    check: (o) => {
      const pod = injected(o).pod;
      assert.deepEqual(names(pod.spec?.initContainers), ['siding-init', 'siding-proxy']);
      assert.equal(pod.spec?.initContainers?.[1]?.restartPolicy, 'Always');
      assert.deepEqual(names(pod.spec?.containers), ['app']);
    },
  },
  {
    fixture: 'multi-container',
    title: 'a pod with several containers keeps every app container unchanged',
    expect: 'injected',
    check: (o, input) => assert.deepEqual(injected(o).pod.spec?.containers, input.spec?.containers),
  },
  {
    fixture: 'existing-init-containers',
    title: "the pod's own init containers run after siding-init and siding-proxy",
    expect: 'injected',
    check: (o) =>
      assert.deepEqual(names(injected(o).pod.spec?.initContainers), ['siding-init', 'siding-proxy', 'migrate', 'warm-cache']),
  },
  {
    fixture: 'classic-layout',
    title: "the classic layout puts the proxy first in containers with a postStart hook, and siding-init after the pod's own init containers, which run before any proxy does",
    expect: 'injected',
    check: (o) => {
      const pod = injected(o).pod;
      assert.deepEqual(names(pod.spec?.initContainers), ['migrate', 'siding-init']);
      assert.deepEqual(names(pod.spec?.containers), ['siding-proxy', 'app']);
      assert.ok(pod.spec?.containers[0]?.lifecycle?.postStart?.exec);
      assert.equal(pod.spec?.containers[0]?.restartPolicy, undefined);
      assert.equal(pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container'], 'app');
    },
  },
  {
    fixture: 'classic-layout-no-hold',
    title: 'the classic layout without holdApplicationUntilProxyStarts appends the proxy without a hook',
    expect: 'injected',
    check: (o) => {
      const pod = injected(o).pod;
      assert.deepEqual(names(pod.spec?.containers), ['app', 'siding-proxy']);
      assert.equal(pod.spec?.containers[1]?.lifecycle, undefined);
    },
  },
  { fixture: 'opt-out-label', title: 'a pod labelled siding.io/inject=false is skipped', expect: 'skipped' },
  { fixture: 'opt-out-annotation', title: 'a pod annotated siding.io/inject=false is skipped', expect: 'skipped' },
  { fixture: 'host-network', title: 'a hostNetwork pod is skipped', expect: 'skipped' },
  {
    fixture: 'traffic-annotations',
    title: 'every traffic and proxy annotation reaches the init flags and the proxy container',
    expect: 'injected',
    config: IMAGE_PREFIXES,
    check: (o) => {
      const pod = injected(o).pod;
      const init = pod.spec?.initContainers?.[0];
      assert.deepEqual(init?.args, [
        '-p', '15001', '-z', '15006', '-u', '1337', '-g', '1337', '-m', 'REDIRECT',
        '-i', '10.0.0.0/8,fd00::/8,192.168.1.77/32',
        '-x', '10.96.0.0/12,2001:db8::/64',
        '-b', '8080,8443',
        '-d', '15090,15021,9000,9100-9110',
        '-o', '5432,6379,30000-32767',
        '-q', '443',
        '-c', 'eth1,net1',
      ]);
      const proxy = pod.spec?.initContainers?.[1];
      assert.equal(proxy?.image, 'registry.example.com:5000/mesh/envoy:v1.34.1-custom');
      assert.deepEqual(proxy?.resources, { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    },
  },
  {
    fixture: 'istio-aliases',
    title: "Istio's annotation spellings are honoured and siding's own key wins when both are set",
    expect: 'injected',
    config: IMAGE_PREFIXES,
    check: (o) => {
      const out = injected(o);
      const args = out.pod.spec?.initContainers?.[0]?.args ?? [];
      assert.equal(args[args.indexOf('-o') + 1], '3306');
      assert.equal(args[args.indexOf('-x') + 1], '169.254.169.254/32');
      assert.equal(args[args.indexOf('-d') + 1], '15090,15021,7000');
      assert.equal(out.pod.spec?.initContainers?.[1]?.image, 'docker.io/istio/proxyv2:1.26.0');
      assert.ok(out.warnings.some((w) => w.includes('traffic.sidecar.istio.io/excludeInboundPorts is ignored')));
      assert.ok(out.warnings.some((w) => w.includes('sidecar.istio.io/logLevel') && w.includes('not supported')));
    },
  },
  ...(
    [
      ['invalid-inject', 'siding.io/inject'],
      ['invalid-include-inbound-ports', 'traffic.siding.io/includeInboundPorts'],
      ['invalid-exclude-inbound-ports', 'traffic.siding.io/excludeInboundPorts'],
      ['invalid-include-outbound-ports', 'traffic.siding.io/includeOutboundPorts'],
      ['invalid-exclude-outbound-ports', 'traffic.siding.io/excludeOutboundPorts'],
      ['invalid-include-outbound-ip-ranges', 'traffic.siding.io/includeOutboundIPRanges'],
      ['invalid-exclude-outbound-ip-ranges', 'traffic.siding.io/excludeOutboundIPRanges'],
      ['invalid-exclude-interfaces', 'traffic.siding.io/excludeInterfaces'],
      ['invalid-proxy-image', 'siding.io/proxyImage'],
      ['invalid-proxy-cpu', 'siding.io/proxyCPU'],
      ['invalid-proxy-memory', 'siding.io/proxyMemory'],
      ['invalid-proxy-cpu-limit', 'siding.io/proxyCPULimit'],
      ['invalid-proxy-memory-limit', 'siding.io/proxyMemoryLimit'],
      ['invalid-native-sidecar', 'siding.io/nativeSidecar'],
      ['invalid-hold-application', 'siding.io/holdApplicationUntilProxyStarts'],
      ['invalid-interception-mode', 'siding.io/interceptionMode'],
      ['invalid-request-above-limit', 'siding.io/proxyCPU'],
      ['invalid-unknown-siding-annotation', 'traffic.siding.io/excludeOutboundPort'],
      ['invalid-status-record', 'siding.io/status'],
    ] as const
  ).map(
    ([fixture, key]): PodCase => ({
      fixture,
      title: `an invalid ${key} denies the pod with a message naming the annotation`,
      expect: 'denied',
      check: (o) => {
        const errors = denied(o);
        assert.equal(errors.length, 1, errors.join('\n'));
        assert.ok(errors[0]?.includes(`'${key}'`), errors[0]);
        assert.ok(!errors[0]?.includes('\n'), 'a message never contains a raw newline');
      },
    }),
  ),
  {
    fixture: 'invalid-all-at-once',
    title: 'every invalid annotation is reported at once, with hostile characters escaped and long values cut',
    expect: 'denied',
    check: (o) => {
      const errors = denied(o);
      assert.equal(errors.length, 7, errors.join('\n'));
      for (const e of errors) assert.match(e, /^invalid value '.*' for annotation '[a-zA-Z./]+': /);
      const joined = errors.join('\n');
      assert.ok(joined.includes('\\x00'), 'NUL is shown as \\x00');
      assert.ok(joined.includes('tru\\u0435'), 'a Cyrillic look-alike is shown escaped');
      assert.ok(joined.includes("redirect\\'; echo"), 'a quote in the value is escaped');
      assert.ok(joined.includes('(301 characters, truncated)'));
    },
  },
  {
    fixture: 'uid-conflict',
    title: 'a pod whose containers or securityContext run as the proxy UID is denied with every offender',
    expect: 'denied',
    check: (o) => {
      const errors = denied(o);
      assert.equal(errors.length, 3, errors.join('\n'));
      assert.ok(errors.every((e) => e.includes('bypass the proxy')));
    },
  },
  {
    fixture: 'group-conflict',
    title: "a pod that gives its containers the proxy's GID through fsGroup or supplementalGroups is denied, like runAsGroup",
    expect: 'denied',
    check: (o) => {
      const errors = denied(o);
      assert.equal(errors.length, 2, errors.join('\n'));
      assert.ok(errors[0]?.includes('fsGroup 1337') && errors[1]?.includes('supplementalGroups'), errors.join('\n'));
    },
  },
  {
    fixture: 'proxy-image-override-off',
    title: 'a pod that chooses its proxy image is denied under the default config, with a message naming the setting that allows it',
    expect: 'denied',
    check: (o) => assert.match(denied(o).join('\n'), /^invalid value .* for annotation 'siding\.io\/proxyImage': proxy image overrides are off \(the config setting proxy\.imageOverridePrefixes is empty\)$/),
  },
  {
    fixture: 'proxy-image-outside-prefixes',
    title: "a proxy image outside the config's allowed prefixes is denied, naming the setting and its prefixes",
    expect: 'denied',
    config: IMAGE_PREFIXES,
    check: (o) => assert.match(denied(o).join('\n'), /for annotation 'sidecar\.istio\.io\/proxyImage': the image does not start with any of the config setting proxy\.imageOverridePrefixes \(registry\.example\.com:5000\/mesh\/, docker\.io\/istio\/\)$/),
  },
  {
    fixture: 'inject-label-other-spelling',
    title: 'an inject label spelt "False", which the objectSelector lets through, is denied with the word to write and why the pod reached siding',
    expect: 'denied',
    check: (o) =>
      assert.match(
        denied(o).join('\n'),
        /^invalid value 'False' for label 'siding\.io\/inject': must be exactly "true" or "false" \(write "false"; the webhook's objectSelector skips only the exact label value "false", so this pod was sent to siding\)$/,
      ),
  },
  {
    fixture: 'name-collision',
    title: 'a pod that already has a container named siding-proxy without a status record is denied',
    expect: 'denied',
  },
  {
    fixture: 'forged-status-record',
    title: 'a status record that lists none of the siding containers the pod has is no licence to inject a second time',
    expect: 'denied',
    check: (o) => {
      const errors = denied(o);
      for (const name of ['siding-init', 'siding-proxy', 'siding-xtables-lock', 'siding-proxy-tmp']) {
        assert.ok(errors.some((e) => e.includes(` named ${name} that its siding.io/status record does not list`)), errors.join('\n'));
      }
    },
  },
  {
    fixture: 'generate-name',
    title: 'a pod with generateName and no name is injected',
    expect: 'injected',
    check: (o) => assert.equal(injected(o).pod.metadata?.generateName, 'web-7d9f8c6b5-'),
  },
  {
    fixture: 'job-classic',
    title: 'the classic layout in a pod that must complete is injected with a warning',
    expect: 'injected',
    check: (o) => assert.ok(injected(o).warnings.some((w) => w.includes('never completes'))),
  },
  {
    fixture: 'proxy-port-clash',
    title: "an app port equal to one of the proxy's ports is injected with warnings",
    expect: 'injected',
    check: (o) => assert.equal(injected(o).warnings.length, 2),
  },
  {
    fixture: 'already-injected',
    title: 'an already injected pod injects to the same pod with an empty patch',
    expect: 'injected',
    check: (o, input) => {
      const out = injected(o);
      assert.deepEqual(out.patch, []);
      assert.deepEqual(out.pod, input);
    },
  },
  {
    fixture: 'already-injected-classic',
    title: 'an already injected classic-layout pod injects to the same pod with an empty patch',
    expect: 'injected',
    check: (o, input) => {
      const out = injected(o);
      assert.deepEqual(out.patch, []);
      assert.deepEqual(out.pod, input);
    },
  },
  {
    fixture: 'large-managed-fields',
    title: 'a pod with large managedFields is injected and the patch never touches managedFields',
    expect: 'injected',
    check: (o, input) => {
      const out = injected(o);
      assert.ok(out.patch.every((op) => !op.path.startsWith('/metadata/managedFields')));
      assert.equal(out.pod.metadata?.managedFields, undefined);
      // Applied to the real input (managedFields and all), the patch gives the injected pod plus managedFields.
      const applied = jsonpatch.applyPatch(structuredClone(input), out.patch).newDocument;
      assert.deepEqual(applied.metadata?.managedFields, input.metadata?.managedFields);
      assert.deepEqual({ ...applied, metadata: { ...applied.metadata, managedFields: undefined } }, {
        ...out.pod,
        metadata: { ...out.pod.metadata, managedFields: undefined },
      });
    },
  },
];

/** Every golden file this file produces: one per pod case, and the manifest streams. */
const golden = new GoldenSet('inject', [
  ...POD_CASES.map((c) => `${c.fixture}.yaml`),
  'manifest-deployment.yaml',
  'manifest-cronjob.yaml',
  'manifest-list.json',
  'manifest-check-mixed.txt',
]);

for (const c of POD_CASES) {
  test(`${c.title} (golden ${c.fixture}.yaml)`, () => {
    const input = loadPod(c.fixture);
    const before = structuredClone(input);
    const outcome = injectPod(input, { namespace: 'shop' }, c.config ?? DEFAULT_CONFIG);
    assert.deepEqual(input, before, 'the input pod is not modified');
    assert.equal(outcome.kind, c.expect, render(outcome));
    c.check?.(outcome, input);
    if (outcome.kind === 'injected') {
      // The patch applied to the input gives exactly the injected pod.
      const base = structuredClone(input);
      delete base.metadata?.managedFields;
      assert.deepEqual(jsonpatch.applyPatch(base, structuredClone(outcome.patch)).newDocument, outcome.pod);
    }
    golden.check(`${c.fixture}.yaml`, render(outcome));
  });
}

function renderRun(run: ReturnType<typeof injectManifests>): string {
  const header = [...run.warnings.map((w) => `# warning: ${w}`), ...run.denials.map((d) => `# denied: ${d}`)];
  return `${header.join('\n')}${header.length > 0 ? '\n' : ''}${run.output}`;
}

test('a Deployment is injected in its pod template and the other objects pass through unchanged (golden manifest-deployment.yaml)', () => {
  const text = fixtureText('inject', 'manifest-deployment.yaml');
  const run = injectManifests(text, 'manifest-deployment.yaml', { config: DEFAULT_CONFIG, output: 'yaml' });
  assert.deepEqual(run.denials, []);
  const out = parseManifests(run.output, 'out');
  const input = parseManifests(text, 'in');
  assert.equal(out.length, 3);
  assert.deepEqual(out[0], input[0], 'the ConfigMap is unchanged, "on", "0755" and "yes" stay strings');
  assert.deepEqual(out[2], input[2], 'the Service is unchanged');
  const tpl = (out[1] as { spec: { template: V1Pod } }).spec.template;
  assert.deepEqual(names(tpl.spec?.initContainers), ['siding-init', 'siding-proxy', 'migrate']);
  golden.check('manifest-deployment.yaml', renderRun(run));
});

test('a CronJob is injected in its job template (golden manifest-cronjob.yaml)', () => {
  const run = injectManifests(fixtureText('inject', 'manifest-cronjob.yaml'), 'manifest-cronjob.yaml', { config: DEFAULT_CONFIG, output: 'yaml' });
  const out = parseManifests(run.output, 'out');
  const tpl = (out[0] as { spec: { jobTemplate: { spec: { template: V1Pod } } } }).spec.jobTemplate.spec.template;
  assert.deepEqual(names(tpl.spec?.initContainers), ['siding-init', 'siding-proxy']);
  golden.check('manifest-cronjob.yaml', renderRun(run));
});

test('a JSON List has each item injected or passed through, and -o json writes JSON (golden manifest-list.json)', () => {
  const run = injectManifests(fixtureText('inject', 'manifest-list.json'), 'manifest-list.json', { config: DEFAULT_CONFIG, output: 'json' });
  const out = JSON.parse(run.output) as { kind: string; items: { kind: string; spec: { template?: V1Pod } }[] };
  assert.equal(out.kind, 'List');
  assert.deepEqual(names(out.items[0]?.spec.template?.spec?.containers), ['siding-proxy', 'postgres']);
  assert.equal(run.results.find((r) => r.workload === 'Pod/debug')?.outcome.kind, 'skipped');
  golden.check('manifest-list.json', renderRun(run));
});

test('injecting the output of siding inject again gives the same stream', () => {
  const first = injectManifests(fixtureText('inject', 'manifest-deployment.yaml'), 'a', { config: DEFAULT_CONFIG, output: 'yaml' });
  const second = injectManifests(first.output, 'b', { config: DEFAULT_CONFIG, output: 'yaml' });
  assert.equal(second.output, first.output);
});

test('siding check explains every workload kind on one line each (golden manifest-check-mixed.txt)', () => {
  const objects = parseManifests(fixtureText('inject', 'manifest-check-mixed.yaml'), 'mixed');
  const labels: Record<string, Record<string, string>> = { default: { 'siding-injection': 'enabled' }, monitoring: {} };
  const run = checkObjects(objects, { config: DEFAULT_CONFIG, namespaceLabels: (ns) => labels[ns] });
  assert.equal(run.lines.length, 6);
  assert.equal(run.denied, true);
  golden.check('manifest-check-mixed.txt', `${run.lines.join('\n')}\n`);
});

test('every golden file in test/golden/inject belongs to a declared case, and every declared case has one', () => {
  golden.assertNoStale();
});
