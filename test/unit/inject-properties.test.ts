import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { configFromValue } from '../../src/config/index.js';
import { isPortName } from '../../src/config/values.js';
import { diffPods, firstInjectionPatch, injectPod, serializePatch, type InjectOutcome } from '../../src/inject/index.js';

const NUM_RUNS = 300;

/** The built-in config, letting pods choose any proxy image (the generated pods do). */
const DEFAULT_CONFIG = configFromValue({ proxy: { imageOverridePrefixes: ['*'] } }, 'test');

const dnsName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,12}[a-z0-9]$/)
  .filter((s) => !s.startsWith('siding-') && !s.includes('--'));
const portName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,13}[a-z0-9]$/)
  .filter((s) => isPortName(s) && s !== 'http-envoy-prom' && s !== 'siding-health');
const appId = fc.integer({ min: 0, max: 65535 }).filter((n) => n !== 1337);
const image = fc.constantFrom('nginx:1.27', 'busybox', 'registry.example.com/team/app:v1.2.3', 'ghcr.io/org/tool@sha256:' + 'b'.repeat(64));

const ports = fc
  .uniqueArray(fc.record({ name: portName, containerPort: fc.integer({ min: 1, max: 65535 }) }), {
    maxLength: 3,
    selector: (p) => p.name,
  })
  .map((list) => list.map((p) => ({ ...p, protocol: 'TCP' })));

function container(name: string): fc.Arbitrary<V1Container> {
  return fc.record(
    {
      name: fc.constant(name),
      image,
      ports,
      args: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
      securityContext: fc.record({ runAsUser: appId, runAsGroup: appId }, { requiredKeys: [] }),
    },
    { requiredKeys: ['name', 'image'] },
  );
}

const portList = fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 4 }).map((l) => l.join(','));
const cidrList = fc
  .array(fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })), { maxLength: 3 })
  .map((l) => l.map(([ip, p]) => `${ip}/${p}`).join(','));

const annotations = fc.record(
  {
    'traffic.siding.io/excludeOutboundPorts': portList,
    'traffic.sidecar.istio.io/excludeInboundPorts': portList,
    'traffic.siding.io/includeOutboundPorts': portList,
    'traffic.siding.io/includeInboundPorts': fc.oneof(fc.constant('*'), portList),
    'traffic.siding.io/excludeOutboundIPRanges': cidrList,
    'traffic.siding.io/includeOutboundIPRanges': fc.oneof(fc.constant('*'), cidrList),
    'traffic.siding.io/excludeInterfaces': fc.constantFrom('', 'eth1', 'eth1,net1'),
    'siding.io/nativeSidecar': fc.constantFrom('true', 'false'),
    'siding.io/holdApplicationUntilProxyStarts': fc.constantFrom('true', 'false'),
    'siding.io/proxyCPU': fc.constantFrom('10m', '100m', '500m'),
    'sidecar.istio.io/proxyMemory': fc.constantFrom('64Mi', '128Mi'),
    'siding.io/proxyImage': image,
    'siding.io/inject': fc.constant('true'),
    'example.com/note': fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);

const labels = fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), fc.stringMatching(/^[a-z0-9]{0,8}$/), { maxKeys: 3 });

/** Pods the API server would accept and siding should inject. */
const validPod: fc.Arbitrary<V1Pod> = fc
  .record({
    names: fc.uniqueArray(dnsName, { minLength: 1, maxLength: 6 }),
    split: fc.nat(),
    volumes: fc.uniqueArray(dnsName, { maxLength: 3 }),
    name: fc.option(dnsName, { nil: undefined }),
    labels,
    annotations,
    restartPolicy: fc.constantFrom(undefined, 'Always', 'OnFailure', 'Never'),
    managedFields: fc.boolean(),
    podUser: fc.option(appId, { nil: undefined }),
  })
  .chain((r) => {
    const nApps = 1 + (r.split % r.names.length);
    const apps = r.names.slice(0, nApps);
    const inits = r.names.slice(nApps);
    return fc.record({
      containers: fc.tuple(...apps.map(container)),
      initContainers: inits.length === 0 ? fc.constant(undefined) : fc.tuple(...inits.map(container)),
    }).map(({ containers, initContainers }): V1Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...(r.name === undefined ? { generateName: 'gen-' } : { name: r.name }),
        labels: r.labels,
        annotations: r.annotations,
        ...(r.managedFields ? { managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': {} } }] } : {}),
      },
      spec: {
        containers,
        ...(initContainers === undefined ? {} : { initContainers }),
        ...(r.volumes.length > 0 ? { volumes: r.volumes.map((name) => ({ name, emptyDir: {} })) } : {}),
        ...(r.restartPolicy === undefined ? {} : { restartPolicy: r.restartPolicy }),
        ...(r.podUser === undefined ? {} : { securityContext: { runAsUser: r.podUser } }),
      },
    }));
  });

