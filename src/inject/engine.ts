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
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import jsonpatch, { escapePathComponent, type Operation } from 'fast-json-patch';
import { formatAnnotationProblem, ProblemList, type AnnotationProblem } from '../errors/index.js';
import type { InjectionConfig, RedirectDefaults, Resources } from '../config/index.js';
// Not the src/config barrel: that loads the config file parser (and yaml), which the
// webhook needs only with --config.
import { deepFreeze, XTABLES_LOCK_VOLUME } from '../config/defaults.js';
import { quantityValue } from '../config/values.js';
import { displayValue, formatCidrList, formatCidrSelection, formatPortList, formatPortSelection } from '../grammar/index.js';
import { VERSION } from '../version.js';
import { ANNOTATIONS, annotationProblem, readAnnotations, STATUS_ANNOTATION, type AnnotationValues } from './annotations.js';
import { frozenWithJson, stringWithJson } from './patch-json.js';
import { shouldInject } from './policy.js';
import { isSidingProxy, proxyArgs } from './proxy-args.js';
import {
  DEFAULT_CONTAINER_ANNOTATION,
  INIT_CONTAINER,
  parseRecord,
  PROXY_CONTAINER,
  renderRecord,
  stripInjection,
  type InjectionRecord,
} from './status.js';
import type { InjectContext, InjectOutcome } from './types.js';

/** Port names on siding-proxy: valid IANA service names (at most 15 characters, a letter). */
export const METRICS_PORT_NAME = 'http-envoy-prom';
export const HEALTH_PORT_NAME = 'siding-health';
/** Istio's record of its own injection; a pod carrying it already has a proxy. */
export const ISTIO_STATUS_ANNOTATION = 'sidecar.istio.io/status';
/** Where the init container's xtables lock lives (its root filesystem is read-only). */
export const XTABLES_LOCK_DIR = '/run/xtables';

/** Everything the mutators need, after config and annotations are merged. */
export interface PodSettings {
  proxyImage: string;
  proxyResources: Resources;
  nativeSidecar: boolean;
  holdApplicationUntilProxyStarts: boolean;
  redirect: RedirectDefaults;
}

/** Config overlaid with the pod's annotations (annotations replace config values). */
export function resolveSettings(config: InjectionConfig, v: Partial<AnnotationValues>): PodSettings {
  const r = config.redirect;
  const req = config.proxy.resources.requests;
  const lim = config.proxy.resources.limits;
  const pick = <T>(x: T | undefined, d: T): T => (x === undefined ? d : x);
  const list = (cpu: string | undefined, memory: string | undefined): Resources['requests'] => {
    const out: Resources['requests'] = {};
    if (cpu !== undefined) out.cpu = cpu;
    if (memory !== undefined) out.memory = memory;
    return out;
  };
  return {
    proxyImage: pick(v.proxyImage, config.proxy.image),
    proxyResources: {
      requests: list(pick(v.proxyCPU, req.cpu), pick(v.proxyMemory, req.memory)),
      limits: list(pick(v.proxyCPULimit, lim.cpu), pick(v.proxyMemoryLimit, lim.memory)),
    },
    nativeSidecar: pick(v.nativeSidecar, config.nativeSidecar),
    holdApplicationUntilProxyStarts: pick(v.holdApplicationUntilProxyStarts, config.holdApplicationUntilProxyStarts),
    redirect: {
      interceptionMode: pick(v.interceptionMode, r.interceptionMode),
      includeInboundPorts: pick(v.includeInboundPorts, r.includeInboundPorts),
      excludeInboundPorts: pick(v.excludeInboundPorts, r.excludeInboundPorts),
      includeOutboundPorts: pick(v.includeOutboundPorts, r.includeOutboundPorts),
      excludeOutboundPorts: pick(v.excludeOutboundPorts, r.excludeOutboundPorts),
      includeOutboundIPRanges: pick(v.includeOutboundIPRanges, r.includeOutboundIPRanges),
      excludeOutboundIPRanges: pick(v.excludeOutboundIPRanges, r.excludeOutboundIPRanges),
      excludeInterfaces: pick(v.excludeInterfaces, r.excludeInterfaces),
      redirectDNS: r.redirectDNS,
      dnsPort: r.dnsPort,
    },
  };
}

