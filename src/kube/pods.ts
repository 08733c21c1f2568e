/**
 * The pod calls of siding's CNI node agent, in siding's own small types: read the pods of
 * one node (list, watch, get), delete one by UID, and record an event on one. Like
 * client.ts, every failure becomes a `KubeError` with the status and the Status `reason`.
 *
 * Plain HTTPS (node:https) rather than @kubernetes/client-node: the agent runs on every
 * node and makes five kinds of call, and loading that package alone costs about 90 MB of
 * resident memory and a second of start-up (BENCHMARKS.md, CNI mode). In a pod the
 * credentials are the service account's (token re-read for every request, as it rotates);
 * with --kubeconfig, client-node's own loader reads the file (loaded only then).
 * Tested against a real kube-apiserver by the CNI end-to-end suite.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { KubeError, errorMessage } from '../errors/index.js';
import type { WatchCallbacks, WatchEvent, WatchHandle } from './api.js';

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
      state?: { terminated?: RawTermination; waiting?: unknown; running?: unknown };
      lastState?: { terminated?: RawTermination };
    }[];
  };
}

/** The agent's view of a pod, from the API's JSON. */
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

/** Where the API server is and how to authenticate to it. */
export interface ApiTarget {
  /** https://HOST:PORT */
  server: string;
  /** TLS and client-certificate options for node:https. */
  tls: Pick<https.RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
  /** Headers of each request (Authorization), computed per request. */
  headers: () => Record<string, string>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The API server as a pod sees it (KUBERNETES_SERVICE_HOST/PORT, the service account's
 * CA and token), or as a kubeconfig file says (through client-node's loader).
 */
export async function apiTarget(kubeconfigPath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<ApiTarget> {
  if (kubeconfigPath === undefined && env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '') {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    let ca: Buffer;
    try {
      ca = readFileSync(`${SA_DIR}/ca.crt`);
    } catch (e) {
      throw new KubeError(`cannot read the service account's CA (${SA_DIR}/ca.crt): ${errorMessage(e)}`, undefined, { cause: e });
    }
    return {
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      tls: { ca },
      // Re-read every time: the kubelet rotates the projected token.
      headers: () => ({ authorization: `Bearer ${readFileSync(`${SA_DIR}/token`, 'utf8').trim()}` }),
    };
  }
  const { loadKubeConfig } = await import('./client.js');
  const kc = loadKubeConfig(kubeconfigPath === undefined ? {} : { kubeconfigPath });
  const server = kc.getCurrentCluster()?.server ?? '';
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return {
    server,
    tls: { ...(opts.ca === undefined ? {} : { ca: opts.ca }), ...(opts.cert === undefined ? {} : { cert: opts.cert }), ...(opts.key === undefined ? {} : { key: opts.key }), ...(opts.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) },
    headers: () => headers,
  };
}

// Answers of the calls the agent makes are small (one pod, one node's pod list); 64 MiB
// bounds a hostile or broken server without ever cutting a real answer.
const MAX_BODY = 64 * 1024 * 1024;
// A list, get or delete answers in milliseconds; 30 s is a server that will not.
const CALL_TIMEOUT_MS = 30_000;
// As client.ts: a server-side timeout makes the end of a watch routine.
const WATCH_TIMEOUT_SECONDS = 300;

function statusError(what: string, code: number, body: string): KubeError {
  let reason: string | undefined;
  let message: string | undefined;
  try {
    const s = JSON.parse(body) as { reason?: unknown; message?: unknown };
    if (typeof s.reason === 'string') reason = s.reason;
    if (typeof s.message === 'string') message = s.message;
  } catch {
    // not a Status body
  }
  return new KubeError(`${what}: ${message ?? reason ?? `HTTP ${code}`}`, code, reason === undefined ? {} : { reason });
}

class HttpsPodApi implements PodApi {
  constructor(private readonly target: ApiTarget) {}

  private request(method: string, path: string, body?: unknown): { req: ReturnType<typeof https.request>; response: Promise<IncomingMessage> } {
    const url = new URL(path, this.target.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    let req!: ReturnType<typeof https.request>;
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req = https.request(url, {
        method,
        ...this.target.tls,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          ...this.target.headers(),
        },
      });
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.end(payload);
    return { req, response };
  }

  private async call<T>(what: string, method: string, path: string, body?: unknown): Promise<T> {
    const { req, response } = this.request(method, path, body);
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS / 1000} s`)), CALL_TIMEOUT_MS);
    try {
      const res = await response;
      let text = '';
      for await (const chunk of res) {
        text += String(chunk);
        if (text.length > MAX_BODY) throw new Error(`answer larger than ${MAX_BODY} bytes`);
      }
      const code = res.statusCode ?? 0;
      if (code < 200 || code >= 300) throw statusError(what, code, text);
      return JSON.parse(text) as T;
    } catch (e) {
      if (e instanceof KubeError) throw e;
      throw new KubeError(`${what}: ${errorMessage(e)}`, undefined, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  async listPods(fieldSelector: string): Promise<PodList> {
    const list = await this.call<{ metadata?: { resourceVersion?: string }; items?: RawPod[] }>(
      'list pods',
      'GET',
      `/api/v1/pods?${new URLSearchParams({ fieldSelector }).toString()}`,
    );
    return { items: (list.items ?? []).map(podView), resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async watchPods(fieldSelector: string, resourceVersion: string, callbacks: WatchCallbacks<PodView>): Promise<WatchHandle> {
    const query = new URLSearchParams({ watch: 'true', fieldSelector, resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(WATCH_TIMEOUT_SECONDS) });
    const { req, response } = this.request('GET', `/api/v1/pods?${query.toString()}`);
    let stopped = false;
    const end = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      callbacks.onEnd(err);
    };
    let res;
    try {
      res = await response;
    } catch (e) {
      throw new KubeError(`watch pods: ${errorMessage(e)}`, undefined, { cause: e });
    }
    if (res.statusCode !== 200) {
      let text = '';
      for await (const chunk of res) text += String(chunk);
      throw statusError('watch pods', res.statusCode ?? 0, text);
    }
    let buffered = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_BODY) {
        req.destroy();
        end(new Error(`a watch event larger than ${MAX_BODY} bytes`));
        return;
      }
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === '' || stopped) continue;
        let ev: { type?: string; object?: RawPod & { code?: unknown; message?: unknown } };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          continue;
        }
        let event: WatchEvent<PodView> | undefined;
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') event = { type: ev.type, object: podView(ev.object ?? {}) };
        else if (ev.type === 'BOOKMARK' && ev.object?.metadata?.resourceVersion !== undefined) event = { type: 'BOOKMARK', resourceVersion: ev.object.metadata.resourceVersion };
        else if (ev.type === 'ERROR') {
          const s = ev.object ?? {};
          event = { type: 'ERROR', code: typeof s.code === 'number' ? s.code : undefined, message: typeof s.message === 'string' ? s.message : 'watch error' };
        }
        if (event !== undefined) callbacks.onEvent(event);
      }
    });
    res.on('end', () => end(undefined));
    res.on('error', (e) => end(e));
    req.on('error', (e) => end(e));
    return {
      stop: () => {
        stopped = true;
        req.destroy();
      },
    };
  }

  async getPod(namespace: string, name: string): Promise<PodView | undefined> {
    try {
      return podView(await this.call<RawPod>(`get pod ${namespace}/${name}`, 'GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`));
    } catch (e) {
      if (e instanceof KubeError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<void> {
    await this.call(`delete pod ${namespace}/${name}`, 'DELETE', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { uid },
    });
  }

  async createPodEvent(pod: PodView, event: PodEvent, component: string, host: string): Promise<void> {
    const now = new Date().toISOString();
    await this.call(`create event for pod ${pod.namespace}/${pod.name}`, 'POST', `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
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
    });
  }
}

/** The agent's PodApi: in a pod, the service account; with a kubeconfig, its credentials. */
export async function createPodApi(kubeconfigPath?: string): Promise<PodApi> {
  return new HttpsPodApi(await apiTarget(kubeconfigPath));
}
