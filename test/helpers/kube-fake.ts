/**
 * An in-memory KubeApi with the API server's concurrency rules (one resourceVersion
 * counter, AlreadyExists on create, Conflict on a stale update, 422 on a failed JSON
 * Patch test) and a recording of every call. Watches deliver events synchronously from
 * writes; endWatches() simulates the server closing them. Plus a hand-driven clock.
 */
import fjp from 'fast-json-patch';
import { KubeError } from '../../src/errors/index.js';
import type { Clock } from '../../src/kube/clock.js';
import type { Logger } from '../../src/logger.js';
import type {
  ConfigMapObject,
  JsonPatchOp,
  KubeApi,
  Listed,
  NamespaceCache,
  SecretObject,
  SecretWrite,
  WatchCallbacks,
  WatchEvent,
  WatchHandle,
  WatchedKind,
  WatchedKinds,
  WebhookConfigurationObject,
} from '../../src/kube/api.js';

/** A MutatingWebhookConfiguration as stored: the JSON shape a JSON Patch addresses. */
export interface StoredWebhookConfiguration {
  metadata: { name: string; resourceVersion: string };
  webhooks: Array<{
    name: string;
    clientConfig: { service?: { namespace: string; name: string; path?: string }; url?: string; caBundle?: string };
    [other: string]: unknown;
  }>;
}

export interface Call {
  method: string;
  args: unknown[];
  /** 'ok', or the error's Status reason / status code. */
  outcome: string;
}

interface Watcher {
  kind: WatchedKind;
  namespace: string;
  name: string;
  callbacks: WatchCallbacks<never>;
  stopped: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);

export class FakeKubeApi implements KubeApi {
  readonly calls: Call[] = [];
  private rv = 100;
  private readonly secrets = new Map<string, SecretObject>();
  private readonly configMaps = new Map<string, ConfigMapObject>();
  private readonly webhookConfigs = new Map<string, StoredWebhookConfiguration>();
  private readonly namespaces = new Map<string, Record<string, string>>();
  private watchers: Watcher[] = [];
  /** Runs before every call; may throw a KubeError to make the call fail, or write to the store to race it. */
  before: ((method: string, args: unknown[]) => void | Promise<void>) | undefined;

  private nextRv(): string {
    this.rv += 1;
    return String(this.rv);
  }

  private async record<T>(method: string, args: unknown[], fn: () => T): Promise<T> {
    // A macrotask hop per call, like a network round trip: concurrent callers interleave.
    await new Promise((r) => setImmediate(r));
    try {
      await this.before?.(method, args);
      const out = fn();
      this.calls.push({ method, args, outcome: 'ok' });
      return out;
    } catch (e) {
      this.calls.push({ method, args, outcome: e instanceof KubeError ? (e.reason ?? String(e.statusCode)) : 'error' });
      throw e;
    }
  }

