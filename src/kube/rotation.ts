/**
 * When to renew what: pure decisions from certificate facts and an injected "now".
 *
 * Serving certificate: renewed from the current CA when less than `renewFraction` of its
 * lifetime remains (or it is unreadable, has the wrong names, or does not match its key).
 * The bundle already trusts that CA, so no overlap is needed.
 *
 * CA, with an overlap so that the API server never sees a certificate it does not trust:
 *   1. start:  less than `renewFraction` of the CA's lifetime remains. A new CA becomes
 *              ca.crt, the old one moves to previous-ca.crt; tls.crt stays (old CA). The
 *              caBundle now holds both.
 *   2. switch: `overlapMs` later, and only once the caBundle is confirmed to trust the
 *              new CA, tls.crt is re-issued by the new CA.
 *   3. finish: `overlapMs` after the switch (every replica serves the new certificate by
 *              then), previous-ca.crt is dropped and the bundle holds the new CA alone.
 * A CA that has already expired, or material that cannot be read, is replaced outright.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { certificateInfo } from '../certs/info.js';
import type { CertKeyPair } from '../certs/generate.js';
import { errorMessage, InputError } from '../errors/index.js';
import type { CertMaterial } from './material.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface RotationPolicy {
  /** Validity of each new CA. */
  caValidityDays: number;
  /** Validity of each serving certificate (capped at its CA's remaining life). */
  servingValidityDays: number;
  /** Renew a certificate when less than this fraction of its lifetime remains. */
  renewFraction: number;
  /** How long each CA rotation step waits before the next one. */
  overlapMs: number;
  /** How often the Secret and the caBundle are re-checked (a watch speeds this up). */
  checkIntervalMs: number;
}

/**
 * Five years for the CA and one for the serving certificate, renewed with a third of
 * their life left: a CA rotation starts some 20 months ahead and a serving renewal four
 * months ahead, so a webhook that is down for weeks still restarts with valid material.
 * The re-check every five minutes costs two GETs and also restores a caBundle that an
 * `kubectl apply` of an older manifest reset. An hour of overlap is far more than the
 * seconds API servers and watching replicas need to see a change, and more than the
 * re-check interval, which bounds a replica whose watch is down.
 */
export const DEFAULT_POLICY: RotationPolicy = {
  caValidityDays: 1825,
  servingValidityDays: 365,
  renewFraction: 1 / 3,
  overlapMs: 60 * 60 * 1000,
  checkIntervalMs: 5 * 60 * 1000,
};

/**
 * Validates a policy as a whole; throws InputError naming every problem.
 * The CA's renewal window (renewFraction of its validity) must hold the two overlap
 * steps plus one re-check, or the rotation could not finish before the old CA expires;
 * and it must be at least a day, because serving certificates are issued in whole days
 * and cannot outlive their CA.
 */
export function validatePolicy(p: RotationPolicy): RotationPolicy {
  const problems: string[] = [];
  if (!Number.isInteger(p.caValidityDays) || p.caValidityDays < 1) problems.push('the CA validity must be a whole number of days');
  if (!Number.isInteger(p.servingValidityDays) || p.servingValidityDays < 1) {
    problems.push('the serving certificate validity must be a whole number of days');
  }
  if (p.servingValidityDays > p.caValidityDays) {
    problems.push(`the serving certificate validity (${p.servingValidityDays} days) exceeds the CA validity (${p.caValidityDays} days)`);
  }
  if (!(p.renewFraction > 0 && p.renewFraction < 1)) problems.push('the renew fraction must be between 0 and 1');
  if (!(p.overlapMs >= 1000)) problems.push('the CA overlap must be at least 1s');
  if (!(p.checkIntervalMs >= 1000)) problems.push('the check interval must be at least 1s');
  const window = p.caValidityDays * DAY_MS * p.renewFraction;
  if (problems.length === 0 && window < DAY_MS) {
    problems.push(`the CA renewal window (${fmtMs(window)}) must be at least a day: raise the CA validity`);
  }
  if (problems.length === 0 && window <= 2 * p.overlapMs + p.checkIntervalMs) {
    problems.push(
      `the CA renewal window (${fmtMs(window)}) must exceed two overlaps plus one check interval (${fmtMs(2 * p.overlapMs + p.checkIntervalMs)})`,
    );
  }
  if (problems.length > 0) throw new InputError(`invalid certificate rotation settings: ${problems.join('; ')}`);
  return p;
}

