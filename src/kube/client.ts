/**
 * The edge between siding and the Kubernetes API: `KubeApi` (api.ts) over
 * @kubernetes/client-node, and loading credentials. Tested against a real kube-apiserver
 * (test/e2e/kube-*.test.ts).
 *
 * Every failure becomes a `KubeError` carrying the HTTP status and the Status `reason`.
 */
import * as k8s from '@kubernetes/client-node';
import { KubeError, errorMessage } from '../errors/index.js';
import {
  isNotFound,
  type ConfigMapObject,
  type JsonPatchOp,
  type KubeApi,
  type Listed,
  type NamespaceCache,
  type SecretObject,
  type SecretWrite,
  type WatchCallbacks,
  type WatchedKind,
  type WatchedKinds,
  type WatchHandle,
  type WebhookConfigurationObject,
} from './api.js';

// ---------------------------------------------------------------------------
// Loading credentials

export interface KubeConfigSource {
  /** --kubeconfig; wins over everything else. */
  kubeconfigPath?: string | undefined;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Order: --kubeconfig PATH, then $KUBECONFIG, then the in-cluster service account
 * (KUBERNETES_SERVICE_HOST is set in every pod), then ~/.kube/config.
 * Throws KubeError when none yields a cluster.
 */
export function loadKubeConfig(source: KubeConfigSource = {}): k8s.KubeConfig {
  const env = source.env ?? process.env;
  const kc = new k8s.KubeConfig();
  let from: string;
  try {
    if (source.kubeconfigPath !== undefined) {
      from = `kubeconfig ${source.kubeconfigPath}`;
      kc.loadFromFile(source.kubeconfigPath);
    } else if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') {
      from = `KUBECONFIG=${env.KUBECONFIG}`;
      kc.loadFromDefault();
    } else if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '') {
      from = 'the in-cluster service account';
      kc.loadFromCluster();
    } else {
      from = '~/.kube/config';
      kc.loadFromDefault();
    }
  } catch (e) {
    throw new KubeError(`cannot load Kubernetes credentials: ${errorMessage(e)}`, undefined, { cause: e });
  }
  if (kc.getCurrentCluster() === null) {
    throw new KubeError(`no current cluster in ${from} (pass --kubeconfig PATH or run in a pod)`);
  }
  return kc;
}

/** The real KubeApi over @kubernetes/client-node. */
export function createKubeApi(source: KubeConfigSource = {}): KubeApi {
  return new ClientNodeApi(loadKubeConfig(source));
}

// ---------------------------------------------------------------------------
// Conversions from API objects (typed models and raw watch JSON share the shape)

interface RawMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function decodeSecret(raw: { metadata?: RawMeta; type?: string; data?: Record<string, string> }): SecretObject {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  return {
    name: raw.metadata?.name ?? '',
    namespace: raw.metadata?.namespace ?? '',
    resourceVersion: raw.metadata?.resourceVersion ?? '',
    type: raw.type ?? 'Opaque',
    data,
    labels: { ...raw.metadata?.labels },
    annotations: { ...raw.metadata?.annotations },
  };
}

function encodeSecret(namespace: string, name: string, body: SecretWrite, resourceVersion?: string): k8s.V1Secret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(body.data)) data[k] = Buffer.from(v, 'utf8').toString('base64');
  const metadata: k8s.V1ObjectMeta = { name, namespace, labels: body.labels, annotations: body.annotations };
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  return { apiVersion: 'v1', kind: 'Secret', metadata, type: body.type, data };
}

function decodeConfigMap(raw: { metadata?: RawMeta; data?: Record<string, string> }): ConfigMapObject {
  return {
    name: raw.metadata?.name ?? '',
    namespace: raw.metadata?.namespace ?? '',
    resourceVersion: raw.metadata?.resourceVersion ?? '',
    data: { ...raw.data },
  };
}