/**
 * The `siding init` flags (Istio-compatible). -i/-x/-b/-d are always given, as Istio's
 * injector gives them to istio-iptables; -o/-q/-c only when non-empty. The metrics and health ports are always
 * excluded from inbound capture so probes and scrapes reach the proxy itself.
 */
export function initArgs(config: InjectionConfig, redirect: RedirectDefaults): string[] {
  const p = config.proxy;
  const exclude = [
    { from: p.metricsPort, to: p.metricsPort },
    { from: p.healthPort, to: p.healthPort },
    ...redirect.excludeInboundPorts,
  ].filter((r, i, all) => all.findIndex((o) => o.from === r.from && o.to === r.to) === i);
  const args = [
    '-p', String(p.outboundPort),
    '-z', String(p.inboundPort),
    '-u', String(p.uid),
    '-g', String(p.gid),
    '-m', redirect.interceptionMode,
    '-i', formatCidrSelection(redirect.includeOutboundIPRanges),
    '-x', formatCidrList(redirect.excludeOutboundIPRanges),
    '-b', formatPortSelection(redirect.includeInboundPorts),
    '-d', formatPortList(exclude),
  ];
  if (redirect.excludeOutboundPorts.length > 0) args.push('-o', formatPortList(redirect.excludeOutboundPorts));
  if (redirect.includeOutboundPorts.length > 0) args.push('-q', formatPortList(redirect.includeOutboundPorts));
  if (redirect.excludeInterfaces.length > 0) args.push('-c', redirect.excludeInterfaces.join(','));
  if (redirect.redirectDNS) args.push('--redirect-dns', '--dns-port', String(redirect.dnsPort));
  return args;
}

function resourcesField(r: Resources): NonNullable<V1Container['resources']> {
  const out: NonNullable<V1Container['resources']> = {};
  if (Object.keys(r.requests).length > 0) out.requests = { ...r.requests };
  if (Object.keys(r.limits).length > 0) out.limits = { ...r.limits };
  return out;
}

export function buildInitContainer(config: InjectionConfig, settings: PodSettings): V1Container {
  return {
    name: INIT_CONTAINER,
    image: config.init.image,
    imagePullPolicy: config.init.imagePullPolicy,
    command: [...config.init.command],
    args: initArgs(config, settings.redirect),
    env: [{ name: 'XTABLES_LOCKFILE', value: `${XTABLES_LOCK_DIR}/xtables.lock` }],
    resources: resourcesField(config.init.resources),
    securityContext: {
      // iptables needs root and these two capabilities in the pod's network namespace; nothing more.
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
    volumeMounts: [{ name: XTABLES_LOCK_VOLUME, mountPath: XTABLES_LOCK_DIR }],
  };
}

/**
 * The classic layout's postStart hook: poll the health endpoint until it answers 200, so
 * the kubelet starts the next container only when the proxy is ready. bash's /dev/tcp keeps
 * it free of curl/wget. Only validated config values are interpolated (an integer port and
 * a path restricted to [A-Za-z0-9._/-]); nothing from the pod reaches this script.
 */
export function waitReadyCommand(config: InjectionConfig): string[] {
  const { healthPort, readinessPath } = config.proxy;
  const script = [
    'for i in $(seq 1 600); do',
    `  if (exec 3<>/dev/tcp/127.0.0.1/${healthPort} && printf 'GET ${readinessPath} HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 s <&3 && case "$s" in *" 200 "*) exit 0;; *) exit 1;; esac) 2>/dev/null; then exit 0; fi`,
    '  sleep 0.1',
    'done',
    "echo 'siding-proxy did not become ready' >&2",
    'exit 1',
  ].join('\n');
  return ['bash', '-c', script];
}

export function buildProxyContainer(config: InjectionConfig, settings: PodSettings, layout: 'native' | 'classic'): V1Container {
  const p = config.proxy;
  const probe = (): V1Container['startupProbe'] & object => ({ httpGet: { path: p.readinessPath, port: p.healthPort } });
  const c: V1Container = {
    name: PROXY_CONTAINER,
    image: settings.proxyImage,
    imagePullPolicy: p.imagePullPolicy,
  };
  if (p.command.length > 0) c.command = [...p.command];
  const args = isSidingProxy(p.command) ? [...proxyArgs(config, settings.redirect, layout), ...p.args] : [...p.args];
  if (args.length > 0) c.args = args;
  c.env = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'INSTANCE_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
    ...p.env.map((e) => ({ name: e.name, value: e.value })),
  ];
  c.ports = [
    { name: METRICS_PORT_NAME, containerPort: p.metricsPort, protocol: 'TCP' },
    { name: HEALTH_PORT_NAME, containerPort: p.healthPort, protocol: 'TCP' },
  ];
  c.resources = resourcesField(settings.proxyResources);
  c.securityContext = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsGroup: p.gid,
    runAsNonRoot: true,
    runAsUser: p.uid,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  // Istio's timings: the startup probe allows 10 minutes at 1 s, readiness polls every 15 s.
  c.startupProbe = { ...probe(), periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 };
  c.readinessProbe = { ...probe(), periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 };
  if (p.volumes.length > 0) {
    c.volumeMounts = p.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath, ...(v.readOnly ? { readOnly: true } : {}) }));
  }
  if (layout === 'native') c.restartPolicy = 'Always';
  else if (settings.holdApplicationUntilProxyStarts) c.lifecycle = { postStart: { exec: { command: waitReadyCommand(config) } } };
  return c;
}

