/**
 * The Kubernetes calls siding makes, in siding's own small types (decoded Secret data, no
 * generated model classes): the decision code is written and tested against this interface
 * (with a recording fake), and client.ts implements it over @kubernetes/client-node.
 *
 * Every failure is a `KubeError` carrying the HTTP status and the Status `reason`
 * (AlreadyExists, Conflict, NotFound, ...), which is what callers branch on.
 */
import { KubeError } from '../errors/index.js';

/** A Secret with its data decoded from base64 to UTF-8 text (siding stores PEM only). */
export interface SecretObject {
  name: string;
  namespace: string;
  resourceVersion: string;
  type: string;
  data: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** What siding writes into a Secret; `data` is plain text, encoded here. */
export interface SecretWrite {
  type: string;
  data: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ConfigMapObject {
  name: string;
  namespace: string;
  resourceVersion: string;
  data: Record<string, string>;
}

/** The parts of a webhook in a MutatingWebhookConfiguration that siding reads. */
export interface WebhookView {
  name: string;
  service: { namespace: string; name: string } | undefined;
  /** base64 of the PEM bundle, as stored; undefined when unset. */
  caBundle: string | undefined;
}

export interface WebhookConfigurationObject {
  name: string;
  resourceVersion: string;
  webhooks: WebhookView[];
}

/** The JSON Patch operations siding sends (RFC 6902 subset). */
export type JsonPatchOp =
  | { op: 'test'; path: string; value: unknown }
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown };

/** The kinds siding lists and watches by name. */
export interface WatchedKinds {
  ConfigMap: ConfigMapObject;
  Secret: SecretObject;
}
export type WatchedKind = keyof WatchedKinds;

/** One object looked up by name through a list, with the list's resourceVersion to watch from. */
export interface Listed<T> {
  object: T | undefined;
  resourceVersion: string;
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; resourceVersion: string }
  | { type: 'ERROR'; code: number | undefined; message: string };

export interface WatchCallbacks<T> {
  onEvent(event: WatchEvent<T>): void;
  /** Called once when the watch ends on its own (server timeout, network error); not after stop(). */
  onEnd(err: unknown): void;
}

export interface WatchHandle {
  stop(): void;
}

export interface KubeApi {
  /** undefined when the Secret does not exist. */
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** Throws KubeError reason AlreadyExists (409) when another writer created it first. */
  createSecret(namespace: string, name: string, body: SecretWrite): Promise<SecretObject>;
  /** Optimistic concurrency: throws KubeError reason Conflict (409) when resourceVersion is stale. */
  replaceSecret(namespace: string, name: string, resourceVersion: string, body: SecretWrite): Promise<SecretObject>;
  getMutatingWebhookConfiguration(name: string): Promise<WebhookConfigurationObject | undefined>;
  /** JSON Patch; a failed `test` op is a KubeError with status 422. */
  patchMutatingWebhookConfiguration(name: string, ops: readonly JsonPatchOp[]): Promise<WebhookConfigurationObject>;
  getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined>;
  /** undefined when the Namespace does not exist. */
  getNamespaceLabels(name: string): Promise<Record<string, string> | undefined>;
  /**
   * Starts keeping every Namespace's labels in memory (a list, then a watch, re-listed when
   * it ends; failures go to `onError` and the cache retries). Needs list and watch on
   * namespaces.
   */
  watchNamespaces(onError: (error: unknown) => void): NamespaceCache;
  listOne<K extends WatchedKind>(kind: K, namespace: string, name: string): Promise<Listed<WatchedKinds[K]>>;
  watchOne<K extends WatchedKind>(
    kind: K,
    namespace: string,
    name: string,
    resourceVersion: string,
    callbacks: WatchCallbacks<WatchedKinds[K]>,
  ): Promise<WatchHandle>;
}

/** Namespace labels answered from memory: undefined for a namespace not (yet) seen. */
export interface NamespaceCache {
  labels(name: string): Readonly<Record<string, string>> | undefined;
  stop(): void;
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeError && e.statusCode === 404;
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof KubeError && e.statusCode === 409 && e.reason === 'AlreadyExists';
export const isConflict = (e: unknown): boolean =>
  e instanceof KubeError && e.statusCode === 409 && e.reason !== 'AlreadyExists';
