/**
 * What the engine checks before it injects: the minimum shape it relies on, the proxy's
 * identity (no app may run as its UID or GID), siding's names, resource requests against
 * limits. Each returns every problem found; the engine denies with all of them. Also the
 * warnings an injected pod gets. Pure: they only read the pod.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { InjectionConfig } from '../config/index.js';
import { quantityValue } from '../config/values.js';
import type { AnnotationProblem } from '../errors/index.js';
import { displayValue } from '../grammar/index.js';
import { ANNOTATIONS, annotationProblem, STATUS_ANNOTATION } from './annotations.js';
import { HEALTH_PORT_NAME, METRICS_PORT_NAME } from './containers.js';
import { isObject } from './copy.js';
import { derived } from './parts.js';
import type { PodSettings } from './settings.js';
import { INIT_CONTAINER, PROXY_CONTAINER } from './status.js';

/** Istio's record of its own injection; a pod carrying it already has a proxy. */
export const ISTIO_STATUS_ANNOTATION = 'sidecar.istio.io/status';

/** The minimum shape the engine relies on; the API server has validated the rest. */
export function shapeProblems(pod: unknown): string[] {
  if (!isObject(pod)) return ['the pod is not an object'];
  if (pod.metadata !== undefined && !isObject(pod.metadata)) return ['metadata is not an object'];
  for (const field of ['labels', 'annotations'] as const) {
    const map = isObject(pod.metadata) ? pod.metadata[field] : undefined;
    if (map !== undefined && map !== null && !isObject(map)) return [`metadata.${field} is not a map`];
  }
  const spec = pod.spec;
  if (!isObject(spec)) return ['the pod has no spec'];
  const out: string[] = [];
  for (const field of ['containers', 'initContainers'] as const) {
    const list = spec[field];
    if (list === undefined && field === 'initContainers') continue;
    if (!Array.isArray(list) || (field === 'containers' && list.length === 0)) {
      out.push(`spec.${field} must be a ${field === 'containers' ? 'non-empty ' : ''}list`);
      continue;
    }
    list.forEach((c, i) => {
      if (!isObject(c) || typeof c.name !== 'string') {
        out.push(`spec.${field}[${i}] has no name`);
        return;
      }
      for (const key of ['ports', 'env', 'volumeMounts'] as const) {
        const v = c[key];
        if (v !== undefined && (!Array.isArray(v) || !v.every(isObject))) out.push(`spec.${field}[${i}].${key} must be a list of objects`);
      }
      if (c.securityContext !== undefined && c.securityContext !== null && !isObject(c.securityContext)) {
        out.push(`spec.${field}[${i}].securityContext must be an object`);
      }
    });
  }
  if (spec.volumes !== undefined && (!Array.isArray(spec.volumes) || !spec.volumes.every((v) => isObject(v) && typeof v.name === 'string'))) {
    out.push('spec.volumes must be a list of named volumes');
  }
  return out;
}

export function uidProblems(pod: V1Pod, config: InjectionConfig): string[] {
  const { uid, gid } = config.proxy;
  const out: string[] = [];
  const why = 'its traffic would bypass the proxy';
  const psc = pod.spec?.securityContext;
  if (psc?.runAsUser === uid) out.push(`the pod securityContext runs as UID ${uid}, the proxy's UID: ${why}`);
  if (psc?.runAsGroup === gid) out.push(`the pod securityContext runs as GID ${gid}, the proxy's GID: ${why}`);
  // A process with the proxy's GID among its groups can make a setgid copy of a program and
  // run it with that GID as its own, which the redirect exempts.
  if (psc?.fsGroup === gid) out.push(`the pod securityContext sets fsGroup ${gid}, the proxy's GID, as a group of every container: ${why}`);
  if (Array.isArray(psc?.supplementalGroups) && psc.supplementalGroups.includes(gid)) {
    out.push(`the pod securityContext lists the proxy's GID ${gid} in supplementalGroups: ${why}`);
  }
  for (const c of allContainers(pod)) {
    if (c.securityContext?.runAsUser === uid) out.push(`container ${displayValue(c.name)} runs as UID ${uid}, the proxy's UID: ${why}`);
    if (c.securityContext?.runAsGroup === gid) out.push(`container ${displayValue(c.name)} runs as GID ${gid}, the proxy's GID: ${why}`);
  }
  return out;
}

/** The pod's init containers, then its containers. */
function allContainers(pod: V1Pod): V1Container[] {
  const init = pod.spec?.initContainers;
  const app = pod.spec?.containers ?? [];
  return init === undefined || init.length === 0 ? app : init.concat(app);
}

const OUR_CONTAINERS: ReadonlySet<string> = new Set([INIT_CONTAINER, PROXY_CONTAINER]);

/**
 * Containers and volumes named like siding's that are still in the pod after a record's
 * entries were removed (or with no record). A record that does not list what the pod has
 * (forged, or edited by hand) is thus no licence to add a second `siding-init`.
 */
