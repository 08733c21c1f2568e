/**
 * Manifest streams for `siding inject` and `siding check`: YAML or JSON, multi-document,
 * `List`s; the pods and pod templates of the workload kinds go through the same engine as
 * the webhook; every other object passes through unchanged. Pure (text in, text out).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments, stringify, type Tags } from 'yaml';
import { errorMessage, InputError } from '../errors/index.js';
import type { InjectionConfig } from '../config/index.js';
import { displayValue } from '../grammar/index.js';
import { injectPod } from './engine.js';
import type { InjectOutcome } from './types.js';

/** Where each workload kind keeps its pod template (empty: the object is the pod). */
export const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** A manifest stream this large is not a manifest; refuse before parsing it. */
export const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

export type KubeObject = Record<string, unknown>;

export interface WorkloadResult {
  /** `Kind/name` (`Kind/prefix-*` for generateName, `Kind/(unnamed)` otherwise). */
  workload: string;
  namespace: string;
  /** Kubernetes kind of the workload. */
  kind: string;
  outcome: InjectOutcome;
}

export interface ManifestOptions {
  config: InjectionConfig;
  /** `--namespace`; otherwise each object's metadata.namespace, else `default`. */
  namespace?: string | undefined;
  /** Labels of a namespace, when known (`siding check --namespace-labels`, or a live lookup). */
  namespaceLabels?: ((namespace: string) => Readonly<Record<string, string>> | undefined) | undefined;
}

function isObject(v: unknown): v is KubeObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Kubernetes reads YAML as 1.1 (`yes`/`on` are booleans, `0755` is octal), so siding does
 * too, or a manifest would mean one thing here and another to kubectl. Timestamps and
 * sexagesimal numbers stay strings, as they do for kubectl.
 */
const DROPPED_TAGS = ['timestamp', 'binary', 'omap', 'pairs', 'set'];
const YAML_OPTIONS = {
  version: '1.1' as const,
  uniqueKeys: true,
  customTags: (tags: Tags) =>
    tags.filter((t) => {
      const tag = typeof t === 'string' ? t : t.tag;
      const format = typeof t === 'string' ? undefined : t.format;
      return format !== 'TIME' && !DROPPED_TAGS.some((d) => tag === `tag:yaml.org,2002:${d}`);
    }),
};

