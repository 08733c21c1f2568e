/**
 * The pods of one node, kept current: list them (field selector spec.nodeName), watch from
 * the list's resourceVersion, and list again whenever the watch ends, backing off while
 * failures repeat (the scheme of src/kube/watcher.ts, for a set of objects). Serves the
 * agent's lookups (a pod whose annotations the runtime did not pass) and feeds repair.
 */
import type { Clock } from '../kube/clock.js';
import type { Logger } from '../logger.js';
import type { WatchHandle } from '../kube/api.js';
import type { PodApi, PodView } from '../kube/pods.js';
import { DEFAULT_BACKOFF, retryDelay, type Backoff } from '../kube/watcher.js';
import { errorMessage } from '../errors/index.js';

export interface NodePodsOptions {
  api: Pick<PodApi, 'listPods' | 'watchPods'>;
  nodeName: string;
  clock: Clock;
  log: Logger;
  /** Every pod as listed, and after every change to it. */
  onPod(pod: PodView): void;
  backoff?: Backoff;
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export class NodePods {
  private readonly pods = new Map<string, PodView>();
  private stopped = false;
  private failures = 0;
  private connection = 0;
  private handle: WatchHandle | undefined;
  private cancelRetry: (() => void) | undefined;
  /** True once a list succeeded: lookups may then trust a miss. */
  synced = false;

  constructor(private readonly opts: NodePodsOptions) {}

  get(namespace: string, name: string): PodView | undefined {
    return this.pods.get(key(namespace, name));
  }

  all(): PodView[] {
    return [...this.pods.values()];
  }

  get size(): number {
    return this.pods.size;
  }

  /** Lists once and starts watching; resolves whether that first list worked. Never rejects. */
  start(): Promise<boolean> {
    return this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.connection++;
    this.cancelRetry?.();
    this.handle?.stop();
  }

  private put(pod: PodView): void {
    this.pods.set(key(pod.namespace, pod.name), pod);
    this.opts.onPod(pod);
  }

  private async connect(): Promise<boolean> {
    const id = ++this.connection;
    const selector = `spec.nodeName=${this.opts.nodeName}`;
    let list;
    try {
      list = await this.opts.api.listPods(selector);
    } catch (e) {
      if (this.stopped || id !== this.connection) return false;
      this.opts.log.warn({ err: errorMessage(e) }, 'listing the pods of this node failed; will retry');
      this.retryLater(id, true);
      return false;
    }
    if (this.stopped || id !== this.connection) return true;
    this.pods.clear();
    this.synced = true;
    for (const p of list.items) this.put(p);
    try {
      const handle = await this.opts.api.watchPods(selector, list.resourceVersion, {
        onEvent: (event) => {
          if (this.stopped || id !== this.connection) return;
          if (event.type === 'ADDED' || event.type === 'MODIFIED') {
            this.failures = 0;
            this.put(event.object);
          } else if (event.type === 'DELETED') {
            this.pods.delete(key(event.object.namespace, event.object.name));
          } else if (event.type === 'ERROR' && event.code !== 410) {
            this.opts.log.warn({ code: event.code, err: event.message }, 'pod watch error');
          }
        },
        onEnd: (err) => {
          if (this.stopped || id !== this.connection) return;
          if (err !== undefined && err !== null) this.opts.log.warn({ err: errorMessage(err) }, 'pod watch ended with an error; re-listing');
          this.retryLater(id, err !== undefined && err !== null);
        },
      });
      if (this.stopped || id !== this.connection) handle.stop();
      else this.handle = handle;
    } catch (e) {
      if (!this.stopped && id === this.connection) {
        this.opts.log.warn({ err: errorMessage(e) }, 'pod watch failed to start; will retry');
        this.retryLater(id, true);
      }
    }
    return true;
  }

  private retryLater(id: number, failed: boolean): void {
    if (id !== this.connection) return;
    this.handle = undefined;
    this.failures = failed ? this.failures + 1 : 0;
    const delay = retryDelay(this.opts.backoff ?? DEFAULT_BACKOFF, this.failures);
    this.cancelRetry?.();
    this.cancelRetry = this.opts.clock.setTimer(() => {
      this.cancelRetry = undefined;
      if (!this.stopped) void this.connect();
    }, delay);
  }
}