export function nameProblems(pod: V1Pod, config: InjectionConfig, hasRecord: boolean): string[] {
  const why = hasRecord ? `its ${STATUS_ANNOTATION} record does not list` : `siding did not inject (no ${STATUS_ANNOTATION} record)`;
  const out: string[] = [];
  for (const c of allContainers(pod)) {
    if (OUR_CONTAINERS.has(c.name)) out.push(`the pod already has a container named ${c.name} that ${why}`);
  }
  const volumes = derived(config).ourVolumes;
  for (const v of pod.spec?.volumes ?? []) {
    if (volumes.has(v.name)) out.push(`the pod already has a volume named ${v.name} that ${why}`);
  }
  return out;
}

const RESOURCE_KEYS = {
  cpu: { request: 'proxyCPU', limit: 'proxyCPULimit' },
  memory: { request: 'proxyMemory', limit: 'proxyMemoryLimit' },
} as const;

/** The key (siding's, or an Istio alias) under which the pod sets the annotation for `field`. */
function keyFor(pod: V1Pod, field: string): string | undefined {
  const annotations = pod.metadata?.annotations ?? {};
  const spec = ANNOTATIONS.find((s) => s.field === field);
  return spec === undefined ? undefined : [spec.key, ...spec.aliases].find((k) => Object.hasOwn(annotations, k));
}

/** A request above its limit (after annotations) would make the API server reject the pod. */
export function resourceProblems(pod: V1Pod, settings: PodSettings): AnnotationProblem[] {
  const out: AnnotationProblem[] = [];
  for (const kind of ['cpu', 'memory'] as const) {
    const req = settings.proxyResources.requests[kind];
    const lim = settings.proxyResources.limits[kind];
    if (req === undefined || lim === undefined || quantityValue(req) <= quantityValue(lim)) continue;
    const names = RESOURCE_KEYS[kind];
    const reqKey = keyFor(pod, names.request);
    if (reqKey !== undefined) out.push(annotationProblem(reqKey, req, `the ${kind} request is above the ${kind} limit ${lim}`));
    else out.push(annotationProblem(keyFor(pod, names.limit) ?? names.limit, lim, `the ${kind} limit is below the ${kind} request ${req}`));
  }
  return out;
}

/**
 * The proxy image a pod asks for runs as the UID the redirect exempts, before the app: the
 * config decides who may choose it (`proxy.imageOverridePrefixes`: none by default, `*`
 * for any image, or image prefixes).
 */
export function imageProblems(pod: V1Pod, config: InjectionConfig, image: string | undefined): AnnotationProblem[] {
  if (image === undefined) return [];
  const prefixes = config.proxy.imageOverridePrefixes;
  if (prefixes.includes('*') || prefixes.some((p) => image.startsWith(p))) return [];
  const key = keyFor(pod, 'proxyImage') ?? 'siding.io/proxyImage';
  const reason =
    prefixes.length === 0
      ? 'proxy image overrides are off (the config setting proxy.imageOverridePrefixes is empty)'
      : `the image does not start with any of the config setting proxy.imageOverridePrefixes (${prefixes.join(', ')})`;
  return [annotationProblem(key, image, reason)];
}

/** The namespace label that makes the API server enforce a Pod Security level. */
export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

/**
 * siding-init needs root with NET_ADMIN and NET_RAW to program the pod's iptables; Pod
 * Security `baseline` forbids those capabilities and `restricted` also forbids root, so the
 * API server rejects the injected pod after this webhook. Known only when the caller knows
 * the namespace's labels (the webhook's namespace cache, `siding check`).
 */
export function podSecurityWarning(namespace: string, level: string | undefined): string | undefined {
  if (level !== 'baseline' && level !== 'restricted') return undefined;
  return (
    `namespace ${displayValue(namespace)} enforces Pod Security '${level}' (label ${POD_SECURITY_ENFORCE_LABEL}), which forbids siding-init ` +
    `(root with NET_ADMIN and NET_RAW): the API server will reject this pod; use siding's CNI mode, which programs the redirect without siding-init, or exempt the namespace`
  );
}

export function warningsFor(pod: V1Pod, config: InjectionConfig, settings: PodSettings, explicitHold: boolean): string[] {
  const out: string[] = [];
  const reserved = derived(config).reservedPorts;
  for (const c of allContainers(pod)) {
    for (const port of c.ports ?? []) {
      const use = reserved.get(port.containerPort);
      if (use !== undefined) out.push(`container ${displayValue(c.name)} declares port ${port.containerPort}, which siding-proxy uses for ${use}`);
      if (port.name === METRICS_PORT_NAME || port.name === HEALTH_PORT_NAME) {
        out.push(`container ${displayValue(c.name)} has a port named ${port.name}, like siding-proxy's; a Service targeting it by name may reach the proxy`);
      }
    }
  }
  if (settings.nativeSidecar && explicitHold) {
    out.push('holdApplicationUntilProxyStarts has no effect with native sidecars: they always start before the app');
  }
  const rp = pod.spec?.restartPolicy;
  if (!settings.nativeSidecar && (rp === 'Never' || rp === 'OnFailure')) {
    out.push(`classic layout with restartPolicy ${rp}: siding-proxy keeps running after the app exits, so the pod never completes; use native sidecars`);
  }
  return out;
}
