import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { generateCa, type CertKeyPair } from '../../src/certs/generate.js';
import { serviceDnsNames } from '../../src/certs/names.js';
import { InputError } from '../../src/errors/index.js';
import { certsIssuer } from '../../src/kube/issuer.js';
import { materialFromSecret, secretFromMaterial, SECRET_KEYS, ANNOTATIONS, type CertMaterial } from '../../src/kube/material.js';
import {
  applyDecision,
  DAY_MS,
  decide,
  DEFAULT_POLICY,
  inRenewalWindow,
  inspect,
  trustedCas,
  validatePolicy,
  type Facts,
  type RotationPolicy,
  type Window,
} from '../../src/kube/rotation.js';

const HOUR = 60 * 60 * 1000;
const T0 = Date.parse('2030-01-01T00:00:00Z');
const policy: RotationPolicy = { caValidityDays: 30, servingValidityDays: 10, renewFraction: 1 / 3, overlapMs: HOUR, checkIntervalMs: 5 * 60 * 1000 };
const win = (fromDays: number, toDays: number): Window => ({ notBefore: T0 + fromDays * DAY_MS, notAfter: T0 + toDays * DAY_MS });
const at = (days: number): number => T0 + days * DAY_MS;

/** Facts for a steady state: CA 0..30 days, serving 0..10 days issued by it, no rotation. */
function steady(over: Partial<Extract<Facts, { readable: true }>> = {}): Facts {
  return {
    readable: true,
    ca: win(0, 30),
    serving: { ok: true, window: win(0, 10), issuedBy: 'current' },
    previousCa: undefined,
    caRotationStartedAt: undefined,
    servingSwitchedAt: undefined,
    ...over,
  };
}

describe('decide (steady state)', () => {
  it('keeps material with plenty of life left', () => {
    assert.deepEqual(decide(steady(), at(1), policy, true), { action: 'keep' });
  });

  it('renews the serving certificate once less than a third of its lifetime remains', () => {
    assert.equal(decide(steady(), at(6.6), policy, true).action, 'keep');
    assert.equal(decide(steady(), at(6.7), policy, true).action, 'renew-serving');
  });

  it('renews an expired serving certificate', () => {
    assert.equal(decide(steady(), at(11), policy, true).action, 'renew-serving');
  });

  it('starts a CA rotation once less than a third of the CA lifetime remains, before renewing the serving certificate', () => {
    const facts = steady({ serving: { ok: true, window: win(15, 25), issuedBy: 'current' } });
    assert.equal(decide(facts, at(19.9), policy, true).action, 'keep');
    assert.equal(decide(facts, at(20.1), policy, true).action, 'start-ca-rotation');
  });

  it('regenerates everything when the CA has expired', () => {
    const d = decide(steady(), at(30), policy, true);
    assert.deepEqual(d, { action: 'regenerate', reason: 'the CA has expired' });
  });

  it('regenerates unreadable material and says why', () => {
    assert.deepEqual(decide({ readable: false, problem: 'Secret has no ca.key' }, at(1), policy, true), {
      action: 'regenerate',
      reason: 'Secret has no ca.key',
    });
  });

  it('re-issues a serving certificate that has a problem even when it is young', () => {
    const d = decide(steady({ serving: { ok: false, problem: 'tls.crt does not cover siding.x.svc' } }), at(0.1), policy, true);
    assert.deepEqual(d, { action: 'renew-serving', reason: 'tls.crt does not cover siding.x.svc' });
  });
});

describe('decide (CA rotation in progress)', () => {
  // New CA from day 20, old CA 0..30, serving still from the old CA (issued day 15).
  const introduced = (over: Partial<Extract<Facts, { readable: true }>> = {}): Facts =>
    steady({
      ca: win(20, 50),
      previousCa: win(0, 30),
      serving: { ok: true, window: win(15, 25), issuedBy: 'previous' },
      caRotationStartedAt: at(20),
      ...over,
    });

  it('keeps serving the old certificate until the overlap has passed', () => {
    assert.equal(decide(introduced(), at(20) + HOUR - 1, policy, true).action, 'keep');
  });

  it('switches the serving certificate to the new CA after the overlap when the bundle trusts the new CA', () => {
    assert.equal(decide(introduced(), at(20) + HOUR, policy, true).action, 'switch-serving');
  });

  it('waits instead of switching while the bundle does not trust the new CA', () => {
    const d = decide(introduced(), at(20) + HOUR, policy, false);
    assert.equal(d.action, 'wait');
    assert.match((d as { reason: string }).reason, /caBundle does not trust the new CA/);
  });

  it('switches early when the old serving certificate falls due for renewal', () => {
    const facts = introduced({ serving: { ok: true, window: win(14, 20.5), issuedBy: 'previous' } });
    assert.equal(decide(facts, at(20) + 60_000, policy, true).action, 'switch-serving');
  });

  it('switches even without a trusting bundle once the old serving certificate has expired', () => {
    const facts = introduced({ serving: { ok: true, window: win(10, 20.01), issuedBy: 'previous' } });
    assert.equal(decide(facts, at(20.02), policy, false).action, 'switch-serving');
  });

  it('drops the old CA an overlap after the switch, not before', () => {
    const switched = introduced({ serving: { ok: true, window: win(20, 30), issuedBy: 'current' }, servingSwitchedAt: at(20) + HOUR });
    assert.equal(decide(switched, at(20) + 2 * HOUR - 1, policy, true).action, 'keep');
    assert.equal(decide(switched, at(20) + 2 * HOUR, policy, true).action, 'finish-ca-rotation');
  });

  it('drops the old CA at once when it has expired', () => {
    const switched = introduced({ serving: { ok: true, window: win(29, 39), issuedBy: 'current' }, servingSwitchedAt: at(29.99) });
    assert.deepEqual(decide(switched, at(30), policy, true), { action: 'finish-ca-rotation', reason: 'the old CA has expired' });
  });
});

