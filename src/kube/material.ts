/**
 * The layout of the webhook certificate Secret and its translation to and from
 * `CertMaterial`. Pure: no I/O, no clock.
 *
 *   ca.crt           current CA certificate (PEM)
 *   ca.key           current CA key (PKCS#8 PEM)
 *   tls.crt          serving certificate (PEM), issued by ca.crt or, during a CA
 *                    rotation, still by previous-ca.crt
 *   tls.key          serving key
 *   previous-ca.crt  only during a CA rotation: the CA being retired (no key kept)
 *
 * Two annotations time the CA rotation steps (RFC 3339):
 *   siding.io/ca-rotation-started-at  when the new CA joined the bundle
 *   siding.io/serving-switched-at     when tls.crt moved to the new CA
 */
import type { CertKeyPair } from '../certs/generate.js';
import type { SecretObject, SecretWrite } from './api.js';

export const SECRET_KEYS = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  tlsCert: 'tls.crt',
  tlsKey: 'tls.key',
  previousCa: 'previous-ca.crt',
} as const;

export const ANNOTATIONS = {
  caRotationStartedAt: 'siding.io/ca-rotation-started-at',
  servingSwitchedAt: 'siding.io/serving-switched-at',
} as const;

export const SECRET_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'siding',
  'app.kubernetes.io/managed-by': 'siding',
};

/** `kubernetes.io/tls` so that tooling recognises tls.crt/tls.key; an existing Secret keeps its type. */
export const SECRET_TYPE = 'kubernetes.io/tls';

export interface CertMaterial {
  ca: CertKeyPair;
  serving: CertKeyPair;
  /** The retiring CA during a rotation; undefined otherwise. */
  previousCa: string | undefined;
  /** ms since epoch; set while a CA rotation is in progress. */
  caRotationStartedAt: number | undefined;
  /** ms since epoch; set once tls.crt moved to the new CA, until the rotation finishes. */
  servingSwitchedAt: number | undefined;
}

export type ReadMaterial = { ok: true; material: CertMaterial } | { ok: false; reason: string };

/**
 * Reads the material from a Secret. Without the CA (ca.crt, ca.key) there is nothing to
 * build on and the reason is reported. An empty or missing tls.crt/tls.key is returned as
 * such: the CA is kept and only the serving certificate is re-issued (emptying tls.crt
 * is the documented way to force a renewal).
 */
export function materialFromSecret(secret: SecretObject): ReadMaterial {
  const missing = [SECRET_KEYS.caCert, SECRET_KEYS.caKey].filter((k) => (secret.data[k] ?? '').trim() === '');
  if (missing.length > 0) return { ok: false, reason: `Secret has no ${missing.join(', ')}` };
  const previous = secret.data[SECRET_KEYS.previousCa];
  return {
    ok: true,
    material: {
      ca: { cert: secret.data[SECRET_KEYS.caCert] ?? '', key: secret.data[SECRET_KEYS.caKey] ?? '' },
      serving: { cert: secret.data[SECRET_KEYS.tlsCert] ?? '', key: secret.data[SECRET_KEYS.tlsKey] ?? '' },
      previousCa: previous === undefined || previous.trim() === '' ? undefined : previous,
      caRotationStartedAt: parseTime(secret.annotations[ANNOTATIONS.caRotationStartedAt]),
      servingSwitchedAt: parseTime(secret.annotations[ANNOTATIONS.servingSwitchedAt]),
    },
  };
}

/**
 * The Secret body for `material`. Labels, annotations and data keys that are not
 * siding's are kept from `existing`; the Secret type never changes (it is immutable).
 */
export function secretFromMaterial(material: CertMaterial, existing?: SecretObject): SecretWrite {
  const data: Record<string, string> = { ...existing?.data };
  data[SECRET_KEYS.caCert] = material.ca.cert;
  data[SECRET_KEYS.caKey] = material.ca.key;
  data[SECRET_KEYS.tlsCert] = material.serving.cert;
  data[SECRET_KEYS.tlsKey] = material.serving.key;
  if (material.previousCa === undefined) delete data[SECRET_KEYS.previousCa];
  else data[SECRET_KEYS.previousCa] = material.previousCa;

  const annotations: Record<string, string> = { ...existing?.annotations };
  setTime(annotations, ANNOTATIONS.caRotationStartedAt, material.caRotationStartedAt);
  setTime(annotations, ANNOTATIONS.servingSwitchedAt, material.servingSwitchedAt);

  return {
    type: existing?.type ?? SECRET_TYPE,
    data,
    labels: { ...existing?.labels, ...SECRET_LABELS },
    annotations,
  };
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t : undefined;
}

function setTime(annotations: Record<string, string>, key: string, ms: number | undefined): void {
  if (ms === undefined) delete annotations[key];
  else annotations[key] = new Date(ms).toISOString();
}