function fmtMs(ms: number): string {
  return ms >= DAY_MS ? `${(ms / DAY_MS).toFixed(1)}d` : `${Math.round(ms / 1000)}s`;
}

/** A certificate's validity window in ms since epoch. */
export interface Window {
  notBefore: number;
  notAfter: number;
}

/** Everything the decision needs to know, read once from the material. */
export type Facts =
  | { readable: false; problem: string }
  | {
      readable: true;
      ca: Window;
      serving:
        | { ok: true; window: Window; issuedBy: 'current' | 'previous' }
        | { ok: false; problem: string };
      /** undefined when there is no previous CA (or it cannot be read: it is then simply dropped). */
      previousCa: Window | undefined;
      caRotationStartedAt: number | undefined;
      servingSwitchedAt: number | undefined;
    };

/**
 * Reads the facts from the material. The CA must parse, be a CA and match its key, or the
 * whole material is unreadable; a bad serving certificate only needs re-issuing.
 * `dnsNames` are the names the serving certificate must cover.
 */
export function inspect(material: CertMaterial, dnsNames: readonly string[]): Facts {
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(material.ca.cert);
  } catch (e) {
    return { readable: false, problem: `ca.crt cannot be parsed: ${errorMessage(e)}` };
  }
  if (!ca.ca) return { readable: false, problem: 'ca.crt is not a CA certificate' };
  if (!keyMatches(ca, material.ca.key)) return { readable: false, problem: 'ca.key does not belong to ca.crt' };

  let previous: X509Certificate | undefined;
  if (material.previousCa !== undefined) {
    try {
      previous = new X509Certificate(material.previousCa);
    } catch {
      previous = undefined;
    }
  }

  return {
    readable: true,
    ca: windowOf(ca),
    serving: inspectServing(material.serving, ca, previous, dnsNames),
    previousCa: previous === undefined ? undefined : windowOf(previous),
    caRotationStartedAt: material.caRotationStartedAt,
    servingSwitchedAt: material.servingSwitchedAt,
  };
}

function inspectServing(
  serving: CertKeyPair,
  ca: X509Certificate,
  previous: X509Certificate | undefined,
  dnsNames: readonly string[],
): Extract<Facts, { readable: true }>['serving'] {
  if (serving.cert.trim() === '' || serving.key.trim() === '') return { ok: false, problem: 'the Secret has no serving certificate or key' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(serving.cert);
  } catch (e) {
    return { ok: false, problem: `tls.crt cannot be parsed: ${errorMessage(e)}` };
  }
  if (!keyMatches(cert, serving.key)) return { ok: false, problem: 'tls.key does not belong to tls.crt' };
  const sans = new Set(certificateInfo(serving.cert).subjectAltNames);
  const missing = dnsNames.filter((n) => !sans.has(`DNS:${n}`));
  if (missing.length > 0) return { ok: false, problem: `tls.crt does not cover ${missing.join(', ')}` };
  const issuedBy = signedBy(cert, ca) ? 'current' : previous !== undefined && signedBy(cert, previous) ? 'previous' : undefined;
  if (issuedBy === undefined) return { ok: false, problem: 'tls.crt was not issued by ca.crt' };
  return { ok: true, window: windowOf(cert), issuedBy };
}