describe('validatePolicy', () => {
  it('accepts the defaults', () => {
    assert.equal(validatePolicy(DEFAULT_POLICY), DEFAULT_POLICY);
  });

  it('rejects a serving validity longer than the CA validity', () => {
    assert.throws(() => validatePolicy({ ...policy, servingValidityDays: 31 }), (e: unknown) => e instanceof InputError && /exceeds the CA validity/.test(e.message));
  });

  it('rejects a CA renewal window too short to hold two overlaps and a check', () => {
    assert.throws(
      () => validatePolicy({ ...policy, caValidityDays: 3, servingValidityDays: 1, overlapMs: 12 * HOUR }),
      /must exceed two overlaps plus one check interval/,
    );
  });

  it('rejects a CA validity whose renewal window is under a day', () => {
    assert.throws(() => validatePolicy({ ...policy, caValidityDays: 2, servingValidityDays: 1 }), /must be at least a day/);
  });
});

describe('inRenewalWindow', () => {
  it('is false at exactly a third of the lifetime left and true just after', () => {
    const w = { notBefore: 0, notAfter: 300 };
    assert.equal(inRenewalWindow(w, 200, 1 / 3), false);
    assert.equal(inRenewalWindow(w, 201, 1 / 3), true);
  });
});

describe('inspect, with real certificates', () => {
  const names = serviceDnsNames('siding', 'siding-system');
  const issuer = certsIssuer({ service: 'siding', namespace: 'siding-system', caValidityDays: 30, servingValidityDays: 10 });
  let ca: CertKeyPair;
  let otherCa: CertKeyPair;
  let serving: CertKeyPair;
  before(async () => {
    ca = await issuer.newCa(T0);
    otherCa = await issuer.newCa(T0);
    serving = await issuer.newServing(ca, T0);
  });
  const material = (over: Partial<CertMaterial> = {}): CertMaterial => ({
    ca,
    serving,
    previousCa: undefined,
    caRotationStartedAt: undefined,
    servingSwitchedAt: undefined,
    ...over,
  });

  it('reads the validity windows of a CA and a serving certificate it issued', () => {
    const facts = inspect(material(), names);
    assert.ok(facts.readable);
    assert.ok(facts.serving.ok);
    assert.equal(facts.serving.issuedBy, 'current');
    assert.equal(facts.ca.notAfter, T0 + 30 * DAY_MS);
    assert.equal(facts.serving.window.notAfter, T0 + 10 * DAY_MS);
  });

  it('reports a CA key that belongs to another CA as unreadable material', () => {
    const facts = inspect(material({ ca: { cert: ca.cert, key: otherCa.key } }), names);
    assert.deepEqual(facts, { readable: false, problem: 'ca.key does not belong to ca.crt' });
  });

  it('reports a serving certificate issued by another CA', () => {
    const facts = inspect(material({ ca: otherCa }), names);
    assert.ok(facts.readable);
    assert.deepEqual(facts.serving, { ok: false, problem: 'tls.crt was not issued by ca.crt' });
  });

  it('recognises a serving certificate of the previous CA during a rotation', () => {
    const facts = inspect(material({ ca: otherCa, previousCa: ca.cert }), names);
    assert.ok(facts.readable && facts.serving.ok);
    assert.equal(facts.serving.issuedBy, 'previous');
  });

  it('reports a serving certificate that lacks one of the Service names', () => {
    const facts = inspect(material(), serviceDnsNames('siding', 'elsewhere'));
    assert.ok(facts.readable);
    assert.equal(facts.serving.ok, false);
    assert.match((facts.serving as { problem: string }).problem, /does not cover siding\.elsewhere/);
  });

  it('reports garbage in ca.crt as unreadable', () => {
    const facts = inspect(material({ ca: { cert: 'not a certificate', key: ca.key } }), names);
    assert.equal(facts.readable, false);
  });

  it('caps a serving certificate at its CA remaining whole days', async () => {
    const s = await issuer.newServing(ca, T0 + 25.5 * DAY_MS);
    const x = new X509Certificate(s.cert);
    assert.equal(Date.parse(x.validTo), T0 + 25.5 * DAY_MS + 4 * DAY_MS);
    assert.ok(x.verify(new X509Certificate(ca.cert).publicKey));
  });

  it('walks a CA rotation: new CA first, serving certificate switched next, old CA dropped last', async () => {
    let m = material();
    m = await applyDecision({ action: 'start-ca-rotation', reason: '' }, m, issuer, at(21));
    assert.notEqual(m.ca.cert, ca.cert);
    assert.equal(m.previousCa, ca.cert);
    assert.equal(m.serving, serving, 'the serving certificate is not touched when the new CA is introduced');
    assert.deepEqual(trustedCas(m, at(21)), [m.ca.cert.trim(), ca.cert.trim()]);

    m = await applyDecision({ action: 'switch-serving', reason: '' }, m, issuer, at(21) + HOUR);
    const facts = inspect(m, names);
    assert.ok(facts.readable && facts.serving.ok);
    assert.equal(facts.serving.issuedBy, 'current');
    assert.equal(m.servingSwitchedAt, at(21) + HOUR);

    m = await applyDecision({ action: 'finish-ca-rotation', reason: '' }, m, issuer, at(21) + 2 * HOUR);
    assert.equal(m.previousCa, undefined);
    assert.deepEqual(trustedCas(m, at(21) + 2 * HOUR), [m.ca.cert.trim()]);
  });

  it('leaves an expired previous CA out of the trusted set', () => {
    const m = material({ ca: otherCa, previousCa: ca.cert });
    assert.equal(trustedCas(m, T0 + 30 * DAY_MS - 1).length, 2);
    assert.equal(trustedCas(m, T0 + 30 * DAY_MS).length, 1);
  });

  it('round-trips material through the Secret layout, keeping foreign keys, labels and the Secret type', async () => {
    const rotating = material({ ca: await generateCa({ validityDays: 30, now: new Date(T0) }), previousCa: ca.cert, caRotationStartedAt: T0 });
    const existing = {
      name: 's',
      namespace: 'n',
      resourceVersion: '7',
      type: 'Opaque',
      data: { 'extra.txt': 'keep me' },
      labels: { team: 'a' },
      annotations: { note: 'x' },
    };
    const body = secretFromMaterial(rotating, existing);
    assert.equal(body.type, 'Opaque');
    assert.equal(body.data['extra.txt'], 'keep me');
    assert.equal(body.data[SECRET_KEYS.previousCa], ca.cert);
    assert.equal(body.labels.team, 'a');
    assert.equal(body.annotations[ANNOTATIONS.caRotationStartedAt], new Date(T0).toISOString());
    const back = materialFromSecret({ ...existing, ...body });
    assert.ok(back.ok);
    assert.deepEqual(back.material, rotating);

    const finished = secretFromMaterial({ ...rotating, previousCa: undefined, caRotationStartedAt: undefined }, { ...existing, ...body });
    assert.equal(finished.data[SECRET_KEYS.previousCa], undefined);
    assert.equal(finished.annotations[ANNOTATIONS.caRotationStartedAt], undefined);
  });

  it('names every missing CA key of an incomplete Secret', () => {
    const read = materialFromSecret({ name: 's', namespace: 'n', resourceVersion: '1', type: 'Opaque', data: { 'tls.crt': 'x', 'ca.key': ' ' }, labels: {}, annotations: {} });
    assert.deepEqual(read, { ok: false, reason: 'Secret has no ca.crt, ca.key' });
  });

  it('keeps the CA of a Secret whose serving certificate was emptied, and asks only for a new serving certificate', () => {
    const read = materialFromSecret({
      name: 's',
      namespace: 'n',
      resourceVersion: '1',
      type: 'kubernetes.io/tls',
      data: { 'ca.crt': ca.cert, 'ca.key': ca.key, 'tls.crt': '', 'tls.key': serving.key },
      labels: {},
      annotations: {},
    });
    assert.ok(read.ok);
    const facts = inspect(read.material, names);
    assert.ok(facts.readable);
    assert.deepEqual(facts.serving, { ok: false, problem: 'the Secret has no serving certificate or key' });
    assert.equal(decide(facts, T0 + 1000, policy, true).action, 'renew-serving');
  });
});
