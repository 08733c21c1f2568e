import { deepFreeze } from '../freeze.js';
import { VERSION } from '../version.js';
import type { Cidr, PortRange } from '../grammar/index.js';
import type { InjectionConfig } from './types.js';

/** A label selector as the built-in config writes one (none: the lists are empty). */
interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values: string[] }[];
}

/** siding's own image, at this version: it runs `siding init` and `siding proxy`. */
export const SIDING_IMAGE = `ghcr.io/siding-mesh/siding:${VERSION}`;

/** The proxy command whose flags siding computes from the config (see ProxyConfig.command). */
export const SIDING_PROXY_COMMAND: readonly string[] = Object.freeze(['siding', 'proxy']);

/**
 * Bounds of `proxy.drainSeconds` and `siding proxy --drain-seconds`: an hour is longer than
 * any grace period worth giving a pod, and a typo of minutes for seconds is refused.
 */
export const MAX_DRAIN_SECONDS = 3600;
/**
 * Bound of `proxy.maxConnections` and `siding proxy --max-connections`: each connection
 * holds two file descriptors, so a million already needs twice the kernel's default
 * per-process ceiling (fs.nr_open, 1,048,576); a larger cap could never be reached.
 */
export const MAX_PROXY_CONNECTIONS = 1_000_000;

/** Volume names siding adds itself. */
export const XTABLES_LOCK_VOLUME = 'siding-xtables-lock';

/**
 * The built-in injection config, the one source of every default: the schema (schema.ts)
 * takes its `default`s from here, so a config file is merged over it (objects merge,
 * scalars and lists replace). docs/config.md documents every field and this default.
 * Typed by inference (the schema's type cannot depend on it); DEFAULT_CONFIG below checks
 * that it is an InjectionConfig.
 */
export const BUILT_IN = deepFreeze({
  policy: 'enabled' as const,
  sidingNamespace: 'siding-system',
  excludedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
  neverInjectSelector: [] as LabelSelector[],
  alwaysInjectSelector: [] as LabelSelector[],
  nativeSidecar: true,
  holdApplicationUntilProxyStarts: true,
  proxy: {
    // siding's own passthrough proxy, from the same image as siding-init.
    image: SIDING_IMAGE,
    // The proxy runs as the UID the redirect exempts, before the app: pod authors do not
    // choose its image unless the config lets them.
    imageOverridePrefixes: [] as string[],
    imagePullPolicy: 'IfNotPresent' as const,
    command: [...SIDING_PROXY_COMMAND],
    args: [] as string[],
    env: [] as { name: string; value: string }[],
    volumes: [
      { name: 'siding-proxy-tmp', mountPath: '/tmp', readOnly: false, emptyDir: {} },
    ],
    uid: 1337,
    gid: 1337,
    outboundPort: 15001,
    inboundPort: 15006,
    metricsPort: 15090,
    healthPort: 15021,
    readinessPath: '/healthz/ready',
    // Istio's default drain (terminationDrainDuration): long enough for a request in flight,
    // well inside the kubelet's 30 s grace period.
    drainSeconds: 5,
    // About 15 KB of proxy memory per open connection (BENCHMARKS.md): 16,384 of them stay
    // well inside the 1 GiB limit below, and are far more than a pod opens.
    maxConnections: 16384,
    resources: {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '2', memory: '1Gi' },
    },
  },
  init: {
    image: SIDING_IMAGE,
    imagePullPolicy: 'IfNotPresent' as const,
    command: ['siding', 'init'],
    resources: {
      // siding init is a Node.js program: about 50 MiB resident while it runs.
      requests: { cpu: '10m', memory: '64Mi' },
      limits: { cpu: '1', memory: '128Mi' },
    },
  },
  redirect: {
    interceptionMode: 'REDIRECT' as const,
    includeInboundPorts: { kind: 'all' as const },
    excludeInboundPorts: [] as PortRange[],
    includeOutboundPorts: [] as PortRange[],
    excludeOutboundPorts: [] as PortRange[],
    includeOutboundIPRanges: { kind: 'all' as const },
    excludeOutboundIPRanges: [] as Cidr[],
    excludeInterfaces: [] as string[],
    redirectDNS: false,
    dnsPort: 15053,
  },
});

/** The built-in injection config (BUILT_IN, as the type the rest of siding reads). */
export const DEFAULT_CONFIG: InjectionConfig = BUILT_IN;
