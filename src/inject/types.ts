import type { V1Pod } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';

/** What the engine knows about where the pod is being created. */
export interface InjectContext {
  /** The pod's namespace (from the AdmissionReview, the manifest, or --namespace). */
  namespace: string;
  /**
   * Labels of that namespace when known, for policy and warnings (`siding check`: from flags
   * or the API). The webhook leaves them out: the API server's namespaceSelector has
   * already decided, and a cache that has not yet seen a new label must not overrule it.
   */
  namespaceLabels?: Readonly<Record<string, string>>;
  /**
   * The namespace's `pod-security.kubernetes.io/enforce` level when known without its other
   * labels (the webhook's namespace cache), for the Pod Security warning only.
   */
  podSecurityEnforce?: string;
  /**
   * The pod is a fresh `JSON.parse` result that nothing else will change (the webhook's
   * request body): the engine then reads it in place instead of copying it first, and may
   * return objects that share parts of it. Never set it for a pod the caller keeps using.
   */
  parsedJson?: boolean;
}

/** Stable codes for every reason a pod is not injected. */
export type SkipReason =
  | 'hostNetwork'
  | 'excludedNamespace'
  | 'optedOutByLabel'
  | 'optedOutByAnnotation'
  | 'neverInjectSelector'
  | 'policyDisabled'
  | 'namespaceNotEnabled';

/** Stable codes for every reason a pod is injected. */
export type InjectReason = 'optedInByLabel' | 'optedInByAnnotation' | 'alwaysInjectSelector' | 'policyEnabled';

/** What policy (`shouldInject`) decided, before any annotation other than the inject switch is read. */
export type InjectDecision =
  | { kind: 'inject'; reason: InjectReason; message: string }
  | { kind: 'skip'; reason: SkipReason; message: string }
  | { kind: 'deny'; errors: string[] };

export type InjectOutcome =
  | {
      kind: 'injected';
      /** The injected pod (managedFields dropped). */
      pod: V1Pod;
      /** JSON Patch from the input pod to `pod`; empty when the input was already injected identically. */
      patch: Operation[];
      /** Non-fatal notes for AdmissionReview `warnings`. */
      warnings: string[];
    }
  | { kind: 'skipped'; reason: SkipReason; message: string }
  | {
      kind: 'denied';
      /** Every problem found, each a full sentence (annotation errors use formatAnnotationProblem). */
      errors: string[];
      message: string;
    };