function decodeWebhookConfiguration(raw: k8s.V1MutatingWebhookConfiguration): WebhookConfigurationObject {
  return {
    name: raw.metadata?.name ?? '',
    resourceVersion: raw.metadata?.resourceVersion ?? '',
    webhooks: (raw.webhooks ?? []).map((w) => {
      const svc = w.clientConfig.service;
      return {
        name: w.name,
        service: svc === undefined ? undefined : { namespace: svc.namespace, name: svc.name },
        caBundle: w.clientConfig.caBundle === '' ? undefined : w.clientConfig.caBundle,
      };
    }),
  };
}

const decoders: { [K in WatchedKind]: (raw: never) => WatchedKinds[K] } = {
  ConfigMap: decodeConfigMap,
  Secret: decodeSecret,
};

/** The API's Status body, parsed out of an ApiException (client-node keeps it as text). */
function statusOf(e: k8s.ApiException<unknown>): { reason?: string; message?: string } {
  const body: unknown = e.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return { message: body.slice(0, 300) };
    }
  }
  if (parsed !== null && typeof parsed === 'object') {
    const s = parsed as { reason?: unknown; message?: unknown };
    return {
      ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
      ...(typeof s.message === 'string' ? { message: s.message } : {}),
    };
  }
  return {};
}

/** Wraps any failure of `what` into a KubeError with status and reason. */
function toKubeError(what: string, e: unknown): KubeError {
  if (e instanceof KubeError) return e;
  if (e instanceof k8s.ApiException) {
    const status = statusOf(e);
    const detail = status.message ?? status.reason ?? `HTTP ${e.code}`;
    return new KubeError(`${what}: ${detail}`, e.code, { cause: e, ...(status.reason ? { reason: status.reason } : {}) });
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

async function orUndefinedOn404<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call(what, fn);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * Watches end on the server's schedule; asking for a timeout makes the end routine
 * (and lets the caller re-list) instead of waiting on a half-dead connection.
 * Five minutes is the upper end of client-go's randomised 5-10 min re-list period.
 */
const WATCH_TIMEOUT_SECONDS = 300;
/** After a failed namespace list or watch: soon enough that a warning is rarely missed, slow enough not to hammer the API server. */
const NAMESPACE_RETRY_MS = 5000;

class ClientNodeApi implements KubeApi {
  private readonly core: k8s.CoreV1Api;
  private readonly admission: k8s.AdmissionregistrationV1Api;
  private readonly watcher: k8s.Watch;

  constructor(private readonly kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    this.watcher = new k8s.Watch(kc);
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    const s = await orUndefinedOn404(`get Secret ${namespace}/${name}`, () =>
      this.core.readNamespacedSecret({ namespace, name }),
    );
    return s === undefined ? undefined : decodeSecret(s);
  }

  async createSecret(namespace: string, name: string, body: SecretWrite): Promise<SecretObject> {
    const s = await call(`create Secret ${namespace}/${name}`, () =>
      this.core.createNamespacedSecret({ namespace, body: encodeSecret(namespace, name, body) }),
    );
    return decodeSecret(s);
  }

  async replaceSecret(namespace: string, name: string, resourceVersion: string, body: SecretWrite): Promise<SecretObject> {
    const s = await call(`update Secret ${namespace}/${name}`, () =>
      this.core.replaceNamespacedSecret({ namespace, name, body: encodeSecret(namespace, name, body, resourceVersion) }),
    );
    return decodeSecret(s);
  }

  async getMutatingWebhookConfiguration(name: string): Promise<WebhookConfigurationObject | undefined> {
    const w = await orUndefinedOn404(`get MutatingWebhookConfiguration ${name}`, () =>
      this.admission.readMutatingWebhookConfiguration({ name }),
    );
    return w === undefined ? undefined : decodeWebhookConfiguration(w);
  }

  async patchMutatingWebhookConfiguration(name: string, ops: readonly JsonPatchOp[]): Promise<WebhookConfigurationObject> {
    // json-patch+json is the generated client's preferred patch media type.
    const w = await call(`patch MutatingWebhookConfiguration ${name}`, () =>
      this.admission.patchMutatingWebhookConfiguration({ name, body: ops }),
    );
    return decodeWebhookConfiguration(w);
  }

  async getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined> {
    const c = await orUndefinedOn404(`get ConfigMap ${namespace}/${name}`, () =>
      this.core.readNamespacedConfigMap({ namespace, name }),
    );
    return c === undefined ? undefined : decodeConfigMap(c);
  }

  async getNamespaceLabels(name: string): Promise<Record<string, string> | undefined> {
    const ns = await orUndefinedOn404(`get Namespace ${name}`, () => this.core.readNamespace({ name }));
    return ns === undefined ? undefined : { ...ns.metadata?.labels };
  }

  watchNamespaces(onError: (error: unknown) => void): NamespaceCache {
    // client-node's informer lists, watches, and keeps the objects by name.
    const informer = k8s.makeInformer(this.kc, '/api/v1/namespaces', () => this.core.listNamespace());
    let stopped = false;
    const start = (): void => {
      if (stopped) return;
      informer.start().catch((e: unknown) => {
        onError(toKubeError('watch Namespaces', e));
        setTimeout(start, NAMESPACE_RETRY_MS).unref();
      });
    };
    informer.on('error', (e: unknown) => {
      onError(toKubeError('watch Namespaces', e));
      setTimeout(start, NAMESPACE_RETRY_MS).unref();
    });
    start();
    return {
      labels: (name) => informer.get(name)?.metadata?.labels,
      stop: () => {
        stopped = true;
        void informer.stop();
      },
    };
  }

  async listOne<K extends WatchedKind>(kind: K, namespace: string, name: string): Promise<Listed<WatchedKinds[K]>> {
    const fieldSelector = `metadata.name=${name}`;
    const decode = decoders[kind] as (raw: unknown) => WatchedKinds[K];
    const list: { metadata?: { resourceVersion?: string }; items: unknown[] } = await call(
      `list ${kind} ${namespace}/${name}`,
      () =>
        kind === 'Secret'
          ? this.core.listNamespacedSecret({ namespace, fieldSelector })
          : this.core.listNamespacedConfigMap({ namespace, fieldSelector }),
    );
    const item = list.items[0];
    return {
      object: item === undefined ? undefined : decode(item),
      resourceVersion: list.metadata?.resourceVersion ?? '',
    };
  }

  async watchOne<K extends WatchedKind>(
    kind: K,
    namespace: string,
    name: string,
    resourceVersion: string,
    callbacks: WatchCallbacks<WatchedKinds[K]>,
  ): Promise<WatchHandle> {
    const decode = decoders[kind] as (raw: unknown) => WatchedKinds[K];
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${kind === 'Secret' ? 'secrets' : 'configmaps'}`;
    const query = {
      fieldSelector: `metadata.name=${name}`,
      resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: WATCH_TIMEOUT_SECONDS,
    };
    let stopped = false;
    const onLine = (type: string, obj: unknown): void => {
      if (stopped) return;
      switch (type) {
        case 'ADDED':
        case 'MODIFIED':
        case 'DELETED':
          callbacks.onEvent({ type, object: decode(obj) });
          return;
        case 'BOOKMARK': {
          const rv = (obj as { metadata?: RawMeta } | null)?.metadata?.resourceVersion;
          if (rv !== undefined) callbacks.onEvent({ type: 'BOOKMARK', resourceVersion: rv });
          return;
        }
        case 'ERROR': {
          const s = (obj ?? {}) as { code?: unknown; message?: unknown };
          callbacks.onEvent({
            type: 'ERROR',
            code: typeof s.code === 'number' ? s.code : undefined,
            message: typeof s.message === 'string' ? s.message : 'watch error',
          });
          return;
        }
        default:
          return;
      }
    };
    const onDone = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      callbacks.onEnd(err ?? undefined);
    };
    const controller = await call(`watch ${kind} ${namespace}/${name}`, () =>
      this.watcher.watch(path, query, onLine, onDone),
    );
    return {
      stop: () => {
        stopped = true;
        controller.abort();
      },
    };
  }
}
