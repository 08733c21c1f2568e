/**
 * The caBundle patch for siding's own MutatingWebhookConfiguration. Pure.
 *
 * Only webhooks whose clientConfig.service is siding's Service are touched, and only
 * their caBundle. Each change is a JSON Patch pair: a `test` that the webhook at that
 * index still has the name we read (so a concurrent edit that reorders the list fails
 * the patch instead of writing our bundle into someone else's webhook), then an `add`
 * of the caBundle (`add` sets a member whether or not it exists).
 */
import type { JsonPatchOp, WebhookConfigurationObject } from './api.js';

export interface ServiceRef {
  namespace: string;
  name: string;
}

/** PEMs joined one per block with a trailing newline; what siding writes. */
export function bundlePem(cas: readonly string[]): string {
  return cas.map((c) => c.trim()).join('\n') + '\n';
}

/** The certificates of a PEM bundle, trimmed, in order. */
export function splitPem(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => m[0].trim());
}

export function decodeBundle(b64: string | undefined): string[] {
  if (b64 === undefined) return [];
  return splitPem(Buffer.from(b64, 'base64').toString('utf8'));
}

export function encodeBundle(cas: readonly string[]): string {
  return Buffer.from(bundlePem(cas), 'utf8').toString('base64');
}

export interface BundleCheck {
  /** Indices of webhooks that call our Service. */
  ours: number[];
  /** The JSON Patch that makes every one of them hold exactly `cas`; empty when they already do. */
  ops: JsonPatchOp[];
  /** Every one of ours trusts cas[0] (the current CA) before the patch. */
  trustsCurrent: boolean;
}

/** What must change so that every webhook of ours holds exactly `cas` (same certificates, same order). */
export function planBundle(config: WebhookConfigurationObject, service: ServiceRef, cas: readonly string[]): BundleCheck {
  const want = cas.map((c) => c.trim());
  const ours: number[] = [];
  const ops: JsonPatchOp[] = [];
  let trustsCurrent = true;
  config.webhooks.forEach((w, i) => {
    if (w.service?.name !== service.name || w.service.namespace !== service.namespace) return;
    ours.push(i);
    const have = decodeBundle(w.caBundle);
    if (want[0] !== undefined && !have.includes(want[0])) trustsCurrent = false;
    if (have.length === want.length && have.every((c, j) => c === want[j])) return;
    ops.push(
      { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: encodeBundle(want) },
    );
  });
  return { ours, ops, trustsCurrent };
}
