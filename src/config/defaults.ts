import { VERSION } from '../version.js';
import type { InjectionConfig } from './types.js';

/** Volume names siding adds itself. */
export const XTABLES_LOCK_VOLUME = 'siding-xtables-lock';

/**
 * The built-in injection config. A config file is merged over it (objects merge,
 * scalars and lists replace). docs/config.md documents every field and this default.
 */
export const DEFAULT_CONFIG: InjectionConfig = deepFreeze({
  policy: 'enabled',
  sidingNamespace: 'siding-system',
  excludedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
  neverInjectSelector: [],
  alwaysInjectSelector: [],
  nativeSidecar: true,
  holdApplicationUntilProxyStarts: true,
  proxy: {
    // Turning this into a working passthrough data plane is a later issue; until then the
    // image runs with its own entrypoint and command.
    image: 'docker.io/envoyproxy/envoy:v1.34.1',
    imagePullPolicy: 'IfNotPresent',
    command: [],
    args: [],
    env: [],
    volumes: [
      { name: 'siding-proxy-tmp', mountPath: '/tmp', readOnly: false, source: { emptyDir: {} } },
    ],
    uid: 1337,
    gid: 1337,
    outboundPort: 15001,
    inboundPort: 15006,
    metricsPort: 15090,
    healthPort: 15021,
    readinessPath: '/healthz/ready',
    resources: {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '2', memory: '1Gi' },
    },
  },
  init: {
    image: `ghcr.io/siding-mesh/siding:${VERSION}`,
    imagePullPolicy: 'IfNotPresent',
    command: ['siding', 'init'],
    resources: {
      // siding init is a Node.js program: about 50 MiB resident while it runs.
      requests: { cpu: '10m', memory: '64Mi' },
      limits: { cpu: '1', memory: '128Mi' },
    },
  },
  redirect: {
    interceptionMode: 'REDIRECT',
    includeInboundPorts: { kind: 'all' },
    excludeInboundPorts: [],
    includeOutboundPorts: [],
    excludeOutboundPorts: [],
    includeOutboundIPRanges: { kind: 'all' },
    excludeOutboundIPRanges: [],
    excludeInterfaces: [],
    redirectDNS: false,
    dnsPort: 15053,
  },
});

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
