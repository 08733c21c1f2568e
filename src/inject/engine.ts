/**
 * The injection engine: pod + namespace + config in, injected pod and JSON Patch (or a
 * skip reason, or every reason to deny) out. Pure: no I/O, no clock, no randomness.
 *
 * Algorithm:
 * 1. Copy the input as plain JSON without metadata.managedFields (it can be most of a pod's
 *    size and is never ours to patch); this copy is the diff base. With `ctx.parsedJson`
 *    (the webhook's freshly parsed body) the input is read in place instead: only its
 *    nesting depth is checked.
 * 2. Policy (`shouldInject`) decides skip / inject / deny.
 * 3. Read every annotation through the table, check the pod (UIDs, names, status record);
 *    collect every problem and deny once with all of them.
 * 4. Copy the parts of the base the mutators change (all of it when a previous siding
 *    injection, from `siding.io/status`, is stripped first), apply the typed mutators, and
 *    diff base → result with fast-json-patch `compare`, leaving out members the two share.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { InjectionConfig } from '../config/index.js';
import { formatAnnotationProblem, ProblemList } from '../errors/index.js';
import { displayValue } from '../grammar/index.js';
import { VERSION } from '../version.js';
import { annotationProblem, readAnnotations, STATUS_ANNOTATION } from './annotations.js';
import { imageProblems, ISTIO_STATUS_ANNOTATION, nameProblems, POD_SECURITY_ENFORCE_LABEL, podSecurityWarning, resourceProblems, shapeProblems, uidProblems, warningsFor } from './checks.js';
import { clonePlain, shallowWork, toPlain, withinDepth, withoutManagedFields } from './copy.js';
import { diffPods, firstInjectionPatch } from './diff.js';
import { addContainers, addDefaultContainer, addVolumes, markInjected } from './mutators.js';
import { injectionParts } from './parts.js';
import { stringWithJson } from './patch-json.js';
import { shouldInject } from './policy.js';
import { INIT_CONTAINER, parseRecord, PROXY_CONTAINER, renderRecord, stripInjection, type InjectionRecord } from './status.js';
import type { InjectContext, InjectOutcome } from './types.js';

/**
 * Injects one pod. Never throws for anything about the pod: problems come back as a
 * `denied` outcome with every error found, in order.
 */
export function injectPod(pod: V1Pod, ctx: InjectContext, config: InjectionConfig): InjectOutcome {
  try {
    return injectChecked(pod, ctx, config);
  } catch (e) {
    // Not expected (the shape check comes first), but a review must get an answer, not a 500.
    return deny([`siding could not inject this pod: ${displayValue(e instanceof Error ? e.message : String(e))}`]);
  }
}

function injectChecked(pod: V1Pod, ctx: InjectContext, config: InjectionConfig): InjectOutcome {
  // 1. The diff base: the input as plain JSON without managedFields.
  let base: V1Pod;
  try {
    base = ctx.parsedJson === true ? withinDepth(withoutManagedFields(pod)) : toPlain(withoutManagedFields(pod));
  } catch {
    return deny(['malformed pod: not serialisable as JSON']);
  }
  const shape = shapeProblems(base);
  if (shape.length > 0) return deny(shape.map((s) => `malformed pod: ${s}`));
  if (base.metadata !== undefined) delete base.metadata.managedFields;

  // 2. Policy.
  const decision = shouldInject(base, ctx, config);
  if (decision.kind === 'skip') return { kind: 'skipped', reason: decision.reason, message: decision.message };
  if (decision.kind === 'deny') return deny(decision.errors);

  // 3. Read and check everything; collect every problem (bounded: ProblemList).
  const errors = new ProblemList();
  const statusRaw: unknown = base.metadata?.annotations?.[STATUS_ANNOTATION];
  const work = statusRaw === undefined ? shallowWork(base) : clonePlain(base);
  if (statusRaw !== undefined) {
    const rec = typeof statusRaw === 'string' ? parseRecord(statusRaw) : { ok: false as const, reason: 'must be a string' };
    if (rec.ok) stripInjection(work, rec.value);
    else errors.add(formatAnnotationProblem(annotationProblem(STATUS_ANNOTATION, typeof statusRaw === 'string' ? statusRaw : JSON.stringify(statusRaw), rec.reason)));
  }
  const read = readAnnotations(work);
  errors.addAll(read.errors);
  for (const p of read.problems) errors.add(formatAnnotationProblem(p));
  const parts = injectionParts(config, read.values);
  const settings = parts.settings;
  for (const p of imageProblems(work, config, read.values.proxyImage)) errors.add(formatAnnotationProblem(p));
  for (const p of resourceProblems(work, settings)) errors.add(formatAnnotationProblem(p));
  for (const p of uidProblems(work, config)) errors.add(p);
  for (const p of nameProblems(work, config, statusRaw !== undefined)) errors.add(p);
  if (Object.hasOwn(work.metadata?.annotations ?? {}, ISTIO_STATUS_ANNOTATION)) {
    errors.add(
      `the pod was already injected by Istio (annotation ${ISTIO_STATUS_ANNOTATION}); two proxies and two redirects would break its traffic: opt it out of one of them`,
    );
  }
  if (errors.count > 0) return deny(errors.lines());

  // 4. Mutate and diff.
  const layout = settings.nativeSidecar ? 'native' : 'classic';
  const { init, proxy, volumes } = parts;
  const record: InjectionRecord = {
    version: VERSION,
    layout,
    initContainers: layout === 'native' ? [INIT_CONTAINER, PROXY_CONTAINER] : [INIT_CONTAINER],
    containers: layout === 'native' ? [] : [PROXY_CONTAINER],
    volumes: volumes.map((v) => v.name),
    annotations: [],
    proxyImage: settings.proxyImage,
  };
  const warnings = read.warnings;
  for (const w of warningsFor(work, config, settings, read.values.holdApplicationUntilProxyStarts !== undefined)) warnings.add(w);
  const podSecurity = podSecurityWarning(ctx.namespace, ctx.podSecurityEnforce ?? ctx.namespaceLabels?.[POD_SECURITY_ENFORCE_LABEL]);
  if (podSecurity !== undefined) warnings.add(podSecurity);
  addContainers(work, init, proxy, settings);
  addVolumes(work, volumes);
  addDefaultContainer(work, record);
  // Everything in the record but its annotations comes from the parts.
  const added = record.annotations.join(',');
  let recordText = parts.recordText.get(added);
  if (recordText === undefined) {
    recordText = stringWithJson(renderRecord(record));
    parts.recordText.set(added, recordText);
  }
  markInjected(work, recordText);

  const patch = (statusRaw === undefined ? firstInjectionPatch(base, work) : undefined) ?? diffPods(base, work);
  return { kind: 'injected', pod: work, patch, warnings: warnings.lines() };
}

/** A denial; the list is already bounded, or short (policy, shape checks). */
function deny(errors: string[]): InjectOutcome {
  return { kind: 'denied', errors, message: errors.join('; ') };
}
