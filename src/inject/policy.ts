/**
 * Whether a pod gets a proxy, and why. Pure; separate from mutation so it can be tested
 * as a table and explained by `siding check`.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { formatAnnotationProblem } from '../errors/index.js';
import type { InjectionConfig, LabelSelector } from '../config/index.js';
import { displayValue, ISTIO_IPTABLES, MAX_VALUE_CHARS, parseBoolean } from '../grammar/index.js';
import { candidates, INJECT_SPEC } from './annotations.js';
import type { InjectContext, InjectDecision } from './types.js';

/** Namespace label the MutatingWebhookConfiguration's namespaceSelector requires. */
export const NAMESPACE_LABEL = 'siding-injection';
export const NAMESPACE_LABEL_VALUE = 'enabled';

/** Kubernetes label-selector semantics; an empty selector would match everything (config refuses it). */
export function matchesSelector(labels: Readonly<Record<string, string>>, sel: LabelSelector): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) {
    if (labels[k] !== v) return false;
  }
  for (const e of sel.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || value === undefined || !e.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && e.values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** The namespaces siding never injects: the configured list plus its own. */
export function excludedNamespaces(config: InjectionConfig): ReadonlySet<string> {
  return new Set([...config.excludedNamespaces, config.sidingNamespace]);
}

function podLabels(pod: V1Pod): Record<string, string> {
  const out: Record<string, string> = {};
  const labels: unknown = pod.metadata?.labels;
  if (typeof labels === 'object' && labels !== null) {
    for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/**
 * Decides, in this order (the first rule that applies wins):
 * 1. the namespace is excluded → skip;
 * 2. namespace labels are known and lack `siding-injection=enabled` → skip (the webhook
 *    would never be called);
 * 3. the inject switch (label before annotation, siding's key before Istio's): `false` →
 *    skip; an invalid value → deny;
 * 4. hostNetwork → skip (the redirect would capture the node's traffic);
 * 5. switch `true` → inject;
 * 6. a neverInjectSelector matches → skip; an alwaysInjectSelector matches → inject;
 * 7. config policy.
 */
export function shouldInject(pod: V1Pod, ctx: InjectContext, config: InjectionConfig): InjectDecision {
  const ns = ctx.namespace;
  if (excludedNamespaces(config).has(ns)) {
    return { kind: 'skip', reason: 'excludedNamespace', message: `namespace ${displayValue(ns)} is excluded by config` };
  }
  if (ctx.namespaceLabels !== undefined && ctx.namespaceLabels[NAMESPACE_LABEL] !== NAMESPACE_LABEL_VALUE) {
    return {
      kind: 'skip',
      reason: 'namespaceNotEnabled',
      message: `namespace ${displayValue(ns)} does not have the label ${NAMESPACE_LABEL}=${NAMESPACE_LABEL_VALUE}`,
    };
  }

  const [winner] = candidates(pod, INJECT_SPEC);
  let optIn: { reason: 'optedInByLabel' | 'optedInByAnnotation'; key: string } | undefined;
  if (winner !== undefined) {
    const r = winner.isString && winner.raw.length <= MAX_VALUE_CHARS ? INJECT_SPEC.parse(winner.raw) : undefined;
    if (r === undefined || !r.ok) {
      const reason = !winner.isString
        ? `${winner.source} values must be strings (quote it: "${displayValue(winner.raw)}")`
        : r === undefined
          ? 'value too long'
          : `${r.reason}${spellingHint(winner.raw, winner.source)}`;
      const text = formatAnnotationProblem({ annotation: displayValue(winner.key), value: displayValue(winner.raw), reason });
      return { kind: 'deny', errors: [winner.source === 'label' ? text.replace(/ for annotation '/, " for label '") : text] };
    }
    if (!r.value) {
      return {
        kind: 'skip',
        reason: winner.source === 'label' ? 'optedOutByLabel' : 'optedOutByAnnotation',
        message: `opted out by ${winner.source} ${winner.key}`,
      };
    }
    optIn = { reason: winner.source === 'label' ? 'optedInByLabel' : 'optedInByAnnotation', key: winner.key };
  }

  if (pod.spec?.hostNetwork === true) {
    return { kind: 'skip', reason: 'hostNetwork', message: "hostNetwork (the pod shares the node's network namespace)" };
  }
  if (optIn !== undefined) {
    return { kind: 'inject', reason: optIn.reason, message: `opted in by ${optIn.reason === 'optedInByLabel' ? 'label' : 'annotation'} ${optIn.key}` };
  }

  const labels = podLabels(pod);
  const never = config.neverInjectSelector.findIndex((s) => matchesSelector(labels, s));
  if (never !== -1) {
    return { kind: 'skip', reason: 'neverInjectSelector', message: `labels match neverInjectSelector[${never}]` };
  }
  const always = config.alwaysInjectSelector.findIndex((s) => matchesSelector(labels, s));
  if (always !== -1) {
    return { kind: 'inject', reason: 'alwaysInjectSelector', message: `labels match alwaysInjectSelector[${always}]` };
  }
  if (config.policy === 'disabled') {
    return { kind: 'skip', reason: 'policyDisabled', message: `policy is disabled and the pod does not opt in with ${INJECT_SPEC.key}: "true"` };
  }
  return { kind: 'inject', reason: 'policyEnabled', message: 'policy is enabled' };
}

/**
 * For another spelling of a boolean (`False`, `0`, `T`...): which word siding reads, and,
 * for the label, why the pod reached siding at all: the webhook's objectSelector skips only
 * the exact value `false`, so `False` cannot keep the webhook from being called. siding
 * reads the switch strictly, like every annotation, rather than guess.
 */
function spellingHint(raw: string, source: 'label' | 'annotation'): string {
  const meant = parseBoolean(raw, ISTIO_IPTABLES);
  if (!meant.ok) return '';
  const word = meant.value ? 'true' : 'false';
  const why = source === 'label' && !meant.value ? `; the webhook's objectSelector skips only the exact label value "false", so this pod was sent to siding` : '';
  return ` (write "${word}"${why})`;
}