export function buildVolumes(config: InjectionConfig): V1Volume[] {
  return [
    { name: XTABLES_LOCK_VOLUME, emptyDir: {} },
    ...config.proxy.volumes.map((v): V1Volume =>
      'emptyDir' in v.source ? { name: v.name, emptyDir: { ...v.source.emptyDir } } : { name: v.name, configMap: { name: v.source.configMap.name } },
    ),
  ];
}

/** siding's own containers and volumes for one pod: frozen, shared by every pod with the same settings. */
interface InjectionParts {
  /** Config overlaid with the annotation values the parts were built for. */
  settings: PodSettings;
  init: V1Container;
  proxy: V1Container;
  volumes: readonly V1Volume[];
  /** The status record's text, by the pod annotations siding added besides it (none, or the default container). */
  recordText: Map<string, string>;
}

// Distinct annotation values per config whose parts are kept. Pods of one workload share
// theirs, so a cluster has a few; the bound only keeps hostile variety from growing memory.
const MAX_PARTS_PER_CONFIG = 64;

/** What the engine derives from one config object (a config is never changed; a reload brings a new object). */
interface ConfigDerived {
  /** Parts by annotation values (JSON), at most MAX_PARTS_PER_CONFIG. */
  parts: Map<string, InjectionParts>;
  /** Names of the volumes siding adds. */
  ourVolumes: ReadonlySet<string>;
  /** Ports siding-proxy uses, and what for. */
  reservedPorts: ReadonlyMap<number, string>;
}

const derivedByConfig = new WeakMap<InjectionConfig, ConfigDerived>();

function derived(config: InjectionConfig): ConfigDerived {
  let d = derivedByConfig.get(config);
  if (d === undefined) {
    const p = config.proxy;
    d = {
      parts: new Map(),
      ourVolumes: new Set([XTABLES_LOCK_VOLUME, ...p.volumes.map((v) => v.name)]),
      reservedPorts: new Map<number, string>([
        [p.outboundPort, 'outbound capture'],
        [p.inboundPort, 'inbound capture'],
        [p.metricsPort, 'metrics'],
        [p.healthPort, 'health'],
      ]),
    };
    derivedByConfig.set(config, d);
  }
  return d;
}

/**
 * The parts `buildInitContainer`, `buildProxyContainer` and `buildVolumes` make, built once
 * per config (by identity: a config is never changed, a reload brings a new object) and per
 * annotation values, which with the config decide the settings. They are frozen, so a pod
 * can hold them without a copy, and their JSON is remembered for `serializePatch`.
 */
