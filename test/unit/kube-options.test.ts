import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/errors/index.js';
import { parseDurationFlag, parseKubeFlags, parseObjectName, wantsKube } from '../../src/kube/options.js';
import { DEFAULT_POLICY } from '../../src/kube/rotation.js';

const rejects = (fn: () => unknown, pattern: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof InputError && pattern.test(e.message));
};

describe('parseDurationFlag', () => {
  it('reads single and compound units', () => {
    assert.equal(parseDurationFlag('--x', '250ms'), 250);
    assert.equal(parseDurationFlag('--x', '90s'), 90_000);
    assert.equal(parseDurationFlag('--x', '1h30m'), 5_400_000);
    assert.equal(parseDurationFlag('--x', '2d'), 172_800_000);
  });

  it('rejects a number without a unit, a negative, spaces and trailing text', () => {
    for (const bad of ['5', '-5m', '5 m', '5mx', '', 'm', '1.5h']) rejects(() => parseDurationFlag('--ca-overlap', bad), /for --ca-overlap: .* is not a duration \(examples: 90s, 5m, 1h30m or 2d\)/);
  });

  it('rejects more than a year', () => {
    rejects(() => parseDurationFlag('--x', '366d'), /not between 0ms and 365d/);
  });
});

describe('parseObjectName', () => {
  it('accepts a DNS-1123 subdomain and rejects upper case, underscores and overlong names', () => {
    assert.equal(parseObjectName('--cert-secret', 'siding-certs.v2'), 'siding-certs.v2');
    rejects(() => parseObjectName('--cert-secret', 'Siding'), /invalid value 'Siding' for --cert-secret/);
    rejects(() => parseObjectName('--cert-secret', 'a_b'), /DNS-1123 subdomain/);
    rejects(() => parseObjectName('--cert-secret', 'a'.repeat(254)), /at most 253/);
  });
});

describe('parseKubeFlags', () => {
  it('defaults to siding-system, siding, siding-webhook-certs and no kube use at all', () => {
    const o = parseKubeFlags({}, {});
    assert.deepEqual(o, {
      kubeconfigPath: undefined,
      namespace: 'siding-system',
      service: 'siding',
      webhookConfig: 'siding',
      certSecret: 'siding-webhook-certs',
      manageCerts: undefined,
      configMap: undefined,
    });
    assert.equal(wantsKube(o), false);
  });

  it('takes the namespace from POD_NAMESPACE unless --namespace is given', () => {
    assert.equal(parseKubeFlags({}, { POD_NAMESPACE: 'mesh' }).namespace, 'mesh');
    assert.equal(parseKubeFlags({ namespace: 'other' }, { POD_NAMESPACE: 'mesh' }).namespace, 'other');
  });

  it('builds the rotation policy from the flags when managing certificates', () => {
    const o = parseKubeFlags({ manageCerts: true, caValidityDays: '90', certValidityDays: '30', caOverlap: '10m', certCheckInterval: '30s' }, {});
    assert.deepEqual(o.manageCerts, { ...DEFAULT_POLICY, caValidityDays: 90, servingValidityDays: 30, overlapMs: 600_000, checkIntervalMs: 30_000 });
    assert.equal(wantsKube(o), true);
  });

  it('refuses rotation flags without --manage-certs instead of ignoring them', () => {
    rejects(() => parseKubeFlags({ caOverlap: '5m', certCheckInterval: '1m' }, {}), /--ca-overlap needs --manage-certs; --cert-check-interval needs --manage-certs/);
  });

  it('reports every bad flag at once', () => {
    rejects(
      () => parseKubeFlags({ manageCerts: true, namespace: 'Bad', service: '9lives', certSecret: 'x_y', caValidityDays: 'ten' }, {}),
      /invalid namespace 'Bad'.*invalid service name '9lives'.*--cert-secret.*--ca-validity-days/,
    );
  });

  it('refuses a rotation policy whose CA renewal window cannot hold the overlaps', () => {
    rejects(() => parseKubeFlags({ manageCerts: true, caValidityDays: '3', certValidityDays: '1', caOverlap: '12h' }, {}), /must exceed two overlaps/);
  });

  it('watches the named ConfigMap under key config.yaml', () => {
    assert.deepEqual(parseKubeFlags({ configMap: 'siding-config' }, {}).configMap, { name: 'siding-config', key: 'config.yaml' });
  });
});
