/**
 * One AdmissionReview request in, one AdmissionResponse out, plus what the log line and the
 * metrics need. No HTTP here: app.ts owns the transport.
 *
 * Policy for the answer (docs/webhook.md, "Answers"):
 * - not a Pod, not CREATE, or a subresource: allowed, no patch ("ignored");
 * - the engine skips the pod: allowed, no patch ("skipped");
 * - the engine injects: allowed with a base64 JSONPatch, or with no patch when the pod is
 *   already injected identically ("injected" / "unchanged"); engine notes become warnings;
 * - the engine denies: allowed=false, status code 403 (what the API server itself uses for a
 *   webhook denial without a code), message listing every problem ("denied");
 * - the engine or the config source throws: allowed=false, status code 500, so that the pod
 *   is not created unmodified behind the user's back ("error").
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { InjectionConfig } from '../config/index.js';
import type { InjectContext, InjectOutcome } from '../inject/types.js';
import { serializePatch } from '../inject/patch-json.js';
import { POD_SECURITY_ENFORCE_LABEL } from '../inject/checks.js';
import { errorMessage } from '../errors/index.js';
import { displayValue } from '../grammar/index.js';
import type { AdmissionRequest, AdmissionResponse } from './types.js';

export type InjectFn = (pod: V1Pod, ctx: InjectContext, config: InjectionConfig) => InjectOutcome;

export type Decision = 'injected' | 'unchanged' | 'skipped' | 'denied' | 'ignored' | 'error';

export interface ReviewResult {
  response: AdmissionResponse;
  decision: Decision;
  /** A stable word for the log and metrics (skip reason, "notPod", "alreadyInjected", ...). */
  reason: string;
  /** Human-readable detail for denials and errors. */
  message?: string;
  /** Pod name, or generateName for pods named by the API server. */
  pod?: string;
  namespace?: string;
  /** The thrown value, for "error" decisions (logged with its stack). */
  error?: unknown;
}

/** Thrown for a review the schema accepts but that cannot be answered (answered HTTP 400). */
export class BadReviewError extends Error {
  readonly statusCode = 400;
}

/** Labels of a namespace when siding knows them (the cluster mode's namespace cache). */
export type NamespaceLabelsFn = (namespace: string) => Readonly<Record<string, string>> | undefined;

export function reviewRequest(request: AdmissionRequest, getConfig: () => InjectionConfig, inject: InjectFn, namespaceLabels?: NamespaceLabelsFn): ReviewResult {
  const uid = request.uid;
  const allow: AdmissionResponse = { uid, allowed: true };
  if (request.kind.group !== '' || request.kind.kind !== 'Pod') {
    return { response: allow, decision: 'ignored', reason: 'notPod' };
  }
  if (request.operation !== 'CREATE') return { response: allow, decision: 'ignored', reason: 'notCreate' };
  if (request.subResource !== undefined && request.subResource !== '') {
    return { response: allow, decision: 'ignored', reason: 'subResource' };
  }

  // The schema guarantees a pod-shaped object for a Pod CREATE.
  const pod = request.object as V1Pod;
  const podName = pod.metadata?.name ?? pod.metadata?.generateName;
  // The API server always sets request.namespace for pods; the object's own field is a
  // fallback for hand-made reviews. Guessing "default" could inject into an excluded namespace.
  const namespace = nonEmpty(request.namespace) ?? nonEmpty(pod.metadata?.namespace);
  if (namespace === undefined) throw new BadReviewError('request.namespace (or request.object.metadata.namespace) is required for a Pod');
  // For the log line and metrics: escaped and cut, so a hostile name cannot forge or flood them.
  const where = { namespace: displayValue(namespace), ...(podName === undefined ? {} : { pod: displayValue(podName) }) };

  let outcome: InjectOutcome;
  try {
    // The pod is the request body fastify just parsed and nothing changes it afterwards: the
    // engine may read it in place instead of copying it.
    // Only the Pod Security level: the namespaceSelector has decided the rest (types.ts).
    const level = namespaceLabels?.(namespace)?.[POD_SECURITY_ENFORCE_LABEL];
    outcome = inject(pod, { namespace, parsedJson: true, ...(level === undefined ? {} : { podSecurityEnforce: level }) }, getConfig());
  } catch (e) {
    return {
      ...where,
      decision: 'error',
      reason: 'internalError',
      message: errorMessage(e),
      error: e,
      response: {
        uid,
        allowed: false,
        status: {
          code: 500,
          reason: 'InternalError',
          message: `siding could not inject this pod because of an internal error: ${errorMessage(e)}`,
        },
      },
    };
  }

  switch (outcome.kind) {
    case 'skipped':
      return { ...where, response: allow, decision: 'skipped', reason: outcome.reason, message: outcome.message };
    case 'denied':
      return {
        ...where,
        decision: 'denied',
        reason: 'denied',
        message: outcome.message,
        response: { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: outcome.message } },
      };
    case 'injected': {
      const response: AdmissionResponse = { uid, allowed: true };
      if (outcome.patch.length > 0) {
        response.patchType = 'JSONPatch';
        response.patch = Buffer.from(serializePatch(outcome.patch)).toString('base64');
      }
      if (outcome.warnings.length > 0) response.warnings = outcome.warnings;
      return outcome.patch.length > 0
        ? { ...where, response, decision: 'injected', reason: 'injected' }
        : { ...where, response, decision: 'unchanged', reason: 'alreadyInjected' };
    }
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