function injectionParts(config: InjectionConfig, values: Partial<AnnotationValues>): InjectionParts {
  const byValues = derived(config).parts;
  const key = JSON.stringify(values);
  let parts = byValues.get(key);
  if (parts === undefined) {
    const settings = deepFreeze(resolveSettings(config, values));
    parts = {
      settings,
      init: frozenWithJson(buildInitContainer(config, settings)),
      proxy: frozenWithJson(buildProxyContainer(config, settings, settings.nativeSidecar ? 'native' : 'classic')),
      volumes: Object.freeze(buildVolumes(config).map((v) => frozenWithJson(v))),
      recordText: new Map(),
    };
    if (byValues.size >= MAX_PARTS_PER_CONFIG) byValues.clear();
    byValues.set(key, parts);
  }
  return parts;
}

// ---------------------------------------------------------------------------
// Typed mutators: each changes one part of the (already stripped) pod.
// ---------------------------------------------------------------------------

function addContainers(pod: V1Pod, init: V1Container, proxy: V1Container, settings: PodSettings): void {
  const spec = pod.spec ?? { containers: [] };
  const userInit = spec.initContainers ?? [];
  if (settings.nativeSidecar) {
    // The redirect first, then the proxy, then the pod's own init containers (in the mesh too).
    spec.initContainers = [init, proxy, ...userInit];
  } else {
    spec.initContainers = [...userInit, init];
    spec.containers = settings.holdApplicationUntilProxyStarts ? [proxy, ...spec.containers] : [...spec.containers, proxy];
  }
  pod.spec = spec;
}

function addVolumes(pod: V1Pod, volumes: readonly V1Volume[]): void {
  const spec = pod.spec ?? { containers: [] };
  spec.volumes = [...(spec.volumes ?? []), ...volumes];
  pod.spec = spec;
}

/** Classic layout puts the proxy first; point kubectl logs/exec at the app unless the pod already chose. */
function addDefaultContainer(pod: V1Pod, record: InjectionRecord): void {
  if (record.layout !== 'classic') return;
  const first = pod.spec?.containers.find((c) => c.name !== PROXY_CONTAINER);
  const annotations = pod.metadata?.annotations ?? {};
  if (first === undefined || Object.hasOwn(annotations, DEFAULT_CONTAINER_ANNOTATION)) return;
  annotations[DEFAULT_CONTAINER_ANNOTATION] = first.name;
  pod.metadata = { ...pod.metadata, annotations };
  record.annotations.push(DEFAULT_CONTAINER_ANNOTATION);
}

function markInjected(pod: V1Pod, recordText: string): void {
  const metadata = pod.metadata ?? {};
  metadata.annotations = { ...metadata.annotations, [STATUS_ANNOTATION]: recordText };
  pod.metadata = metadata;
}

