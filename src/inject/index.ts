/** Public surface of src/inject: the engine, policy, the annotation table and manifests. */
export type { InjectContext, InjectDecision, InjectOutcome, InjectReason, SkipReason } from './types.js';
export { injectPod } from './engine.js';
export { diffPods, firstInjectionPatch } from './diff.js';
export { initArgs, HEALTH_PORT_NAME, METRICS_PORT_NAME } from './containers.js';
export { resolveSettings, type PodSettings } from './settings.js';
export { shouldInject, matchesSelector, excludedNamespaces, NAMESPACE_LABEL, NAMESPACE_LABEL_VALUE } from './policy.js';
export {
  ANNOTATIONS,
  INJECT_KEY,
  STATUS_ANNOTATION,
  readAnnotations,
  type AnnotationField,
  type AnnotationSpec,
  type AnnotationValues,
  type AnyAnnotationSpec,
} from './annotations.js';
export { serializePatch } from './patch-json.js';
export { INIT_CONTAINER, PROXY_CONTAINER, parseRecord, type InjectionRecord } from './status.js';
