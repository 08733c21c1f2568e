/**
 * The `siding.io/status` record: what siding added to a pod, so that a pod carrying it can
 * be stripped back and injected again. Re-injection is what makes the webhook idempotent
 * under `reinvocationPolicy: IfNeeded`.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { isDnsLabel } from '../config/values.js';
import { displayValue, MAX_VALUE_CHARS, type Parsed } from '../grammar/index.js';
import { STATUS_ANNOTATION } from './annotations.js';

export const INIT_CONTAINER = 'siding-init';
export const PROXY_CONTAINER = 'siding-proxy';
/** Pod annotations siding may add besides its status (classic layout: keep kubectl on the app). */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';
const STRIPPABLE_CONTAINERS: readonly string[] = [INIT_CONTAINER, PROXY_CONTAINER];
const STRIPPABLE_ANNOTATIONS: readonly string[] = [DEFAULT_CONTAINER_ANNOTATION];

export interface InjectionRecord {
  /** siding version that injected. */
  version: string;
  layout: 'native' | 'classic';
  initContainers: string[];
  containers: string[];
  volumes: string[];
  /** Pod annotations added besides the status itself. */
  annotations: string[];
  proxyImage: string;
}

/** Fixed key order so the annotation's text is stable. */
export function renderRecord(r: InjectionRecord): string {
  return JSON.stringify({
    version: r.version,
    layout: r.layout,
    initContainers: r.initContainers,
    containers: r.containers,
    volumes: r.volumes,
    annotations: r.annotations,
    proxyImage: r.proxyImage,
  });
}

/**
 * Parses a status annotation. Only names siding could have added are accepted, so a
 * forged record cannot make re-injection remove the pod's own containers or volumes.
 */
export function parseRecord(raw: string): Parsed<InjectionRecord> {
  const bad = (why: string): Parsed<InjectionRecord> => ({ ok: false, reason: `not an injection record written by siding: ${why}` });
  if (raw.length > MAX_VALUE_CHARS) return bad(`longer than ${MAX_VALUE_CHARS} characters`);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  const allowed = ['version', 'layout', 'initContainers', 'containers', 'volumes', 'annotations', 'proxyImage'];
  const extra = Object.keys(o).find((k) => !allowed.includes(k));
  if (extra !== undefined) return bad(`unknown field '${displayValue(extra)}'`);
  const names = (field: string, ok: (s: string) => boolean): string[] | string => {
    const list = o[field];
    if (!Array.isArray(list) || !list.every((x): x is string => typeof x === 'string')) return `${field} must be a list of strings`;
    const wrong = list.find((x) => !ok(x));
    return wrong === undefined ? list : `${field} names '${displayValue(wrong)}', which siding never adds`;
  };
  const initContainers = names('initContainers', (s) => STRIPPABLE_CONTAINERS.includes(s));
  const containers = names('containers', (s) => STRIPPABLE_CONTAINERS.includes(s));
  const volumes = names('volumes', (s) => s.startsWith('siding-') && isDnsLabel(s));
  const annotations = names('annotations', (s) => STRIPPABLE_ANNOTATIONS.includes(s));
  for (const r of [initContainers, containers, volumes, annotations]) if (typeof r === 'string') return bad(r);
  if (typeof o.version !== 'string' || typeof o.proxyImage !== 'string') return bad('version and proxyImage must be strings');
  if (o.layout !== 'native' && o.layout !== 'classic') return bad('layout must be native or classic');
  return {
    ok: true,
    value: {
      version: o.version,
      layout: o.layout,
      initContainers: initContainers as string[],
      containers: containers as string[],
      volumes: volumes as string[],
      annotations: annotations as string[],
      proxyImage: o.proxyImage,
    },
  };
}

/**
 * Removes what a record says siding added, and the record itself. Empty lists and maps
 * left behind are removed too; injecting again recreates them, so the result of
 * re-injection does not depend on whether they were there before.
 */
export function stripInjection(pod: V1Pod, record: InjectionRecord): void {
  const spec = pod.spec;
  // Sets: a pod and a forged record may both list thousands of names.
  const initContainers = new Set(record.initContainers);
  const containers = new Set(record.containers);
  const volumes = new Set(record.volumes);
  if (spec !== undefined) {
    if (Array.isArray(spec.initContainers)) {
      spec.initContainers = spec.initContainers.filter((c) => !initContainers.has(c.name));
      if (spec.initContainers.length === 0) delete spec.initContainers;
    }
    if (Array.isArray(spec.containers)) {
      spec.containers = spec.containers.filter((c) => !containers.has(c.name));
    }
    if (Array.isArray(spec.volumes)) {
      spec.volumes = spec.volumes.filter((v) => !volumes.has(v.name));
      if (spec.volumes.length === 0) delete spec.volumes;
    }
  }
  const annotations = pod.metadata?.annotations;
  if (pod.metadata !== undefined && annotations !== undefined) {
    delete annotations[STATUS_ANNOTATION];
    for (const a of record.annotations) delete annotations[a];
    if (Object.keys(annotations).length === 0) delete pod.metadata.annotations;
  }
}