// ---------------------------------------------------------------------------
// Checks that deny
// ---------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The minimum shape the engine relies on; the API server has validated the rest. */
function shapeProblems(pod: unknown): string[] {
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

function uidProblems(pod: V1Pod, config: InjectionConfig): string[] {
  const { uid, gid } = config.proxy;
  const out: string[] = [];
  const why = 'its traffic would bypass the proxy';
  const psc = pod.spec?.securityContext;
  if (psc?.runAsUser === uid) out.push(`the pod securityContext runs as UID ${uid}, the proxy's UID: ${why}`);
  if (psc?.runAsGroup === gid) out.push(`the pod securityContext runs as GID ${gid}, the proxy's GID: ${why}`);
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

function nameProblems(pod: V1Pod, config: InjectionConfig): string[] {
  const out: string[] = [];
  for (const c of allContainers(pod)) {
    if (OUR_CONTAINERS.has(c.name)) out.push(`the pod already has a container named ${c.name} that siding did not inject (no ${STATUS_ANNOTATION} record)`);
  }
  const volumes = derived(config).ourVolumes;
  for (const v of pod.spec?.volumes ?? []) {
    if (volumes.has(v.name)) out.push(`the pod already has a volume named ${v.name} that siding did not inject (no ${STATUS_ANNOTATION} record)`);
  }
  return out;
}

const RESOURCE_KEYS = {
  cpu: { request: 'proxyCPU', limit: 'proxyCPULimit' },
  memory: { request: 'proxyMemory', limit: 'proxyMemoryLimit' },
} as const;

// Parsed quantities: a cluster uses a handful (the config's and a few annotations').
// Bounded so that hostile variety cannot grow it.
const MAX_QUANTITIES = 256;
const quantities = new Map<string, number>();

function quantity(q: string): number {
  let v = quantities.get(q);
  if (v === undefined) {
    v = quantityValue(q);
    if (quantities.size >= MAX_QUANTITIES) quantities.clear();
    quantities.set(q, v);
  }
  return v;
}

/** A request above its limit (after annotations) would make the API server reject the pod. */
function resourceProblems(pod: V1Pod, settings: PodSettings): AnnotationProblem[] {
  const out: AnnotationProblem[] = [];
  for (const kind of ['cpu', 'memory'] as const) {
    const req = settings.proxyResources.requests[kind];
    const lim = settings.proxyResources.limits[kind];
    if (req === undefined || lim === undefined || quantity(req) <= quantity(lim)) continue;
    const names = RESOURCE_KEYS[kind];
    const annotations = pod.metadata?.annotations ?? {};
    const requestSpec = ANNOTATIONS.find((s) => s.field === names.request);
    const limitSpec = ANNOTATIONS.find((s) => s.field === names.limit);
    const keyOf = (spec: typeof requestSpec): string | undefined =>
      spec === undefined ? undefined : [spec.key, ...spec.aliases].find((k) => Object.hasOwn(annotations, k));
    const reqKey = keyOf(requestSpec);
    if (reqKey !== undefined) out.push(annotationProblem(reqKey, req, `the ${kind} request is above the ${kind} limit ${lim}`));
    else out.push(annotationProblem(keyOf(limitSpec) ?? names.limit, lim, `the ${kind} limit is below the ${kind} request ${req}`));
  }
  return out;
}

function warningsFor(pod: V1Pod, config: InjectionConfig, settings: PodSettings, explicitHold: boolean): string[] {
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

// Deeper than any Pod: the API server decodes a pod into its Go types before admission, and
// their nesting is bounded (about 20 levels). A bound independent of the call stack keeps
// every later step (diff, JSON.stringify of the patch) from overflowing it.
const MAX_DEPTH = 1000;

/**
 * A deep copy with JSON's semantics (what `JSON.parse(JSON.stringify(v))` returns: toJSON
 * honoured, undefined/function/symbol members dropped, non-finite numbers null, BigInt and
 * cycles rejected), several times faster than that round trip (BENCHMARKS.md), which was the engine's
 * largest cost when it copied every pod twice. Throws a RangeError past MAX_DEPTH levels.
 */
function toPlain<T>(v: T): T {
  return plainCopy(v, '', 0) as T;
}

/** The pod without metadata.managedFields, not copied (it can be half of a pod's bytes). */
function withoutManagedFields(pod: V1Pod): V1Pod {
  const metadata: unknown = (pod as { metadata?: unknown } | null)?.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata) || !Object.hasOwn(metadata, 'managedFields')) return pod;
  const rest: Record<string, unknown> = { ...metadata };
  delete rest.managedFields;
  return { ...pod, metadata: rest };
}

/**
 * `v` itself, for a value that is already plain JSON (a JSON.parse result): only the
 * nesting bound of toPlain is checked (RangeError past MAX_DEPTH levels), without a copy.
 */
function withinDepth<T>(v: T): T {
  checkDepth(v, 0);
  return v;
}

function checkDepth(v: unknown, depth: number): void {
  if (typeof v === 'object' && v !== null) checkObjectDepth(v, depth);
}

/**
 * `v` sits at `depth`, so its members sit at depth + 1, which must not pass MAX_DEPTH (as
 * in plainCopy). Only objects and arrays are descended into: about half the calls of
 * visiting every value.
 */
function checkObjectDepth(v: object, depth: number): void {
  const deeper = depth + 1;
  if (Array.isArray(v)) {
    if (v.length > 0 && deeper > MAX_DEPTH) throw tooDeep();
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'object' && x !== null) checkObjectDepth(x, deeper);
    }
    return;
  }
  for (const k in v) {
    const x: unknown = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null) {
      if (Object.hasOwn(v, k)) {
        if (deeper > MAX_DEPTH) throw tooDeep();
        checkObjectDepth(x, deeper);
      }
    } else if (deeper > MAX_DEPTH && Object.hasOwn(v, k)) throw tooDeep();
  }
}

