import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fjp from 'fast-json-patch';
import { bundlePem, decodeBundle, encodeBundle, planBundle, splitPem } from '../../src/kube/cabundle.js';
import type { WebhookConfigurationObject } from '../../src/kube/api.js';

const pem = (tag: string): string => `-----BEGIN CERTIFICATE-----\nMII${tag}\n-----END CERTIFICATE-----`;
const A = pem('AAAA');
const B = pem('BBBB');
const ours = { namespace: 'siding-system', name: 'siding' };

function config(...webhooks: WebhookConfigurationObject['webhooks']): WebhookConfigurationObject {
  return { name: 'siding', resourceVersion: '1', webhooks };
}

describe('planBundle', () => {
  it('patches only the caBundle of webhooks that call our Service', () => {
    const cfg = config(
      { name: 'inject.siding.io', service: ours, caBundle: undefined },
      { name: 'other.example.com', service: { namespace: 'siding-system', name: 'other' }, caBundle: encodeBundle([B]) },
      { name: 'url.example.com', service: undefined, caBundle: undefined },
      { name: 'elsewhere.example.com', service: { namespace: 'default', name: 'siding' }, caBundle: undefined },
    );
    const plan = planBundle(cfg, ours, [A]);
    assert.deepEqual(plan.ours, [0]);
    assert.deepEqual(plan.ops, [
      { op: 'test', path: '/webhooks/0/name', value: 'inject.siding.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: encodeBundle([A]) },
    ]);
    assert.equal(plan.trustsCurrent, false);
  });

  it('sends no patch when every webhook of ours already holds exactly the bundle', () => {
    const cfg = config({ name: 'inject.siding.io', service: ours, caBundle: encodeBundle([A, B]) });
    const plan = planBundle(cfg, ours, [A, B]);
    assert.deepEqual(plan.ops, []);
    assert.equal(plan.trustsCurrent, true);
  });

  it('patches a bundle that still holds an old CA the material no longer trusts', () => {
    const cfg = config({ name: 'inject.siding.io', service: ours, caBundle: encodeBundle([A, B]) });
    const plan = planBundle(cfg, ours, [A]);
    assert.equal(plan.ops.length, 2);
    assert.equal(plan.trustsCurrent, true, 'the current CA is trusted before the patch already');
  });

  it('compares certificates, not bytes: whitespace differences need no patch', () => {
    const spaced = Buffer.from(`\n${A}\n\n\n${B}\n\n`).toString('base64');
    const plan = planBundle(config({ name: 'w', service: ours, caBundle: spaced }), ours, [A, B]);
    assert.deepEqual(plan.ops, []);
  });

  it('produces a patch that a JSON Patch engine applies to the webhook configuration as intended', () => {
    const stored = {
      webhooks: [
        { name: 'x', clientConfig: { url: 'https://x' } },
        { name: 'inject.siding.io', clientConfig: { service: ours } },
      ],
    };
    const cfg = config(
      { name: 'x', service: undefined, caBundle: undefined },
      { name: 'inject.siding.io', service: ours, caBundle: undefined },
    );
    const { ops } = planBundle(cfg, ours, [A, B]);
    const out = fjp.applyPatch(structuredClone(stored), ops as fjp.Operation[], true, false).newDocument;
    const patched = out.webhooks[1]!.clientConfig as { caBundle?: string; service?: unknown };
    assert.deepEqual(decodeBundle(patched.caBundle), [A, B]);
    assert.deepEqual(patched.service, ours);
    assert.deepEqual(out.webhooks[0], stored.webhooks[0]);
  });

  it('produces a patch whose test fails when the webhook list was reordered in the meantime', () => {
    const cfg = config({ name: 'inject.siding.io', service: ours, caBundle: undefined });
    const { ops } = planBundle(cfg, ours, [A]);
    const reordered = { webhooks: [{ name: 'someone-else', clientConfig: {} }, { name: 'inject.siding.io', clientConfig: {} }] };
    assert.throws(() => fjp.applyPatch(reordered, ops as fjp.Operation[], true, false), /Test operation failed/);
  });
});

describe('bundle encoding', () => {
  it('joins trimmed PEM blocks with one newline and ends with one', () => {
    assert.equal(bundlePem([`${A}\n\n`, `  ${B}`]), `${A}\n${B}\n`);
  });

  it('splits a bundle back into its certificates, ignoring text around them', () => {
    assert.deepEqual(splitPem(`subject=foo\n${A}\ncomment\n${B}\n`), [A, B]);
  });

  it('decodes an unset caBundle as trusting nothing', () => {
    assert.deepEqual(decodeBundle(undefined), []);
  });
});