function injectedOf(o: InjectOutcome): Extract<InjectOutcome, { kind: 'injected' }> {
  if (o.kind !== 'injected') assert.fail(`expected injected, got ${JSON.stringify(o)}`);
  return o;
}

test('any valid generated pod injects to a pod with unique container names and valid port names', () => {
  fc.assert(
    fc.property(validPod, (pod) => {
      const out = injectedOf(injectPod(pod, { namespace: 'default' }, DEFAULT_CONFIG)).pod;
      const all = [...(out.spec?.initContainers ?? []), ...(out.spec?.containers ?? [])];
      const names = all.map((c) => c.name);
      assert.equal(new Set(names).size, names.length, `duplicate container names: ${names.join(',')}`);
      assert.equal(names.filter((n) => n === 'siding-proxy').length, 1);
      assert.equal(names.filter((n) => n === 'siding-init').length, 1);
      for (const c of all) {
        const portNames = (c.ports ?? []).flatMap((p) => (p.name === undefined ? [] : [p.name]));
        for (const n of portNames) assert.ok(isPortName(n), `invalid port name ${n}`);
        assert.equal(new Set(portNames).size, portNames.length, `duplicate port names in ${c.name}`);
      }
      const volumes = (out.spec?.volumes ?? []).map((v) => v.name);
      assert.equal(new Set(volumes).size, volumes.length, 'duplicate volume names');
    }),
    { numRuns: NUM_RUNS },
  );
});

