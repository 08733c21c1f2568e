/**
 * The pod calls of siding's CNI node agent, in siding's own small types: read the pods of
 * one node (list, watch, get), delete one by UID, and record an event on one. Like
 * client.ts, every failure becomes a `KubeError` with the status and the Status `reason`.
 * Tested against a real kube-apiserver by the node end-to-end suite.
 */
import * as k8s from '@kubernetes/client-node';
import { KubeError, errorMessage } from '../errors/index.js';
import type { WatchCallbacks, WatchEvent, WatchHandle } from './client.js';
import { loadKubeConfig, type KubeConfigSource } from './client.js';

/** What the agent reads of a pod. */
export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  nodeName: string;
  annotations: Record<string, string>;
  /** Set when a controller (ReplicaSet, StatefulSet, Job...) owns the pod and recreates it. */
  controller: { kind: string; name: string } | undefined;
  deleting: boolean;
  /** The last termination of each init container, by name (current or previous run). */
  initTerminations: Record<string, { exitCode: number; reason: string } | undefined>;
}

export interface PodList {
  items: PodView[];
  resourceVersion: string;
}

export interface PodEvent {
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
}

export interface PodApi {
  listPods(fieldSelector: string): Promise<PodList>;
  watchPods(fieldSelector: string, resourceVersion: string, callbacks: WatchCallbacks<PodView>): Promise<WatchHandle>;
  /** undefined when the pod does not exist. */
  getPod(namespace: string, name: string): Promise<PodView | undefined>;
  /** Deletes the pod only if it still has this UID (a recreated pod of the same name is left alone). */
  deletePod(namespace: string, name: string, uid: string): Promise<void>;
  /** Records an event about the pod (kubectl describe shows it). */
  createPodEvent(pod: PodView, event: PodEvent, component: string, host: string): Promise<void>;
}

interface RawTermination {
  exitCode?: number;
  reason?: string;
}

interface RawPod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    deletionTimestamp?: unknown;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
  };
  spec?: { nodeName?: string };
  status?: {
    initContainerStatuses?: {
      name?: string;
      state?: { terminated?: RawTermination };
      lastState?: { terminated?: RawTermination };
    }[];
  };
}

/** The agent's view of a pod (typed model or raw watch JSON: they share the shape). */
export function podView(raw: RawPod): PodView {
  const m = raw.metadata ?? {};
  const owner = (m.ownerReferences ?? []).find((o) => o.controller === true);
  const initTerminations: PodView['initTerminations'] = {};
  for (const s of raw.status?.initContainerStatuses ?? []) {
    const t = s.state?.terminated ?? s.lastState?.terminated;
    if (s.name !== undefined) {
      initTerminations[s.name] = t === undefined ? undefined : { exitCode: t.exitCode ?? 0, reason: t.reason ?? '' };
    }
  }
  return {
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    uid: m.uid ?? '',
    resourceVersion: m.resourceVersion ?? '',
    nodeName: raw.spec?.nodeName ?? '',
    annotations: { ...m.annotations },
    controller: owner === undefined ? undefined : { kind: owner.kind ?? '', name: owner.name ?? '' },
    deleting: m.deletionTimestamp !== undefined && m.deletionTimestamp !== null,
    initTerminations,
  };
}

function toKubeError(what: string, e: unknown): KubeError {
  if (e instanceof KubeError) return e;
  if (e instanceof k8s.ApiException) {
    let reason: string | undefined;
    let message: string | undefined;
    try {
      const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { reason?: unknown; message?: unknown };
      if (typeof body.reason === 'string') reason = body.reason;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // not a Status body
    }
    return new KubeError(`${what}: ${message ?? reason ?? `HTTP ${e.code}`}`, e.code, { cause: e, ...(reason === undefined ? {} : { reason }) });
  }
  return new KubeError(`${what}: ${errorMessage(e)}`, undefined, { cause: e });
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toKubeError(what, e);
  }
}

// As client.ts: a server-side timeout makes the end of a watch routine.
const WATCH_TIMEOUT_SECONDS = 300;

class ClientNodePodApi implements PodApi {
  private readonly core: k8s.CoreV1Api;
  private readonly watcher: k8s.Watch;

  constructor(kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.watcher = new k8s.Watch(kc);
  }

  async listPods(fieldSelector: string): Promise<PodList> {
    const list = await call('list pods', () => this.core.listPodForAllNamespaces({ fieldSelector }));
    return { items: list.items.map((p) => podView(p as RawPod)), resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async watchPods(fieldSelector: string, resourceVersion: string, callbacks: WatchCallbacks<PodView>): Promise<WatchHandle> {
    let stopped = false;
    const onLine = (type: string, obj: unknown): void => {
      if (stopped) return;
      let event: WatchEvent<PodView> | undefined;
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') event = { type, object: podView(obj as RawPod) };
      else if (type === 'BOOKMARK') {
        const rv = (obj as RawPod | null)?.metadata?.resourceVersion;
        if (rv !== undefined) event = { type: 'BOOKMARK', resourceVersion: rv };
      } else if (type === 'ERROR') {
        const s = (obj ?? {}) as { code?: unknown; message?: unknown };
        event = { type: 'ERROR', code: typeof s.code === 'number' ? s.code : undefined, message: typeof s.message === 'string' ? s.message : 'watch error' };
      }
      if (event !== undefined) callbacks.onEvent(event);
    };
    const onDone = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      callbacks.onEnd(err ?? undefined);
    };
    const query = { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS };
    const controller = await call('watch pods', () => this.watcher.watch('/api/v1/pods', query, onLine, onDone));
    return {
      stop: () => {
        stopped = true;
        controller.abort();
      },
    };
  }

  async getPod(namespace: string, name: string): Promise<PodView | undefined> {
    try {
      return podView((await call(`get pod ${namespace}/${name}`, () => this.core.readNamespacedPod({ namespace, name }))));
    } catch (e) {
      if (e instanceof KubeError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    await call(`delete pod ${namespace}/${name}`, () =>
      this.core.deleteNamespacedPod({ namespace, name, body: { preconditions: { uid } } }),
    );
  }

  async createPodEvent(pod: PodView, event: PodEvent, component: string, host: string): Promise<void> {
    const now = new Date();
    await call(`create event for pod ${pod.namespace}/${pod.name}`, () =>
      this.core.createNamespacedEvent({
        namespace: pod.namespace,
        body: {
          metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
          involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: pod.namespace, name: pod.name, uid: pod.uid },
          reason: event.reason,
          message: event.message,
          type: event.type,
          source: { component, host },
          reportingComponent: component,
          reportingInstance: host,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      }),
    );
  }
}

export function createPodApi(source: KubeConfigSource = {}): PodApi {
  return new ClientNodePodApi(loadKubeConfig(source));
}
