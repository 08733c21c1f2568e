/**
 * Follows one named object (a ConfigMap or a Secret) and reports its state whenever it
 * changes: list it by name, watch from the list's resourceVersion, and when the watch
 * ends (server timeout, network error, 410 Gone) list again and re-watch, backing off
 * exponentially while failures repeat. Re-listing on every reconnect costs one small
 * GET and means a change or deletion made while disconnected is never missed.
 */
import type { Clock } from './clock.js';
import type { Logger } from '../logger.js';
import type { KubeApi, WatchHandle, WatchedKind, WatchedKinds } from './api.js';
import { errorMessage } from '../errors/index.js';

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Half a second first, then doubling up to 30 s: quick after a blip, gentle on an outage. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000 };

/**
 * How long to wait before listing again: the initial backoff after a clean end (a server
 * that ends every watch at once must not make us spin), doubling with each failure in a
 * row up to the maximum.
 */
export function retryDelay(backoff: Backoff, failuresInARow: number): number {
  return failuresInARow === 0 ? backoff.initialMs : Math.min(backoff.maxMs, backoff.initialMs * 2 ** (failuresInARow - 1));
}

export interface ObjectWatcherOptions<K extends WatchedKind> {
  api: Pick<KubeApi, 'listOne' | 'watchOne'>;
  kind: K;
  namespace: string;
  name: string;
  clock: Clock;
  log: Logger;
  /** The object's state after every change; undefined when it does not exist. Never called twice for the same resourceVersion. */
  onChange(object: WatchedKinds[K] | undefined): void;
  backoff?: Backoff;
}

export class ObjectWatcher<K extends WatchedKind> {
  private readonly opts: ObjectWatcherOptions<K>;
  private readonly backoff: Backoff;
  private stopped = false;
  private started = false;
  private failures = 0;
  private lastKey: string | undefined;
  private handle: WatchHandle | undefined;
  private cancelRetry: (() => void) | undefined;
  /** Bumped per connection so that a late callback from an old watch is ignored. */
  private connection = 0;

  constructor(opts: ObjectWatcherOptions<K>) {
    this.opts = opts;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  /**
   * Lists the object once (calling onChange with what it finds) and starts watching.
   * Resolves true when that first list succeeded; false when it failed, in which case
   * retries run in the background. Never rejects.
   */
  async start(): Promise<boolean> {
    if (this.started) throw new Error('ObjectWatcher already started');
    this.started = true;
    return this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.connection++;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    this.handle?.stop();
    this.handle = undefined;
  }

  private describe(): string {
    return `${this.opts.kind} ${this.opts.namespace}/${this.opts.name}`;
  }

  private deliver(object: WatchedKinds[K] | undefined): void {
    const key = object === undefined ? '' : `rv:${object.resourceVersion}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.opts.onChange(object);
  }

  private async connect(): Promise<boolean> {
    const { api, kind, namespace, name, log } = this.opts;
    const id = ++this.connection;
    let listed;
    try {
      listed = await api.listOne(kind, namespace, name);
    } catch (e) {
      if (this.stopped || id !== this.connection) return false;
      log.warn({ object: this.describe(), err: errorMessage(e) }, 'list failed; will retry');
      this.retryLater(id, true);
      return false;
    }
    if (this.stopped || id !== this.connection) return true;
    this.deliver(listed.object);
    try {
      const handle = await api.watchOne(kind, namespace, name, listed.resourceVersion, {
        onEvent: (event) => {
          if (this.stopped || id !== this.connection) return;
          switch (event.type) {
            case 'ADDED':
            case 'MODIFIED':
              this.failures = 0;
              this.deliver(event.object);
              return;
            case 'DELETED':
              this.failures = 0;
              this.deliver(undefined);
              return;
            case 'BOOKMARK':
              return;
            case 'ERROR':
              // 410 Gone: our resourceVersion was compacted away; the server ends the
              // watch and we re-list. Anything else is worth a line in the log.
              if (event.code !== 410) log.warn({ object: this.describe(), code: event.code, err: event.message }, 'watch error');
              return;
          }
        },
        onEnd: (err) => {
          if (this.stopped || id !== this.connection) return;
          if (err !== undefined && err !== null) {
            log.warn({ object: this.describe(), err: errorMessage(err) }, 'watch ended with an error; re-listing');
          }
          this.retryLater(id, err !== undefined && err !== null);
        },
      });
      if (this.stopped || id !== this.connection) {
        handle.stop();
      } else {
        this.handle = handle;
      }
    } catch (e) {
      if (this.stopped || id !== this.connection) return true;
      log.warn({ object: this.describe(), err: errorMessage(e) }, 'watch failed to start; will retry');
      this.retryLater(id, true);
    }
    return true;
  }

  /**
   * Re-lists after a delay: the initial backoff after a clean end (a server that ends
   * every watch at once must not make us spin), exponentially longer while failures repeat.
   */
  private retryLater(id: number, failed: boolean): void {
    if (id !== this.connection) return;
    this.handle = undefined;
    this.failures = failed ? this.failures + 1 : 0;
    const delay = retryDelay(this.backoff, this.failures);
    this.cancelRetry?.();
    this.cancelRetry = this.opts.clock.setTimer(() => {
      this.cancelRetry = undefined;
      if (!this.stopped) void this.connect();
    }, delay);
  }
}