  callsTo(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  // ---- seeding and inspection (no recording, no hop)

  putSecret(namespace: string, name: string, body: SecretWrite): SecretObject {
    const s: SecretObject = { name, namespace, resourceVersion: this.nextRv(), ...clone(body) };
    this.secrets.set(`${namespace}/${name}`, s);
    this.emit('Secret', namespace, name, { type: 'MODIFIED', object: clone(s) as never });
    return clone(s);
  }

  secret(namespace: string, name: string): SecretObject | undefined {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s === undefined ? undefined : clone(s);
  }

  deleteSecret(namespace: string, name: string): void {
    const s = this.secrets.get(`${namespace}/${name}`);
    if (s === undefined) return;
    this.secrets.delete(`${namespace}/${name}`);
    this.emit('Secret', namespace, name, { type: 'DELETED', object: clone(s) as never });
  }

  putConfigMap(namespace: string, name: string, data: Record<string, string>): ConfigMapObject {
    const existed = this.configMaps.has(`${namespace}/${name}`);
    const cm: ConfigMapObject = { name, namespace, resourceVersion: this.nextRv(), data: clone(data) };
    this.configMaps.set(`${namespace}/${name}`, cm);
    this.emit('ConfigMap', namespace, name, { type: existed ? 'MODIFIED' : 'ADDED', object: clone(cm) as never });
    return clone(cm);
  }

  deleteConfigMap(namespace: string, name: string): void {
    const cm = this.configMaps.get(`${namespace}/${name}`);
    if (cm === undefined) return;
    this.configMaps.delete(`${namespace}/${name}`);
    this.emit('ConfigMap', namespace, name, { type: 'DELETED', object: clone(cm) as never });
  }

  putWebhookConfiguration(config: Omit<StoredWebhookConfiguration, 'metadata'> & { metadata: { name: string } }): void {
    this.webhookConfigs.set(config.metadata.name, {
      ...clone(config),
      metadata: { name: config.metadata.name, resourceVersion: this.nextRv() },
    });
  }

  webhookConfiguration(name: string): StoredWebhookConfiguration | undefined {
    const w = this.webhookConfigs.get(name);
    return w === undefined ? undefined : clone(w);
  }

  putNamespace(name: string, labels: Record<string, string>): void {
    this.namespaces.set(name, clone(labels));
  }

  /** The server closes every open watch (err undefined: a normal timeout). */
  endWatches(err?: unknown): void {
    const open = this.watchers.filter((w) => !w.stopped);
    this.watchers = [];
    for (const w of open) {
      w.stopped = true;
      w.callbacks.onEnd(err);
    }
  }

  /** Sends an event to open watches of one object without changing the store. */
  sendWatchEvent(kind: WatchedKind, namespace: string, name: string, event: WatchEvent<never>): void {
    this.emit(kind, namespace, name, event);
  }

  openWatches(): number {
    return this.watchers.filter((w) => !w.stopped).length;
  }

  private emit(kind: WatchedKind, namespace: string, name: string, event: WatchEvent<never>): void {
    for (const w of this.watchers) {
      if (!w.stopped && w.kind === kind && w.namespace === namespace && w.name === name) w.callbacks.onEvent(event);
    }
  }

  // ---- KubeApi

  getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    return this.record('getSecret', [namespace, name], () => this.secret(namespace, name));
  }

  createSecret(namespace: string, name: string, body: SecretWrite): Promise<SecretObject> {
    return this.record('createSecret', [namespace, name, clone(body)], () => {
      if (this.secrets.has(`${namespace}/${name}`)) {
        throw new KubeError(`secrets "${name}" already exists`, 409, { reason: 'AlreadyExists' });
      }
      const s: SecretObject = { name, namespace, resourceVersion: this.nextRv(), ...clone(body) };
      this.secrets.set(`${namespace}/${name}`, s);
      this.emit('Secret', namespace, name, { type: 'ADDED', object: clone(s) as never });
      return clone(s);
    });
  }

  replaceSecret(namespace: string, name: string, resourceVersion: string, body: SecretWrite): Promise<SecretObject> {
    return this.record('replaceSecret', [namespace, name, resourceVersion, clone(body)], () => {
      const existing = this.secrets.get(`${namespace}/${name}`);
      if (existing === undefined) throw new KubeError(`secrets "${name}" not found`, 404, { reason: 'NotFound' });
      if (existing.resourceVersion !== resourceVersion) {
        throw new KubeError(`Operation cannot be fulfilled on secrets "${name}": the object has been modified`, 409, {
          reason: 'Conflict',
        });
      }
      if (existing.type !== body.type) throw new KubeError('field is immutable: type', 422, { reason: 'Invalid' });
      const s: SecretObject = { name, namespace, resourceVersion: this.nextRv(), ...clone(body) };
      this.secrets.set(`${namespace}/${name}`, s);
      this.emit('Secret', namespace, name, { type: 'MODIFIED', object: clone(s) as never });
      return clone(s);
    });
  }

  getMutatingWebhookConfiguration(name: string): Promise<WebhookConfigurationObject | undefined> {
    return this.record('getMutatingWebhookConfiguration', [name], () => {
      const w = this.webhookConfigs.get(name);
      return w === undefined ? undefined : view(w);
    });
  }