function tooDeep(): RangeError {
  return new RangeError(`nested deeper than ${MAX_DEPTH} levels`);
}

/**
 * The copy the mutators change, for a pod without a previous injection: only the objects
 * they change are copied (the pod, metadata, its annotations, spec); everything else is
 * shared with `base`, which is the engine's own copy and is never changed. addContainers
 * and addVolumes assign new lists, addDefaultContainer and markInjected change metadata and
 * its annotations, and the checks only read. A pod with a previous injection is copied
 * whole (clonePlain): stripInjection edits lists and containers in place.
 */
function shallowWork(base: V1Pod): V1Pod {
  const work: V1Pod = { ...base };
  if (base.metadata !== undefined) {
    work.metadata = { ...base.metadata };
    const annotations = base.metadata.annotations;
    if (annotations !== undefined && annotations !== null) work.metadata.annotations = { ...annotations };
  }
  if (base.spec !== undefined) work.spec = { ...base.spec };
  return work;
}

/**
 * A deep copy of data that is already plain JSON (a `toPlain` result: only plain objects,
 * arrays, strings, finite numbers, booleans and null, nested at most MAX_DEPTH levels), so
 * none of plainCopy's checks are needed. The engine's second copy, the one it mutates.
 */
function clonePlain<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = clonePlain(v[i] as unknown);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = clonePlain((v as Record<string, unknown>)[k]);
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out as T;
}

function plainCopy(v: unknown, key: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new RangeError(`nested deeper than ${MAX_DEPTH} levels`);
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: (k: string) => unknown }).toJSON(key);
  }
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : null;
    case 'bigint':
      throw new TypeError('a BigInt is not JSON');
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) out[i] = plainCopy(v[i], String(i), depth + 1) ?? null;
        return out;
      }
      if (v instanceof Boolean || v instanceof Number || v instanceof String) return plainCopy(v.valueOf(), key, depth);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = plainCopy((v as Record<string, unknown>)[k], k, depth + 1);
        if (x === undefined) continue;
        // An own "__proto__" key (JSON.parse makes one) stays data instead of setting the prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
        else out[k] = x;
      }
      return out;
    }
    default:
      return undefined;
  }
}

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
  for (const p of resourceProblems(work, settings)) errors.add(formatAnnotationProblem(p));
  for (const p of uidProblems(work, config)) errors.add(p);
  if (statusRaw === undefined) for (const p of nameProblems(work, config)) errors.add(p);
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

const NAMED_LISTS = ['initContainers', 'containers', 'volumes'] as const;

/**
 * JSON Patch from `base` to `result`: fast-json-patch `compare`, except for a container or
 * volume list whose sequence of names changed. Index-by-index diffs of an insertion would
 * rewrite every later element in place (the app container "becomes" the proxy), which is
 * correct but unreadable and grows with the pod. Such a list gets `listOps` instead: the
 * entries siding removes and adds, at their indexes, leaving the pod's own entries alone.
 */
export function diffPods(base: V1Pod, result: V1Pod): Operation[] {
  const lists: Operation[] = [];
  const b = { ...base, spec: base.spec === undefined ? undefined : { ...base.spec } };
  const r = { ...result, spec: result.spec === undefined ? undefined : { ...result.spec } };
  for (const field of NAMED_LISTS) {
    if (!namedListOps(field, b.spec?.[field], r.spec?.[field], lists)) continue;
    if (b.spec !== undefined) delete b.spec[field];
    if (r.spec !== undefined) delete r.spec[field];
  }
  // Members that are the same value in both (the same object when the engine shares it
  // between base and result) produce no operation; leaving them out saves compare a walk
  // over every container and volume. Operations for the other members come out the same.
  dropShared(b, r);
  if (b.metadata !== undefined && r.metadata !== undefined) {
    b.metadata = { ...b.metadata };
    r.metadata = { ...r.metadata };
    dropShared(b.metadata, r.metadata);
  }
  if (b.spec !== undefined && r.spec !== undefined) dropShared(b.spec, r.spec);
  return [...jsonpatch.compare(b, r), ...lists];
}

