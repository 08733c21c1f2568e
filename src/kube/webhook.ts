/**
 * What `siding webhook` needs from the cluster, assembled in one place: a TLS source
 * backed by self-managed certificates (--manage-certs) and a config provider backed by a
 * watched ConfigMap (--config-map). src/admission/run.ts plugs them into the server; the
 * shapes below match its TlsSource and ConfigStatus structurally, so this folder does
 * not import from src/admission.
 */
import type { Registry } from 'prom-client';
import type { InjectionConfig } from '../config/index.js';
import { systemClock, type Clock } from './clock.js';
import type { Logger } from '../logger.js';
import type { KubeApi } from './api.js';
import { createKubeApi } from './client.js';
import { CertManager, type CertManagerStatus, type TlsMaterial } from './certmanager.js';
import { ConfigWatch } from './configwatch.js';
import { certsIssuer } from './issuer.js';
import type { KubeWebhookOptions } from './options.js';

/** A TLS source as src/admission/tls.ts defines it. */
export interface KubeTlsSource {
  readonly description: string;
  load(): Promise<{ cert: string; key: string }>;
  watch(onChange: (material: { cert: string; key: string }) => void, onError: (error: unknown) => void): () => void;
}

export interface KubeConfigProvider {
  current(): InjectionConfig;
  /** ok/detail/lastError as /readyz shows them, plus source, resourceVersion and valid. */
  status(): { ok: boolean; detail: string; lastError?: string; valid: boolean; source: string; resourceVersion?: string };
}

export interface KubeParts {
  tls: KubeTlsSource | undefined;
  config: KubeConfigProvider | undefined;
  certStatus: (() => CertManagerStatus) | undefined;
  /**
   * Labels of the pod's namespace, from a cache of every Namespace (list and watch), for
   * the warnings that depend on them (Pod Security); undefined for one not seen yet.
   */
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /** Stops timers and watches. */
  stop(): void;
}

export interface KubePartsDeps {
  registry: Registry;
  log: Logger;
  /** --config file or the built-in default: serves until the ConfigMap loads. */
  initialConfig: InjectionConfig;
  initialSource: string;
  /** Tests pass a fake; default: the real API from options.kubeconfigPath. */
  api?: KubeApi;
  clock?: Clock;
}

/**
 * Ensures the certificate Secret and caBundle (when managing certificates; throws when
 * that fails, since the webhook cannot serve without them) and loads and watches the
 * ConfigMap (when given; never throws: the initial config serves until it loads).
 */
export async function startKubeParts(options: KubeWebhookOptions, deps: KubePartsDeps): Promise<KubeParts> {
  const api = deps.api ?? createKubeApi({ kubeconfigPath: options.kubeconfigPath });
  const clock = deps.clock ?? systemClock;
  const namespaces = api.watchNamespaces((e) => deps.log.warn({ err: e }, 'cannot list or watch Namespaces; Pod Security warnings wait until it works'));

  let tls: KubeTlsSource | undefined;
  let manager: CertManager | undefined;
  if (options.manageCerts !== undefined) {
    const policy = options.manageCerts;
    let listener: ((m: TlsMaterial) => void) | undefined;
    manager = new CertManager({
      api,
      namespace: options.namespace,
      secretName: options.certSecret,
      webhookConfigName: options.webhookConfig,
      service: options.service,
      policy,
      issuer: certsIssuer({
        service: options.service,
        namespace: options.namespace,
        caValidityDays: policy.caValidityDays,
        servingValidityDays: policy.servingValidityDays,
      }),
      clock,
      log: deps.log,
      onTls: (m) => listener?.(m),
    });
    const initial = await manager.start();
    const m = manager;
    tls = {
      description: `self-managed certificates in Secret ${options.namespace}/${options.certSecret} (caBundle of MutatingWebhookConfiguration ${options.webhookConfig})`,
      load: () => Promise.resolve(initial),
      watch(onChange) {
        listener = onChange;
        return () => {
          listener = undefined;
          m.stop();
        };
      },
    };
  }

  let watch: ConfigWatch | undefined;
  if (options.configMap !== undefined) {
    watch = new ConfigWatch({
      api,
      namespace: options.namespace,
      name: options.configMap.name,
      key: options.configMap.key,
      initial: deps.initialConfig,
      initialSource: deps.initialSource,
      clock,
      log: deps.log,
      registry: deps.registry,
    });
    // Resolves after the first attempt either way, so a reachable API server means the
    // very first review already uses the ConfigMap.
    await watch.start();
  }
  const w = watch;
  const mgr = manager;

  return {
    tls,
    config:
      w === undefined
        ? undefined
        : {
            current: () => w.current(),
            status: () => {
              const s = w.status();
              return {
                ok: s.ok,
                detail: s.detail,
                valid: s.valid,
                source: s.source,
                ...(s.resourceVersion === undefined ? {} : { resourceVersion: s.resourceVersion }),
                ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
              };
            },
          },
    certStatus: mgr === undefined ? undefined : () => mgr.status(),
    namespaceLabels: (name) => namespaces.labels(name),
    stop: () => {
      mgr?.stop();
      w?.stop();
      namespaces.stop();
    },
  };
}