test('injecting an injected pod gives the same pod and an empty patch', () => {
  fc.assert(
    fc.property(validPod, (pod) => {
      const once = injectedOf(injectPod(pod, { namespace: 'default' }, DEFAULT_CONFIG));
      const twice = injectedOf(injectPod(once.pod, { namespace: 'default' }, DEFAULT_CONFIG));
      assert.deepEqual(twice.patch, []);
      assert.deepEqual(twice.pod, once.pod);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('the patch applied to the input pod gives the injected pod and leaves managedFields and app containers alone', () => {
  fc.assert(
    fc.property(validPod, (pod) => {
      const out = injectedOf(injectPod(pod, { namespace: 'default' }, DEFAULT_CONFIG));
      assert.ok(out.patch.every((op) => !op.path.startsWith('/metadata/managedFields')));
      // fast-check builds null-prototype objects; compare plain JSON like the API server sends.
      const plain = JSON.parse(JSON.stringify(pod)) as V1Pod;
      const applied = jsonpatch.applyPatch(plain, structuredClone(out.patch)).newDocument;
      assert.deepEqual(applied.metadata?.managedFields, (JSON.parse(JSON.stringify(pod)) as V1Pod).metadata?.managedFields);
      if (applied.metadata) delete applied.metadata.managedFields;
      assert.deepEqual(applied, out.pod);
      const apps = out.pod.spec?.containers.filter((c) => c.name !== 'siding-proxy');
      assert.deepEqual(apps, JSON.parse(JSON.stringify(pod.spec?.containers)));
    }),
    { numRuns: NUM_RUNS },
  );
});

test("the patch adds siding's own containers and volumes at indexes and never rewrites the pod's own entries", () => {
  fc.assert(
    fc.property(validPod, (pod) => {
      const out = injectedOf(injectPod(pod, { namespace: 'default' }, DEFAULT_CONFIG));
      for (const op of out.patch) {
        const m = /^\/spec\/(initContainers|containers|volumes)(\/.*)?$/.exec(op.path);
        if (m === null) continue;
        if (m[2] === undefined) {
          // A whole list only where the pod had none.
          assert.equal(op.op, 'add', JSON.stringify(op));
          assert.equal((pod.spec as Record<string, unknown> | undefined)?.[m[1] ?? ''], undefined, JSON.stringify(op));
          continue;
        }
        assert.equal(op.op, 'add', JSON.stringify(op));
        assert.match(m[2], /^\/(\d+|-)$/);
        assert.ok(String((op as { value?: { name?: unknown } }).value?.name).startsWith('siding-'), JSON.stringify(op));
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

test('re-injecting under another config gives a patch that turns the injected pod into the re-injected one', () => {
  const other = {
    ...DEFAULT_CONFIG,
    nativeSidecar: !DEFAULT_CONFIG.nativeSidecar,
    holdApplicationUntilProxyStarts: !DEFAULT_CONFIG.holdApplicationUntilProxyStarts,
    proxy: { ...DEFAULT_CONFIG.proxy, image: 'registry.example.com/mesh/envoy:v2', volumes: [] },
  };
  fc.assert(
    fc.property(validPod, fc.boolean(), (pod, otherFirst) => {
      const [first, second] = otherFirst ? [other, DEFAULT_CONFIG] : [DEFAULT_CONFIG, other];
      const once = injectedOf(injectPod(pod, { namespace: 'default' }, first)).pod;
      const input = JSON.parse(JSON.stringify(once)) as V1Pod;
      const again = injectedOf(injectPod(input, { namespace: 'default' }, second));
      const applied = jsonpatch.applyPatch(JSON.parse(JSON.stringify(once)) as V1Pod, structuredClone(again.patch)).newDocument;
      assert.deepEqual(applied, again.pod);
      const apps = (again.pod.spec?.containers ?? []).filter((c) => c.name !== 'siding-proxy');
      assert.deepEqual(apps, JSON.parse(JSON.stringify(pod.spec?.containers)));
    }),
    { numRuns: NUM_RUNS },
  );
});

test('a pod read in place (parsedJson) gets the same outcome as a copied one and is left unchanged', () => {
  fc.assert(
    fc.property(validPod, fc.boolean(), (pod, reinject) => {
      const input = reinject ? injectedOf(injectPod(pod, { namespace: 'default' }, DEFAULT_CONFIG)).pod : pod;
      const text = JSON.stringify(input);
      const parsed = JSON.parse(text) as V1Pod;
      const inPlace = injectPod(parsed, { namespace: 'default', parsedJson: true }, DEFAULT_CONFIG);
      assert.deepEqual(inPlace, injectPod(JSON.parse(text) as V1Pod, { namespace: 'default' }, DEFAULT_CONFIG));
      assert.equal(JSON.stringify(parsed), text);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('serializePatch writes every patch the engine makes exactly as JSON.stringify does (property)', () => {
  fc.assert(
    fc.property(validPod, fc.boolean(), fc.boolean(), (pod, reinject, inPlace) => {
      const input = reinject ? injectedOf(injectPod(pod, { namespace: 'default' }, DEFAULT_CONFIG)).pod : pod;
      const copy = JSON.parse(JSON.stringify(input)) as V1Pod;
      const out = injectedOf(injectPod(copy, { namespace: 'default', parsedJson: inPlace }, DEFAULT_CONFIG));
      assert.equal(serializePatch(out.patch), JSON.stringify(out.patch));
    }),
    { numRuns: NUM_RUNS },
  );
});

test('the first-injection patch is the general diff, operation for operation, whenever it applies (property)', () => {
  let applied = 0;
  fc.assert(
    fc.property(validPod, fc.boolean(), (pod, withAnnotations) => {
      const input = JSON.parse(JSON.stringify(pod)) as V1Pod;
      if (!withAnnotations && input.metadata !== undefined) delete input.metadata.annotations;
      // Read in place, the engine's diff base is the input itself (without managedFields),
      // sharing its lists with the result, as in the webhook.
      const out = injectedOf(injectPod(input, { namespace: 'default', parsedJson: true }, DEFAULT_CONFIG));
      const metadata = { ...input.metadata };
      delete metadata.managedFields;
      const base: V1Pod = { ...input, metadata };
      const fast = firstInjectionPatch(base, out.pod);
      const general = diffPods(base, out.pod);
      assert.deepEqual(out.patch, general);
      if (fast !== undefined) {
        applied++;
        assert.deepEqual(fast, general);
      } else {
        // Only a pod without an annotation map falls back.
        assert.ok(!withAnnotations || input.metadata?.annotations === undefined);
      }
    }),
    { numRuns: NUM_RUNS },
  );
  assert.ok(applied > NUM_RUNS / 4, `the fast path applied to only ${applied} of ${NUM_RUNS} pods`);
});

test('injectPod never throws, whatever it is given (property)', () => {
  const podish = fc.record(
    {
      apiVersion: fc.anything(),
      kind: fc.anything(),
      metadata: fc.oneof(fc.anything(), fc.record({ name: fc.anything(), labels: fc.anything(), annotations: fc.anything() }, { requiredKeys: [] })),
      spec: fc.oneof(
        fc.anything(),
        fc.record(
          {
            containers: fc.oneof(fc.anything(), fc.array(
                fc.oneof(
                  fc.anything(),
                  fc.record(
                    {
                      name: fc.oneof(fc.string({ maxLength: 8 }), fc.anything()),
                      ports: fc.oneof(fc.anything(), fc.array(fc.oneof(fc.anything(), fc.record({ name: fc.anything(), containerPort: fc.anything() })))),
                      securityContext: fc.oneof(fc.anything(), fc.record({ runAsUser: fc.anything(), runAsGroup: fc.anything() })),
                      env: fc.anything(),
                    },
                    { requiredKeys: ['name'] },
                  ),
                ),
              )),
            initContainers: fc.anything(),
            volumes: fc.anything(),
            hostNetwork: fc.anything(),
            securityContext: fc.anything(),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(fc.anything(), podish), (input) => {
      const o = injectPod(input as V1Pod, { namespace: 'default' }, DEFAULT_CONFIG);
      assert.ok(['injected', 'skipped', 'denied'].includes(o.kind));
      // The shape check, not the last-resort catch, is what handles malformed pods.
      if (o.kind === 'denied') assert.ok(!o.message.includes('could not inject'), o.message);
    }),
    { numRuns: 2000 },
  );
});
