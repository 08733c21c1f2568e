import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { SECRET_KEYS } from '../../src/kube/material.js';
import { parseKubeFlags } from '../../src/kube/options.js';
import { startKubeParts } from '../../src/kube/webhook.js';
import { FakeClock, FakeKubeApi, RecordingLogger, settle } from '../helpers/kube-fake.js';

describe('startKubeParts', () => {
  it('serves the Secret certificate, forwards later ones to the TLS watcher, and serves the ConfigMap config', async () => {
    const api = new FakeKubeApi();
    api.putConfigMap('mesh', 'siding-config', { 'config.yaml': 'proxy:\n  image: example.com/proxy:7\n' });
    const clock = new FakeClock(Date.now());
    const options = parseKubeFlags({ manageCerts: true, configMap: 'siding-config' }, { POD_NAMESPACE: 'mesh' });
    const parts = await startKubeParts(options, {
      api,
      clock,
      registry: new Registry(),
      log: new RecordingLogger(),
      initialConfig: DEFAULT_CONFIG,
      initialSource: 'built-in default config',
    });
    try {
      assert.ok(parts.tls && parts.config);
      const first = await parts.tls.load();
      assert.equal(first.cert, api.secret('mesh', 'siding-webhook-certs')?.data[SECRET_KEYS.tlsCert]);
      assert.equal(parts.config.current().proxy.image, 'example.com/proxy:7');
      assert.equal(parts.config.status().source, 'ConfigMap mesh/siding-config key config.yaml');

      const seen: string[] = [];
      parts.tls.watch(
        (m) => seen.push(m.cert),
        () => undefined,
      );
      await settle();
      api.deleteSecret('mesh', 'siding-webhook-certs');
      // The replacement needs real key generation; wait for it to be handed over (bounded, not timed).
      for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const now = api.secret('mesh', 'siding-webhook-certs')?.data[SECRET_KEYS.tlsCert];
      assert.ok(now, 'the deleted Secret was recreated');
      assert.deepEqual(seen, [now]);
    } finally {
      parts.stop();
    }
  });

  it('starts nothing for flags that do not ask for the cluster', async () => {
    const api = new FakeKubeApi();
    const parts = await startKubeParts(parseKubeFlags({}, {}), {
      api,
      registry: new Registry(),
      log: new RecordingLogger(),
      initialConfig: DEFAULT_CONFIG,
      initialSource: 'x',
    });
    assert.equal(parts.tls, undefined);
    assert.equal(parts.config, undefined);
    assert.deepEqual(api.calls, []);
  });
});