/** Appends the operations for one container or volume list; false when its names did not change (compare handles it). */
function namedListOps(field: (typeof NAMED_LISTS)[number], before: unknown, after: unknown, out: Operation[]): boolean {
  if (sameNames(before, after)) return false;
  const path = `/spec/${field}`;
  if (before === undefined) out.push({ op: 'add', path, value: after });
  else if (after === undefined) out.push({ op: 'remove', path });
  else out.push(...listOps(path, before as unknown[], after as unknown[]));
  return true;
}

/**
 * `diffPods(base, result)` for a first injection, without the general diff: `result` is
 * `base` (shallowWork) after the mutators, so it differs only in its container and volume
 * lists and in annotations added to an annotation map the pod already had. The operations
 * are the ones compare would give for those annotations (`add`, in the result map's key
 * order), then the list operations. Returns undefined (use diffPods) for any other shape:
 * no annotation map, a changed or removed annotation, a value that is not a string.
 * A property test checks it against diffPods.
 */
export function firstInjectionPatch(base: V1Pod, result: V1Pod): Operation[] | undefined {
  const before: unknown = base.metadata?.annotations;
  const after: unknown = result.metadata?.annotations;
  if (!isObject(before) || !isObject(after)) return undefined;
  const ops: Operation[] = [];
  let kept = 0;
  for (const key in after) {
    if (!Object.hasOwn(after, key)) continue;
    const v = after[key];
    if (typeof v !== 'string') return undefined;
    if (Object.hasOwn(before, key)) {
      if (before[key] !== v) return undefined;
      kept++;
    } else {
      ops.push({ op: 'add', path: `/metadata/annotations/${escapePathComponent(key)}`, value: v });
    }
  }
  if (kept !== Object.keys(before).length) return undefined;
  for (const field of NAMED_LISTS) {
    const b: unknown = base.spec?.[field];
    const a: unknown = result.spec?.[field];
    // A list with the same names is one the mutators did not touch: the same list.
    if (!namedListOps(field, b, a, ops) && b !== a) return undefined;
  }
  return ops;
}

/** Both undefined, or both lists with the same names in the same order (what JSON.stringify of their names would compare). */
function sameNames(before: unknown, after: unknown): boolean {
  if (!Array.isArray(before) || !Array.isArray(after)) return before === after || (!Array.isArray(before) && !Array.isArray(after));
  if (before.length !== after.length) return false;
  for (let i = 0; i < before.length; i++) {
    const x = (before[i] as { name?: unknown } | null | undefined)?.name;
    const y = (after[i] as { name?: unknown } | null | undefined)?.name;
    if (x !== y && !(nameJson(x) === nameJson(y))) return false;
  }
  return true;
}

