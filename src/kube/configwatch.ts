/**
 * Live injection config from a ConfigMap. The ConfigMap is watched (watcher.ts re-lists
 * and re-watches whenever the watch ends); each new version is parsed with parseConfig:
 *   valid   → it becomes the config for the next review, no restart;
 *   invalid → the last good config stays in use; the error is logged, counted in
 *             siding_config_reload_errors_total, siding_config_valid drops to 0, and
 *             status() carries it to /readyz.
 * A missing ConfigMap or key is treated like an invalid version. Until the first
 * version loads, the `initial` config (--config file or the built-in default) serves.
 *
 * `ok` in the status means "a valid config is being served", which is always true here:
 * an invalid update must not make every replica unready, since with failurePolicy Fail
 * that would block pod creation. `valid` says whether the latest version was accepted.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { parseConfig, type InjectionConfig } from '../config/index.js';
import { errorMessage } from '../errors/index.js';
import type { Clock } from './clock.js';
import type { Logger } from '../logger.js';
import type { ConfigMapObject, KubeApi } from './api.js';
import { ObjectWatcher, type Backoff } from './watcher.js';
import { DEFAULT_CONFIG_KEY } from './options.js';

export { DEFAULT_CONFIG_KEY };

export interface LiveConfigStatus {
  /** A valid config is being served (the latest accepted version, or the initial one). */
  ok: boolean;
  /** The latest observed ConfigMap version was accepted; false while it is rejected or missing. */
  valid: boolean;
  /** Where the config in use came from. */
  source: string;
  /** resourceVersion of the ConfigMap version in use; undefined while the initial config serves. */
  resourceVersion: string | undefined;
  /** One line for /readyz: source, resourceVersion and, if any, the rejection. */
  detail: string;
  /** Why the latest version was rejected; absent when it was accepted. */
  lastError?: string;
}

export interface ConfigWatchOptions {
  api: Pick<KubeApi, 'listOne' | 'watchOne'>;
  namespace: string;
  name: string;
  /** Data key holding the YAML; default config.yaml. */
  key?: string;
  /** Served until the first version loads. */
  initial: InjectionConfig;
  /** e.g. "built-in default" or "file /etc/siding/config.yaml". */
  initialSource: string;
  clock: Clock;
  log: Logger;
  /** Metrics are registered here when given. */
  registry?: Registry;
  /** Default parseConfig. */
  parse?: (text: string, source: string) => InjectionConfig;
  /** Called after every accepted version. */
  onUpdate?: (config: InjectionConfig, status: LiveConfigStatus) => void;
  backoff?: Backoff;
}

interface ConfigMetrics {
  valid: Gauge;
  reloads: Counter;
  errors: Counter;
}

function createMetrics(registry: Registry): ConfigMetrics {
  const registers = [registry];
  return {
    valid: new Gauge({
      name: 'siding_config_valid',
      help: '1 when the latest version of the config ConfigMap was accepted, 0 while it is rejected or missing (the last good config keeps serving).',
      registers,
    }),
    reloads: new Counter({
      name: 'siding_config_reloads_total',
      help: 'ConfigMap versions accepted and put into use.',
      registers,
    }),
    errors: new Counter({
      name: 'siding_config_reload_errors_total',
      help: 'ConfigMap versions rejected (invalid config, missing key, ConfigMap deleted).',
      registers,
    }),
  };
}

export class ConfigWatch {
  private readonly o: ConfigWatchOptions;
  private readonly key: string;
  private readonly parse: (text: string, source: string) => InjectionConfig;
  private readonly metrics: ConfigMetrics | undefined;
  private readonly watcher: ObjectWatcher<'ConfigMap'>;
  private config: InjectionConfig;
  private appliedText: string | undefined;
  private st: LiveConfigStatus;

  constructor(options: ConfigWatchOptions) {
    this.o = options;
    this.key = options.key ?? DEFAULT_CONFIG_KEY;
    this.parse = options.parse ?? parseConfig;
    this.metrics = options.registry === undefined ? undefined : createMetrics(options.registry);
    // Valid until told otherwise: the initial config was validated by whoever built it.
    this.metrics?.valid.set(1);
    this.config = options.initial;
    this.st = {
      ok: true,
      valid: true,
      source: options.initialSource,
      resourceVersion: undefined,
      detail: `${options.initialSource} (ConfigMap ${this.ref()} not loaded yet)`,
    };
    this.watcher = new ObjectWatcher({
      api: options.api,
      kind: 'ConfigMap',
      namespace: options.namespace,
      name: options.name,
      clock: options.clock,
      log: options.log,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      onChange: (cm) => this.observe(cm),
    });
  }

  /** The config for the next review. */
  current(): InjectionConfig {
    return this.config;
  }

  status(): LiveConfigStatus {
    return { ...this.st };
  }

  /**
   * Loads the ConfigMap once and starts watching it. Resolves true when that first load
   * reached the API server (whatever the ConfigMap held); false when it did not, and the
   * initial config keeps serving while retries run. Never rejects.
   */
  start(): Promise<boolean> {
    return this.watcher.start();
  }

  stop(): void {
    this.watcher.stop();
  }

  private ref(): string {
    return `${this.o.namespace}/${this.o.name}`;
  }

  /** Applies one observed version of the ConfigMap (undefined: it does not exist). */
  private observe(cm: ConfigMapObject | undefined): void {
    const { log } = this.o;
    if (cm === undefined) {
      this.reject(undefined, `ConfigMap ${this.ref()} not found`);
      return;
    }
    const text = cm.data[this.key];
    if (text === undefined) {
      this.reject(cm.resourceVersion, `ConfigMap ${this.ref()} has no key ${this.key}`);
      return;
    }
    if (this.st.valid && text === this.appliedText) {
      // Same content (labels or another key changed): nothing to reload.
      this.st = { ...this.st, resourceVersion: cm.resourceVersion, detail: this.describe(this.st.source, cm.resourceVersion) };
      return;
    }
    const source = `ConfigMap ${this.ref()} key ${this.key}`;
    let config: InjectionConfig;
    try {
      config = this.parse(text, source);
    } catch (e) {
      this.reject(cm.resourceVersion, errorMessage(e));
      return;
    }
    this.config = config;
    this.appliedText = text;
    this.st = { ok: true, valid: true, source, resourceVersion: cm.resourceVersion, detail: this.describe(source, cm.resourceVersion) };
    this.metrics?.valid.set(1);
    this.metrics?.reloads.inc();
    log.info({ configMap: this.ref(), resourceVersion: cm.resourceVersion }, 'injection config loaded');
    this.o.onUpdate?.(config, this.status());
  }

  private reject(resourceVersion: string | undefined, error: string): void {
    const inUse = this.describe(this.st.source, this.st.resourceVersion);
    this.st = {
      ok: true,
      valid: false,
      source: this.st.source,
      resourceVersion: this.st.resourceVersion,
      detail: `${inUse}; rejected ${resourceVersion === undefined ? 'the latest state' : `resourceVersion ${resourceVersion}`}`,
      lastError: error,
    };
    this.metrics?.valid.set(0);
    this.metrics?.errors.inc();
    this.o.log.error(
      { configMap: this.ref(), resourceVersion, err: error, serving: inUse },
      'injection config rejected; keeping the last good one',
    );
  }

  private describe(source: string, resourceVersion: string | undefined): string {
    return resourceVersion === undefined ? source : `${source} (resourceVersion ${resourceVersion})`;
  }
}
