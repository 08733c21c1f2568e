/**
 * The typed injection config. Every value here has been validated by `parseConfig`
 * (or is the built-in default); nothing downstream re-parses strings.
 */
import type { Cidr, CidrSelection, PortRange, PortSelection } from '../grammar/index.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type InterceptionMode = 'REDIRECT';

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface Resources {
  requests: ResourceList;
  limits: ResourceList;
}

export interface EnvVar {
  name: string;
  value: string;
}

/** A volume siding adds to the pod and mounts into the proxy. Names start with `siding-`. */
export interface ProxyVolume {
  name: string;
  mountPath: string;
  readOnly: boolean;
  source: { emptyDir: { medium?: 'Memory'; sizeLimit?: string } } | { configMap: { name: string } };
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: readonly string[];
}

/** Kubernetes label selector semantics: every matchLabels entry and every expression must hold. */
export interface LabelSelector {
  matchLabels: Readonly<Record<string, string>>;
  matchExpressions: readonly LabelSelectorRequirement[];
}

export interface ProxyConfig {
  image: string;
  imagePullPolicy: PullPolicy;
  /**
   * Empty: the image's entrypoint. `[siding, proxy]` (the default): siding computes that
   * command's flags from this config and puts them in args, before `args`.
   */
  command: readonly string[];
  args: readonly string[];
  env: readonly EnvVar[];
  volumes: readonly ProxyVolume[];
  uid: number;
  gid: number;
  /** Outbound capture port (`-p`). */
  outboundPort: number;
  /** Inbound capture port (`-z`). */
  inboundPort: number;
  metricsPort: number;
  healthPort: number;
  /** HTTP path on the health port that answers 200 when the proxy is ready. */
  readinessPath: string;
  /** After SIGTERM, how long open connections may go on (`siding proxy --drain-seconds`). */
  drainSeconds: number;
  /** Open connections the proxy accepts at once; more are refused (`siding proxy --max-connections`). */
  maxConnections: number;
  resources: Resources;
}

export interface InitConfig {
  image: string;
  imagePullPolicy: PullPolicy;
  /** The program and subcommand; the redirect flags are appended as args. */
  command: readonly string[];
  resources: Resources;
}

/**
 * The config's `redirect` section: what every injected pod's `siding init` is told, unless
 * the pod's annotations say otherwise. (`siding init`'s own typed options are
 * src/redirect's `RedirectConfig`.)
 */
export interface RedirectDefaults {
  interceptionMode: InterceptionMode;
  includeInboundPorts: PortSelection;
  excludeInboundPorts: readonly PortRange[];
  includeOutboundPorts: readonly PortRange[];
  excludeOutboundPorts: readonly PortRange[];
  includeOutboundIPRanges: CidrSelection;
  excludeOutboundIPRanges: readonly Cidr[];
  excludeInterfaces: readonly string[];
  redirectDNS: boolean;
  dnsPort: number;
}

export interface InjectionConfig {
  /** `enabled`: inject unless a pod opts out; `disabled`: only pods that opt in. */
  policy: 'enabled' | 'disabled';
  /** siding's own namespace; always excluded (the webhook must never depend on itself). */
  sidingNamespace: string;
  excludedNamespaces: readonly string[];
  neverInjectSelector: readonly LabelSelector[];
  alwaysInjectSelector: readonly LabelSelector[];
  /** Proxy as a native sidecar (init container with restartPolicy Always). */
  nativeSidecar: boolean;
  /** Classic layout only: proxy first, app containers wait for it (postStart hook). */
  holdApplicationUntilProxyStarts: boolean;
  proxy: ProxyConfig;
  init: InitConfig;
  redirect: RedirectDefaults;
}