/** Parses a stream into its objects, in order. Throws InputError on anything that is not a stream of objects. */
export function parseManifests(text: string, source: string): KubeObject[] {
  if (Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES) throw new InputError(`${source}: larger than ${MAX_MANIFEST_BYTES} bytes`);
  const docs = parseAllDocuments(text, YAML_OPTIONS);
  if (!Array.isArray(docs)) throw new InputError(`${source}: not a YAML or JSON stream`);
  const out: KubeObject[] = [];
  docs.forEach((doc, i) => {
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem !== undefined) {
      throw new InputError(`${source}: document ${i + 1}: ${problem.message.split('\n')[0] ?? problem.message}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new InputError(`${source}: document ${i + 1}: ${errorMessage(e)}`, { cause: e });
    }
    if (value === null || value === undefined) return; // an empty document (a stray `---`)
    if (!isObject(value)) throw new InputError(`${source}: document ${i + 1} is not a Kubernetes object (a mapping with kind)`);
    if (typeof value.kind !== 'string') throw new InputError(`${source}: document ${i + 1} has no kind`);
    out.push(value);
  });
  return out;
}

function isList(obj: KubeObject): obj is KubeObject & { items: unknown[] } {
  return typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items);
}

function metadataOf(v: unknown): KubeObject {
  return isObject(v) && isObject(v.metadata) ? v.metadata : {};
}

function workloadName(kind: string, obj: KubeObject): string {
  const m = metadataOf(obj);
  if (typeof m.name === 'string' && m.name !== '') return `${kind}/${displayValue(m.name)}`;
  if (typeof m.generateName === 'string' && m.generateName !== '') return `${kind}/${displayValue(m.generateName)}*`;
  return `${kind}/(unnamed)`;
}

function namespaceOf(obj: KubeObject, flag: string | undefined): string {
  if (flag !== undefined) return flag;
  const ns = metadataOf(obj).namespace;
  return typeof ns === 'string' && ns !== '' ? ns : 'default';
}

/** Follows a template path; undefined when the object does not have one. */
function templateAt(obj: KubeObject, path: readonly string[]): KubeObject | undefined {
  let cur: unknown = obj;
  for (const key of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return isObject(cur) ? cur : undefined;
}

/**
 * Injects one object (recursing into Lists). Returns the object to output (a new object
 * when something was injected, the input otherwise) and one result per workload found.
 */
export function injectObject(obj: KubeObject, opts: ManifestOptions): { object: KubeObject; results: WorkloadResult[] } {
  if (isList(obj)) {
    const results: WorkloadResult[] = [];
    const items = obj.items.map((item) => {
      if (!isObject(item)) return item;
      const r = injectObject(item, opts);
      results.push(...r.results);
      return r.object;
    });
    return { object: { ...obj, items }, results };
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const path = Object.hasOwn(TEMPLATE_PATHS, kind) ? TEMPLATE_PATHS[kind] : undefined;
  if (path === undefined) return { object: obj, results: [] };

  const namespace = namespaceOf(obj, opts.namespace);
  const workload = workloadName(kind, obj);
  const template = path.length === 0 ? obj : templateAt(obj, path);
  const pod: V1Pod =
    template === undefined
      ? { apiVersion: 'v1', kind: 'Pod' }
      : ({ apiVersion: 'v1', kind: 'Pod', metadata: template.metadata, spec: template.spec } as V1Pod);
  const labels = opts.namespaceLabels?.(namespace);
  const outcome = injectPod(pod, { namespace, ...(labels === undefined ? {} : { namespaceLabels: labels }) }, opts.config);
  const result: WorkloadResult = { workload, namespace, kind, outcome };
  if (outcome.kind !== 'injected' || outcome.patch.length === 0) return { object: obj, results: [result] };

  // Write the injected metadata and spec back into a copy of the object.
  const copy = structuredClone(obj);
  const target = path.length === 0 ? copy : templateAt(copy, path);
  if (target !== undefined) {
    target.metadata = outcome.pod.metadata;
    target.spec = outcome.pod.spec;
  }
  return { object: copy, results: [result] };
}

export interface InjectRun {
  /** The whole output stream; empty when anything was denied (never half a stream). */
  output: string;
  results: WorkloadResult[];
  /** `Kind/name: message` for every denied workload. */
  denials: string[];
  /** `Kind/name: message` for every warning. */
  warnings: string[];
}

function renderYaml(objects: readonly KubeObject[]): string {
  // YAML 1.1 quoting, so strings like "yes", "on" and "0755" stay strings for kubectl.
  return objects.map((o) => stringify(o, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

function renderJson(objects: readonly KubeObject[]): string {
  const value = objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** `siding inject`: the injected stream, or every denial. */
export function injectManifests(text: string, source: string, opts: ManifestOptions & { output: 'yaml' | 'json' }): InjectRun {
  const objects = parseManifests(text, source);
  const outObjects: KubeObject[] = [];
  const results: WorkloadResult[] = [];
  for (const obj of objects) {
    const r = injectObject(obj, opts);
    outObjects.push(r.object);
    results.push(...r.results);
  }
  const denials = results.flatMap((r) => (r.outcome.kind === 'denied' ? r.outcome.errors.map((e) => `${r.workload}: ${e}`) : []));
  const warnings = results.flatMap((r) =>
    (r.outcome.kind === 'injected' ? r.outcome.warnings : []).map((w) => `${r.workload}: ${w}`),
  );
  const output = denials.length > 0 ? '' : opts.output === 'json' ? renderJson(outObjects) : renderYaml(outObjects);
  return { output, results, denials, warnings };
}

/** One line per workload: `Kind/name: injected`, `... skipped: why`, `... denied: why`. */
export function explain(r: WorkloadResult): string {
  const o = r.outcome;
  switch (o.kind) {
    case 'injected': {
      return `${r.workload}: injected${o.warnings.length > 0 ? ` (warnings: ${o.warnings.join('; ')})` : ''}`;
    }
    case 'skipped':
      return `${r.workload}: skipped: ${o.message}`;
    case 'denied':
      return `${r.workload}: denied: ${o.message}`;
  }
}

export interface CheckRun {
  lines: string[];
  results: WorkloadResult[];
  /** True when any workload would be denied. */
  denied: boolean;
}

/**
 * `siding check`: explains every workload in already-parsed objects. Namespace labels come
 * from `opts.namespaceLabels`, so a caller can resolve them from flags or from a live
 * cluster (see `namespacesIn`) before calling this.
 */
export function checkObjects(objects: readonly KubeObject[], opts: ManifestOptions): CheckRun {
  const results = objects.flatMap((o) => injectObject(o, opts).results);
  return { lines: results.map(explain), results, denied: results.some((r) => r.outcome.kind === 'denied') };
}

/** Every namespace the workloads in `objects` would be created in (for looking up their labels). */
export function namespacesIn(objects: readonly KubeObject[], namespace?: string): string[] {
  const out = new Set<string>();
  const visit = (o: KubeObject): void => {
    if (isList(o)) {
      for (const item of o.items) if (isObject(item)) visit(item);
      return;
    }
    if (typeof o.kind === 'string' && Object.hasOwn(TEMPLATE_PATHS, o.kind)) out.add(namespaceOf(o, namespace));
  };
  objects.forEach(visit);
  return [...out].sort();
}
