/**
 * siding's own containers and volumes are built once per config and annotation values,
 * frozen and shared between pods; serializePatch reuses their JSON. These tests pin what
 * that sharing must never change: every pod gets the parts its own settings call for, a
 * shared part cannot be changed through one pod, and the patch text is JSON.stringify's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { injectPod, serializePatch, type InjectOutcome } from '../../src/inject/index.js';

function pod(name: string, annotations: Record<string, string> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, annotations },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
  };
}

function injected(o: InjectOutcome): Extract<InjectOutcome, { kind: 'injected' }> {
  if (o.kind !== 'injected') assert.fail(`expected injected, got ${JSON.stringify(o)}`);
  return o;
}

function proxyOf(p: V1Pod): V1Container {
  const c = [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((x) => x.name === 'siding-proxy');
  assert.ok(c, 'no siding-proxy');
  return c;
}

describe('shared injection parts', () => {
  it('gives two pods with the same settings the same frozen proxy and init containers', () => {
    const a = injected(injectPod(pod('a'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    const b = injected(injectPod(pod('b'), { namespace: 'shop', parsedJson: true }, DEFAULT_CONFIG)).pod;
    assert.equal(proxyOf(a), proxyOf(b));
    assert.equal(a.spec?.initContainers?.[0], b.spec?.initContainers?.[0]);
    assert.ok(Object.isFrozen(proxyOf(a)));
    assert.ok(Object.isFrozen(proxyOf(a).securityContext?.capabilities?.drop));
  });

  it('refuses a change to a shared container through one pod, so the next pod is unaffected', () => {
    const a = injected(injectPod(pod('a'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    assert.throws(() => {
      (proxyOf(a) as { image?: string }).image = 'evil:latest';
    }, TypeError);
    const b = injected(injectPod(pod('b'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    assert.equal(proxyOf(b).image, DEFAULT_CONFIG.proxy.image);
  });

  it('builds each pod its own parts when its annotations change the settings, past the cache bound too', () => {
    // 300 distinct values: more than the 64 kept per config, so the cache is emptied and
    // refilled several times; every pod must still get exactly its own request.
    for (let i = 1; i <= 300; i++) {
      const cpu = `${i}m`;
      const out = injected(injectPod(pod(`p${i}`, { 'siding.io/proxyCPU': cpu }), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
      assert.equal(proxyOf(out).resources?.requests?.cpu, cpu);
      assert.equal(proxyOf(out).resources?.limits?.cpu, DEFAULT_CONFIG.proxy.resources.limits.cpu);
    }
    const plain = injected(injectPod(pod('plain'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    assert.equal(proxyOf(plain).resources?.requests?.cpu, DEFAULT_CONFIG.proxy.resources.requests.cpu);
  });

  it('keeps parts per config: a reloaded config with another image gives pods that image', () => {
    const reloaded = structuredClone(DEFAULT_CONFIG);
    reloaded.proxy.image = 'registry.example.com/proxy:2';
    const a = injected(injectPod(pod('a'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    const b = injected(injectPod(pod('b'), { namespace: 'shop' }, reloaded)).pod;
    assert.equal(proxyOf(a).image, DEFAULT_CONFIG.proxy.image);
    assert.equal(proxyOf(b).image, 'registry.example.com/proxy:2');
  });

  it('re-injects a pod that holds shared parts without changing them', () => {
    const once = injected(injectPod(pod('a'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod;
    const twice = injected(injectPod(once, { namespace: 'shop' }, DEFAULT_CONFIG));
    assert.deepEqual(twice.patch, []);
    const other = injected(injectPod(once, { namespace: 'shop' }, { ...DEFAULT_CONFIG, proxy: { ...DEFAULT_CONFIG.proxy, image: 'proxy:3' } }));
    assert.equal(proxyOf(other.pod).image, 'proxy:3');
    assert.equal(proxyOf(once).image, DEFAULT_CONFIG.proxy.image);
  });
});

describe('serializePatch', () => {
  const shared = proxyOf(injected(injectPod(pod('a'), { namespace: 'shop' }, DEFAULT_CONFIG)).pod);
  const cases: [string, unknown[]][] = [
    ['an empty patch', []],
    ['remove and replace operations', [{ op: 'remove', path: '/spec/volumes/1' }, { op: 'replace', path: '/metadata/name', value: 'x"y\u2028' }]],
    ['a shared container and a list holding one', [{ op: 'add', path: '/spec/initContainers/0', value: shared }, { op: 'add', path: '/spec/initContainers', value: [shared, { name: 'app' }] }]],
    ['an operation whose value is undefined (dropped as JSON.stringify drops it)', [{ op: 'add', path: '/a', value: undefined }]],
    ['a value with toJSON', [{ op: 'add', path: '/a', value: new Date(0) }, { op: 'add', path: '/b', value: [shared, new Date(0)] }]],
    ['a list with a hole-like undefined entry next to a shared one', [{ op: 'add', path: '/a', value: [shared, undefined, null, 1] }]],
    ['operations with other keys or key orders', [{ path: '/a', op: 'add', value: 1 }, { op: 'copy', from: '/a', path: '/b' }, { op: 'test', path: '/a', value: shared, extra: true }]],
  ];
  for (const [what, patch] of cases) {
    it(`writes ${what} exactly as JSON.stringify does`, () => {
      assert.equal(serializePatch(patch as Operation[]), JSON.stringify(patch));
    });
  }
});

describe('nesting bound', () => {
  // The webhook reads its body in place (parsedJson) and only checks nesting; the CLI and
  // library copy. Both must draw the line at the same depth, for objects and for values.
  function nested(depth: number, leaf: unknown): unknown {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = { k: v };
    return v;
  }
  for (const depth of [996, 997, 998, 999, 1000]) {
    for (const leaf of ['x', {}, [], [1]]) {
      it(`decides a pod with ${JSON.stringify(leaf)} under ${depth} levels of spec.nodeSelector the same in place and copied`, () => {
        const p = pod('deep');
        (p.spec as unknown as Record<string, unknown>).nodeSelector = nested(depth, leaf);
        const text = JSON.stringify(p);
        const inPlace = injectPod(JSON.parse(text) as V1Pod, { namespace: 'shop', parsedJson: true }, DEFAULT_CONFIG);
        const copied = injectPod(JSON.parse(text) as V1Pod, { namespace: 'shop' }, DEFAULT_CONFIG);
        assert.equal(inPlace.kind, copied.kind);
        assert.deepEqual(inPlace, copied);
      });
    }
  }
  it('puts the bound inside the depths compared above: 997 levels inject, 999 are denied', () => {
    for (const [depth, kind] of [[997, 'injected'], [999, 'denied']] as const) {
      const p = pod('deep');
      (p.spec as unknown as Record<string, unknown>).nodeSelector = nested(depth, 'x');
      assert.equal(injectPod(p, { namespace: 'shop', parsedJson: true }, DEFAULT_CONFIG).kind, kind, `depth ${depth}`);
    }
  });

  it('denies a pod past the bound in both modes', () => {
    const p = pod('deep');
    (p.spec as unknown as Record<string, unknown>).nodeSelector = nested(1200, 'x');
    const text = JSON.stringify(p);
    for (const parsedJson of [true, false]) {
      const o = injectPod(JSON.parse(text) as V1Pod, { namespace: 'shop', parsedJson }, DEFAULT_CONFIG);
      assert.equal(o.kind, 'denied');
    }
  });
});
