import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { DEFAULT_CONFIG, type InjectionConfig } from '../../src/config/index.js';
import { KubeError } from '../../src/errors/index.js';
import { ConfigWatch } from '../../src/kube/configwatch.js';
import { FakeClock, FakeKubeApi, RecordingLogger, settle } from '../helpers/kube-fake.js';

const NS = 'siding-system';
const CM = 'siding-config';
const backoff = { initialMs: 500, maxMs: 4000 };

const watches: ConfigWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.stop();
});

function setup(seed?: Record<string, string>) {
  const api = new FakeKubeApi();
  if (seed !== undefined) api.putConfigMap(NS, CM, seed);
  const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
  const log = new RecordingLogger();
  const registry = new Registry();
  const updates: InjectionConfig[] = [];
  const watch = new ConfigWatch({
    api,
    namespace: NS,
    name: CM,
    initial: DEFAULT_CONFIG,
    initialSource: 'built-in default',
    clock,
    log,
    registry,
    backoff,
    onUpdate: (c) => updates.push(c),
  });
  watches.push(watch);
  return { api, clock, log, registry, watch, updates };
}

async function metric(registry: Registry, name: string): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values[0]?.value;
}

const image = (c: InjectionConfig): string => c.proxy.image;

describe('ConfigWatch', () => {
  it('serves the initial config until the ConfigMap loads, then the ConfigMap', async () => {
    const { watch } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    assert.equal(watch.current(), DEFAULT_CONFIG);
    assert.equal(await watch.start(), true);
    assert.equal(image(watch.current()), 'example.com/proxy:1');
    const st = watch.status();
    assert.equal(st.ok, true);
    assert.equal(st.valid, true);
    assert.equal(st.source, 'ConfigMap siding-system/siding-config key config.yaml');
    assert.ok(st.resourceVersion);
    assert.equal(st.lastError, undefined);
  });

  it('applies a change to the ConfigMap to the next read without a restart', async () => {
    const { api, watch, updates, registry } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    const cm = api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  image: example.com/proxy:2\n' });
    assert.equal(image(watch.current()), 'example.com/proxy:2');
    assert.equal(watch.status().resourceVersion, cm.resourceVersion);
    assert.deepEqual(updates.map(image), ['example.com/proxy:1', 'example.com/proxy:2']);
    assert.equal(await metric(registry, 'siding_config_reloads_total'), 2);
  });

  it('keeps the last good config when a new version is invalid, and reports why in status, metrics and the log', async () => {
    const { api, watch, registry, log } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    const good = watch.status().resourceVersion;
    const bad = api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  imagee: typo\n' });

    assert.equal(image(watch.current()), 'example.com/proxy:1');
    const st = watch.status();
    assert.equal(st.ok, true, 'a valid config is still being served');
    assert.equal(st.valid, false);
    assert.equal(st.resourceVersion, good, 'the version in use is still the good one');
    assert.match(st.lastError ?? '', /imagee/);
    assert.match(st.detail, new RegExp(`rejected resourceVersion ${bad.resourceVersion}`));
    assert.equal(await metric(registry, 'siding_config_valid'), 0);
    assert.equal(await metric(registry, 'siding_config_reload_errors_total'), 1);
    assert.ok(log.messages('error').includes('injection config rejected; keeping the last good one'));

    api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  image: example.com/proxy:3\n' });
    assert.equal(image(watch.current()), 'example.com/proxy:3');
    assert.equal(watch.status().valid, true);
    assert.equal(watch.status().lastError, undefined);
    assert.equal(await metric(registry, 'siding_config_valid'), 1);
  });

  it('treats a missing key and a deleted ConfigMap as rejected versions, keeping the last good config', async () => {
    const { api, watch, registry } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    api.putConfigMap(NS, CM, { 'other.yaml': 'x: 1' });
    assert.equal(watch.status().lastError, 'ConfigMap siding-system/siding-config has no key config.yaml');
    api.deleteConfigMap(NS, CM);
    assert.equal(watch.status().lastError, 'ConfigMap siding-system/siding-config not found');
    assert.equal(image(watch.current()), 'example.com/proxy:1');
    assert.equal(await metric(registry, 'siding_config_reload_errors_total'), 2);
  });

  it('keeps serving the initial config when the ConfigMap does not exist, and loads it once created', async () => {
    const { api, watch } = setup();
    assert.equal(await watch.start(), true);
    assert.equal(watch.current(), DEFAULT_CONFIG);
    assert.equal(watch.status().valid, false);
    assert.equal(watch.status().source, 'built-in default');
    await settle();
    api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  image: example.com/proxy:9\n' });
    assert.equal(image(watch.current()), 'example.com/proxy:9');
  });

  it('does not reload when only unrelated data of the ConfigMap changes', async () => {
    const { api, watch, updates } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    const cm = api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n', notes: 'hello' });
    assert.equal(updates.length, 1);
    assert.equal(watch.status().resourceVersion, cm.resourceVersion);
  });

  it('re-lists and re-watches when the server ends the watch, catching a change made while disconnected', async () => {
    const { api, clock, watch } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    assert.equal(api.openWatches(), 1);
    api.endWatches();
    api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  image: example.com/proxy:2\n' });
    assert.equal(image(watch.current()), 'example.com/proxy:1', 'not seen while disconnected');
    clock.advance(backoff.initialMs);
    await settle();
    assert.equal(image(watch.current()), 'example.com/proxy:2');
    assert.equal(api.openWatches(), 1);
    assert.equal(api.callsTo('listOne').length, 2);
  });

  it('re-lists after a 410 Gone, without logging it as a problem', async () => {
    const { api, clock, watch, log } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    api.sendWatchEvent('ConfigMap', NS, CM, { type: 'ERROR', code: 410, message: 'too old resource version' });
    api.endWatches();
    clock.advance(backoff.initialMs);
    await settle();
    assert.equal(api.callsTo('listOne').length, 2);
    assert.deepEqual(log.messages('warn'), []);
  });

  it('backs off exponentially while the API server is unreachable, serving the initial config meanwhile', async () => {
    const { api, clock, watch } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    let down = true;
    api.before = (method) => {
      if (down && method === 'listOne') throw new KubeError('connect ECONNREFUSED');
    };
    assert.equal(await watch.start(), false);
    assert.equal(watch.current(), DEFAULT_CONFIG);
    const lists = (): number => api.callsTo('listOne').length;
    assert.equal(lists(), 1);
    for (const [wait, expected] of [
      [499, 1],
      [1, 2], // 500 ms after the first failure
      [999, 2],
      [1, 3], // then 1 s
      [2000, 4], // then 2 s
      [4000, 5], // then the 4 s cap
      [4000, 6],
    ] as const) {
      clock.advance(wait);
      await settle();
      assert.equal(lists(), expected, `after advancing ${wait} ms`);
    }
    down = false;
    clock.advance(4000);
    await settle();
    assert.equal(image(watch.current()), 'example.com/proxy:1');
    assert.equal(api.openWatches(), 1);
  });

  it('stops watching and retrying after stop()', async () => {
    const { api, clock, watch } = setup({ 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' });
    await watch.start();
    await settle();
    watch.stop();
    api.putConfigMap(NS, CM, { 'config.yaml': 'proxy:\n  image: example.com/proxy:2\n' });
    api.endWatches();
    clock.advance(60_000);
    await settle();
    assert.equal(image(watch.current()), 'example.com/proxy:1');
    assert.equal(api.callsTo('listOne').length, 1);
    assert.equal(clock.pendingTimers(), 0);
  });
});