/** How JSON.stringify writes a name inside a list (undefined, functions and symbols as null). */
function nameJson(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

// Lists longer than any pod's (tens of containers and volumes) are replaced whole rather
// than matched: the matching table has before.length x after.length cells.
const MAX_LIST_CELLS = 250_000;
// Entries with one name but different values are compared with at most this many others;
// a pod has one entry per name, so this only bounds the work a hostile list can cause.
const MAX_SAME_NAME = 4;

/**
 * The operations that turn list `before` into `after` when `after` keeps some of `before`'s
 * entries, unchanged and in order: `remove` at each dropped index, highest first (so every
 * index is still the one in `before`), then `add` at each new entry's final index, lowest
 * first (so every entry before it is already in place; `-` when it goes at the end).
 *
 * The kept entries are a longest common subsequence of equal entries (same name, same
 * value), found with the classic table. When no entry is kept, or the lists are too long
 * for the table, the list is replaced whole.
 */
function listOps(path: string, before: unknown[], after: unknown[]): Operation[] {
  const n = before.length;
  const m = after.length;
  const replace: Operation[] = [{ op: 'replace', path, value: after }];
  // The usual case, a first injection: `after` is `before` (the same objects, shared by the
  // engine) with siding's entries inserted. Each entry of `after` that is not the next one
  // of `before` is an insertion.
  let k = 0;
  for (let j = 0; j < m && k < n; j++) if (after[j] === before[k]) k++;
  if (n > 0 && k === n) {
    const adds: Operation[] = [];
    for (let j = 0, i = 0; j < m; j++) {
      if (i < n && after[j] === before[i]) i++;
      else adds.push({ op: 'add', path: `${path}/${j === n + adds.length ? '-' : j}`, value: after[j] });
    }
    return adds;
  }
  if (n * m > MAX_LIST_CELLS) return replace;
  const [idB, idA] = entryClasses(before, after);
  const same = (i: number, j: number): boolean => idB[i] === idA[j];
  // lcs[i * w + j]: length of the longest common subsequence of before[i..] and after[j..].
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  const at = (i: number, j: number): number => lcs[i * w + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i * w + j] = same(i, j) ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  }
  if (at(0, 0) === 0) return replace;
  const keptBefore = new Uint8Array(n);
  const keptAfter = new Uint8Array(m);
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (same(i, j) && at(i, j) === at(i + 1, j + 1) + 1) {
      keptBefore[i++] = 1;
      keptAfter[j++] = 1;
    } else if (at(i + 1, j) === at(i, j)) i++;
    else j++;
  }
  const ops: Operation[] = [];
  let length = n;
  for (let i = n - 1; i >= 0; i--) {
    if (keptBefore[i] === 1) continue;
    ops.push({ op: 'remove', path: `${path}/${i}` });
    length--;
  }
  for (let j = 0; j < m; j++) {
    if (keptAfter[j] === 1) continue;
    ops.push({ op: 'add', path: `${path}/${j === length ? '-' : j}`, value: after[j] });
    length++;
  }
  return ops;
}

/**
 * A number per entry of both lists such that equal numbers mean equal entries (same name,
 * same JSON value). Each entry is compared only with the first few distinct entries of its
 * name (MAX_SAME_NAME); past those it gets a number of its own, which can only make the
 * patch longer, never wrong.
 */
function entryClasses(before: unknown[], after: unknown[]): [Int32Array, Int32Array] {
  const byName = new Map<unknown, { value: unknown; id: number }[]>();
  let next = 0;
  const classify = (list: unknown[]): Int32Array => {
    const ids = new Int32Array(list.length);
    list.forEach((value, k) => {
      const name = (value as { name?: unknown }).name;
      const reps = byName.get(name) ?? [];
      if (reps.length === 0) byName.set(name, reps);
      const found = reps.find((r) => jsonEqual(r.value, value));
      if (found !== undefined) ids[k] = found.id;
      else {
        const id = next++;
        ids[k] = id;
        if (reps.length < MAX_SAME_NAME) reps.push({ value, id });
      }
    });
    return ids;
  };
  return [classify(before), classify(after)];
}

/** Deep equality of plain JSON values (what JSON.stringify would write the same way, key order aside). */
function jsonEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!jsonEqual(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y)) return false;
  const xo = x as Record<string, unknown>;
  const yo = y as Record<string, unknown>;
  const keys = Object.keys(xo);
  if (keys.length !== Object.keys(yo).length) return false;
  for (const k of keys) if (!Object.hasOwn(yo, k) || !jsonEqual(xo[k], yo[k])) return false;
  return true;
}

function dropShared(b: object, r: object): void {
  const bb = b as Record<string, unknown>;
  const rr = r as Record<string, unknown>;
  for (const k of Object.keys(bb)) {
    if (Object.hasOwn(rr, k) && bb[k] === rr[k] && typeof bb[k] === 'object' && bb[k] !== null) {
      delete bb[k];
      delete rr[k];
    }
  }
}

/** A denial; the list is already bounded, or short (policy, shape checks). */
function deny(errors: string[]): InjectOutcome {
  return { kind: 'denied', errors, message: errors.join('; ') };
}