function windowOf(x: X509Certificate): Window {
  return { notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
}

function signedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

export type Decision =
  | { action: 'keep' }
  | { action: 'regenerate'; reason: string }
  | { action: 'renew-serving'; reason: string }
  | { action: 'start-ca-rotation'; reason: string }
  | { action: 'switch-serving'; reason: string }
  | { action: 'finish-ca-rotation'; reason: string }
  /** A step is due but unsafe yet; nothing is written. */
  | { action: 'wait'; reason: string };

/** Less than `fraction` of the window's lifetime is left at `now` (or it has expired). */
export function inRenewalWindow(w: Window, now: number, fraction: number): boolean {
  return w.notAfter - now < (w.notAfter - w.notBefore) * fraction;
}

/**
 * The next step for the material described by `facts` at `now`.
 * `bundleTrustsCurrentCa`: the webhook configuration's caBundle holds the current CA
 * (or there is no webhook configuration to keep consistent). Gating the switch on it
 * means a failed caBundle patch delays the rotation instead of breaking admission.
 */
export function decide(facts: Facts, now: number, policy: RotationPolicy, bundleTrustsCurrentCa: boolean): Decision {
  if (!facts.readable) return { action: 'regenerate', reason: facts.problem };
  if (now >= facts.ca.notAfter) return { action: 'regenerate', reason: 'the CA has expired' };
  const f = policy.renewFraction;
  const serving = facts.serving;

  if (facts.previousCa !== undefined) {
    if (serving.ok && serving.issuedBy === 'previous') {
      const expired = now >= serving.window.notAfter || now >= facts.previousCa.notAfter;
      if (expired) return { action: 'switch-serving', reason: 'the serving certificate of the old CA has expired' };
      const overlapDone = now - (facts.caRotationStartedAt ?? Number.NEGATIVE_INFINITY) >= policy.overlapMs;
      const renewalDue = inRenewalWindow(serving.window, now, f);
      if (!overlapDone && !renewalDue) return { action: 'keep' };
      const why = overlapDone ? 'the new CA has been in the bundle for the overlap period' : 'the serving certificate is due for renewal';
      if (!bundleTrustsCurrentCa) return { action: 'wait', reason: `${why}, but the caBundle does not trust the new CA yet` };
      return { action: 'switch-serving', reason: why };
    }
    if (!serving.ok) return { action: 'renew-serving', reason: serving.problem };
    if (now >= facts.previousCa.notAfter) return { action: 'finish-ca-rotation', reason: 'the old CA has expired' };
    if (now - (facts.servingSwitchedAt ?? Number.NEGATIVE_INFINITY) >= policy.overlapMs) {
      return { action: 'finish-ca-rotation', reason: 'every replica has had the overlap period to serve the new certificate' };
    }
    if (inRenewalWindow(serving.window, now, f)) return { action: 'renew-serving', reason: 'the serving certificate is due for renewal' };
    return { action: 'keep' };
  }

  if (!serving.ok) return { action: 'renew-serving', reason: serving.problem };
  if (inRenewalWindow(facts.ca, now, f)) return { action: 'start-ca-rotation', reason: 'the CA is due for renewal' };
  if (inRenewalWindow(serving.window, now, f)) return { action: 'renew-serving', reason: 'the serving certificate is due for renewal' };
  return { action: 'keep' };
}

/** Creates certificates; `newServing` must not outlive `ca`. Implemented over src/certs by issuer.ts. */
export interface Issuer {
  newCa(now: number): Promise<CertKeyPair>;
  newServing(ca: CertKeyPair, now: number): Promise<CertKeyPair>;
}

/** Fresh material: a new CA and a serving certificate from it. */
export async function freshMaterial(issuer: Issuer, now: number): Promise<CertMaterial> {
  const ca = await issuer.newCa(now);
  const serving = await issuer.newServing(ca, now);
  return { ca, serving, previousCa: undefined, caRotationStartedAt: undefined, servingSwitchedAt: undefined };
}

/** Carries out a decision that writes; 'keep' and 'wait' return the material unchanged. */
export async function applyDecision(decision: Decision, m: CertMaterial, issuer: Issuer, now: number): Promise<CertMaterial> {
  switch (decision.action) {
    case 'keep':
    case 'wait':
      return m;
    case 'regenerate':
      return freshMaterial(issuer, now);
    case 'renew-serving':
      return { ...m, serving: await issuer.newServing(m.ca, now) };
    case 'start-ca-rotation':
      return { ...m, ca: await issuer.newCa(now), previousCa: m.ca.cert, caRotationStartedAt: now, servingSwitchedAt: undefined };
    case 'switch-serving':
      return { ...m, serving: await issuer.newServing(m.ca, now), servingSwitchedAt: now };
    case 'finish-ca-rotation':
      return { ...m, previousCa: undefined, caRotationStartedAt: undefined, servingSwitchedAt: undefined };
  }
}

/**
 * The CA certificates the webhook configuration must trust: the current CA, and the
 * previous one while it has not expired. Each PEM is trimmed so that equal bundles
 * compare equal as strings.
 */
export function trustedCas(m: CertMaterial, now: number): string[] {
  const cas = [m.ca.cert.trim()];
  if (m.previousCa !== undefined) {
    let expired: boolean;
    try {
      expired = now >= Date.parse(new X509Certificate(m.previousCa).validTo);
    } catch {
      expired = true;
    }
    if (!expired) cas.push(m.previousCa.trim());
  }
  return cas;
}