  patchMutatingWebhookConfiguration(name: string, ops: readonly JsonPatchOp[]): Promise<WebhookConfigurationObject> {
    return this.record('patchMutatingWebhookConfiguration', [name, clone(ops)], () => {
      const w = this.webhookConfigs.get(name);
      if (w === undefined) throw new KubeError(`mutatingwebhookconfigurations "${name}" not found`, 404, { reason: 'NotFound' });
      const doc = clone(w);
      try {
        fjp.applyPatch(doc, clone(ops) as fjp.Operation[], true, true);
      } catch (e) {
        throw new KubeError(`the server rejected our request: ${String(e)}`, 422, { reason: 'Invalid' });
      }
      doc.metadata.resourceVersion = this.nextRv();
      this.webhookConfigs.set(name, doc);
      return view(doc);
    });
  }

  getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined> {
    return this.record('getConfigMap', [namespace, name], () => {
      const c = this.configMaps.get(`${namespace}/${name}`);
      return c === undefined ? undefined : clone(c);
    });
  }

  getNamespaceLabels(name: string): Promise<Record<string, string> | undefined> {
    return this.record('getNamespaceLabels', [name], () => {
      const l = this.namespaces.get(name);
      return l === undefined ? undefined : clone(l);
    });
  }

  /** Answers from `namespaces`, as the real cache answers from its informer's store. */
  watchNamespaces(): NamespaceCache {
    return { labels: (name) => this.namespaces.get(name), stop: () => undefined };
  }

  listOne<K extends WatchedKind>(kind: K, namespace: string, name: string): Promise<Listed<WatchedKinds[K]>> {
    return this.record('listOne', [kind, namespace, name], () => {
      const store = (kind === 'Secret' ? this.secrets : this.configMaps) as Map<string, WatchedKinds[K]>;
      const o = store.get(`${namespace}/${name}`);
      return { object: o === undefined ? undefined : clone(o), resourceVersion: String(this.rv) };
    });
  }

  watchOne<K extends WatchedKind>(
    kind: K,
    namespace: string,
    name: string,
    resourceVersion: string,
    callbacks: WatchCallbacks<WatchedKinds[K]>,
  ): Promise<WatchHandle> {
    return this.record('watchOne', [kind, namespace, name, resourceVersion], () => {
      const w: Watcher = { kind, namespace, name, callbacks, stopped: false };
      this.watchers.push(w);
      return {
        stop: () => {
          w.stopped = true;
        },
      };
    });
  }
}

function view(w: StoredWebhookConfiguration): WebhookConfigurationObject {
  return {
    name: w.metadata.name,
    resourceVersion: w.metadata.resourceVersion,
    webhooks: w.webhooks.map((h) => ({
      name: h.name,
      service: h.clientConfig.service === undefined ? undefined : { namespace: h.clientConfig.service.namespace, name: h.clientConfig.service.name },
      caBundle: h.clientConfig.caBundle,
    })),
  };
}

/** A clock that only moves when told to; timers fire in order during advance(). */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Array<{ id: number; at: number; fn: () => void }> = [];

  constructor(start: number | Date) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }

  /**
   * Jumps `ms` forward, then fires every timer that is due, oldest first. Callbacks see
   * the new time: advancing by six days means "six days later, the re-check runs".
   * A timer set by a callback fires too if it is already due.
   */
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x.id !== due.id);
      due.fn();
    }
  }

  pendingTimers(): number {
    return this.timers.length;
  }
}

/** Lets queued callbacks and fake API round trips run (each fake call takes one macrotask). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A logger that keeps every line for assertions. */
export class RecordingLogger implements Logger {
  readonly lines: Array<{ level: 'info' | 'warn' | 'error'; msg: string; obj: object }> = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', msg, obj });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', msg, obj });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', msg, obj });
  }
  messages(level?: 'info' | 'warn' | 'error'): string[] {
    return this.lines.filter((l) => level === undefined || l.level === level).map((l) => l.msg);
  }
}
