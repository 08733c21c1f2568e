/**
 * failurePolicy: Fail with the webhook stopped: labelled namespaces get no pod without
 * its proxy (a clear error naming inject.siding.io), other namespaces are unaffected.
 * The webhook is started again afterwards, whatever happened.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnless } from '../helpers/prereq.js';
import {
  SIDING,
  clients,
  injectionProblems,
  kubectl,
  kubectlApply,
  Namespaces,
  podFixture,
  prereq,
  testenv,
  untouched,
  type Clients,
} from './helpers/cluster.js';

describe('with the webhook stopped', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let labelled: string;
  let unlabelled: string;
  let stopped = false;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    labelled = await namespaces.create('e2e-down', SIDING.injectionLabel);
    unlabelled = await namespaces.create('e2e-down-plain');
    const config = await c.admission.readMutatingWebhookConfiguration({ name: SIDING.webhookConfig });
    assert.equal(config.webhooks?.[0]?.failurePolicy, 'Fail', 'the manifests install failurePolicy Fail');
    await testenv('webhook-stop');
    stopped = true;
  });

  after(async () => {
    // Later suites need the webhook: start it even when a test failed.
    if (stopped) await testenv('webhook-start');
    await namespaces?.cleanup();
  });

  it('kubectl apply of a pod in a labelled namespace fails with an error naming the webhook inject.siding.io, and nothing is stored', async () => {
    const applied = await kubectlApply([podFixture(labelled, 'no-webhook')]);
    assert.notEqual(applied.exitCode, 0);
    assert.match(applied.stderr, /Internal error occurred: failed calling webhook "inject\.siding\.io"/);
    const get = await kubectl(['-n', labelled, 'get', 'pod', 'no-webhook']);
    assert.match(get.stderr, /NotFound/);
  });

  it('a pod in a namespace without the label is created as usual', async () => {
    const applied = await kubectlApply([podFixture(unlabelled, 'unaffected')]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.ok(untouched(await c.core.readNamespacedPod({ namespace: unlabelled, name: 'unaffected' })));
  });

  it('once the webhook serves again, the labelled namespace gets injected pods', async () => {
    // webhook-start returns once the API server admits a probe pod through the webhook.
    await testenv('webhook-start');
    stopped = false;
    const applied = await kubectlApply([podFixture(labelled, 'back')]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.deepEqual(injectionProblems(await c.core.readNamespacedPod({ namespace: labelled, name: 'back' })), []);
  });
});
