/**
 * The injection config is the ConfigMap siding-config, watched by the running webhook
 * (--config-map): an edit reaches the next pod without a restart.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseDocument } from 'yaml';
import { PROXY_CONTAINER, type InjectionRecord } from '../../src/inject/status.js';
import { skipUnless } from '../helpers/prereq.js';
import {
  SIDING,
  clients,
  eventually,
  injectionOf,
  injectionProblems,
  Namespaces,
  podFixture,
  prereq,
  suffix,
  webhookPid,
  webhookReadyz,
  type Clients,
} from './helpers/cluster.js';

describe('live injection config from the ConfigMap', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;
  let original: string | undefined;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-config', SIDING.injectionLabel);
    const cm = await c.core.readNamespacedConfigMap({ namespace: SIDING.namespace, name: SIDING.configMap });
    original = cm.data?.[SIDING.configKey];
    assert.ok(original, `the ConfigMap has ${SIDING.configKey}`);
  });

  const setConfig = (text: string): Promise<k8s.V1ConfigMap> =>
    c.core.patchNamespacedConfigMap(
      { namespace: SIDING.namespace, name: SIDING.configMap, body: { data: { [SIDING.configKey]: text } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );

  /** The proxy image a pod created now would get (server-side dry run: nothing is stored). */
  const imageForNextPod = async (name: string): Promise<string | undefined> => {
    const pod = await c.core.createNamespacedPod({ namespace: ns, body: podFixture(ns, name), dryRun: 'All' });
    return pod.spec?.initContainers?.find((x) => x.name === PROXY_CONTAINER)?.image;
  };

  after(async () => {
    if (original !== undefined) {
      // Put the manifests' config back and wait until the webhook serves it again, so
      // that later suites see the default image.
      const text = original;
      const image = parseDocument(text).getIn(['proxy', 'image']) as string;
      await setConfig(text);
      await eventually('the original config to be served again', async () => ((await imageForNextPod('restore')) === image ? true : undefined));
    }
    await namespaces?.cleanup();
  });

  it('changing the proxy image in the ConfigMap gives the next pod the new image, without restarting the webhook', async () => {
    const pid = webhookPid();
    const before = await c.core.createNamespacedPod({ namespace: ns, body: podFixture(ns, 'before') });
    const oldImage = before.spec?.initContainers?.find((x) => x.name === PROXY_CONTAINER)?.image;
    const newImage = `registry.example.com/e2e/proxy:${suffix()}`;
    assert.notEqual(oldImage, newImage);

    // Edit only proxy.image, keeping the rest of the document (and its comments) as is.
    const doc = parseDocument(original!);
    doc.setIn(['proxy', 'image'], newImage);
    await setConfig(doc.toString());

    // The watch delivers the change within moments; poll with dry runs until it has.
    await eventually('the webhook to serve the edited config', async () => ((await imageForNextPod('probe')) === newImage ? true : undefined));
    const next = await c.core.createNamespacedPod({ namespace: ns, body: podFixture(ns, 'after') });
    const stored = await c.core.readNamespacedPod({ namespace: ns, name: 'after' });
    assert.equal(stored.metadata?.uid, next.metadata?.uid);
    assert.deepEqual(injectionProblems(stored), []);
    assert.equal(stored.spec?.initContainers?.find((x) => x.name === PROXY_CONTAINER)?.image, newImage);
    assert.equal((injectionOf(stored).record as InjectionRecord).proxyImage, newImage);

    // The pod created before keeps what it got.
    const earlier = await c.core.readNamespacedPod({ namespace: ns, name: 'before' });
    assert.equal(earlier.spec?.initContainers?.find((x) => x.name === PROXY_CONTAINER)?.image, oldImage);

    // Same process: no restart happened.
    assert.equal(webhookPid(), pid);
    assert.doesNotThrow(() => process.kill(pid, 0), 'the webhook process is still alive');
  });

  it('an invalid edit is rejected: /readyz reports it and pods keep getting the last good config; a valid edit recovers', async () => {
    const lastGood = await imageForNextPod('last-good');
    assert.ok(lastGood);
    const invalid = await setConfig('proxy:\n  image: [not, a, string]\n');
    const rejected = await eventually('the webhook to report the rejected config', async () => {
      const r = await webhookReadyz(c);
      return r.config?.valid === false ? r : undefined;
    });
    assert.equal(rejected.config?.ok, true, 'still serving with a valid (older) config');
    assert.match(rejected.config?.lastError ?? '', /proxy\.image/);
    assert.notEqual(rejected.config?.resourceVersion, invalid.metadata?.resourceVersion, 'not the rejected version');

    const pod = await c.core.createNamespacedPod({ namespace: ns, body: podFixture(ns, 'during-invalid') });
    assert.deepEqual(injectionProblems(pod), []);
    assert.equal(pod.spec?.initContainers?.find((x) => x.name === PROXY_CONTAINER)?.image, lastGood);

    const doc = parseDocument(original!);
    const recovered = `registry.example.com/e2e/proxy:recovered-${suffix()}`;
    doc.setIn(['proxy', 'image'], recovered);
    await setConfig(doc.toString());
    await eventually('the valid edit to be served', async () => ((await imageForNextPod('recovered')) === recovered ? true : undefined));
    assert.equal((await webhookReadyz(c)).config?.valid, true);
  });
});
