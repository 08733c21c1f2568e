/**
 * siding's own containers and volumes, built from the config and a pod's settings:
 * `siding-init` with its `siding init` flags, `siding-proxy` with its probes and (for
 * `siding proxy`) its flags, and the volumes they mount. Pure functions of their inputs.
 */
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import type { InjectionConfig, RedirectDefaults, Resources } from '../config/index.js';
// Not the src/config barrel: that loads the config file parser (and yaml), which the
// webhook needs only with --config.
import { XTABLES_LOCK_VOLUME } from '../config/defaults.js';
import { formatCidrList, formatCidrSelection, formatPortList, formatPortSelection } from '../grammar/index.js';
import { isSidingProxy, proxyArgs } from './proxy-args.js';
import type { PodSettings } from './settings.js';
import { INIT_CONTAINER, PROXY_CONTAINER } from './status.js';

/** Port names on siding-proxy: valid IANA service names (at most 15 characters, a letter). */
export const METRICS_PORT_NAME = 'http-envoy-prom';
export const HEALTH_PORT_NAME = 'siding-health';
/** Where the init container's xtables lock lives (its root filesystem is read-only). */
export const XTABLES_LOCK_DIR = '/run/xtables';

/**
 * The `siding init` flags (Istio-compatible). -i/-x/-b/-d are always given, as Istio's
 * injector gives them to istio-iptables; -o/-q/-c only when non-empty. The metrics and health ports are always
 * excluded from inbound capture so probes and scrapes reach the proxy itself.
 */
export function initArgs(config: InjectionConfig, redirect: RedirectDefaults): string[] {
  const p = config.proxy;
  const exclude = [
    { from: p.metricsPort, to: p.metricsPort },
    { from: p.healthPort, to: p.healthPort },
    ...redirect.excludeInboundPorts,
  ].filter((r, i, all) => all.findIndex((o) => o.from === r.from && o.to === r.to) === i);
  const args = [
    '-p', String(p.outboundPort),
    '-z', String(p.inboundPort),
    '-u', String(p.uid),
    '-g', String(p.gid),
    '-m', redirect.interceptionMode,
    '-i', formatCidrSelection(redirect.includeOutboundIPRanges),
    '-x', formatCidrList(redirect.excludeOutboundIPRanges),
    '-b', formatPortSelection(redirect.includeInboundPorts),
    '-d', formatPortList(exclude),
  ];
  if (redirect.excludeOutboundPorts.length > 0) args.push('-o', formatPortList(redirect.excludeOutboundPorts));
  if (redirect.includeOutboundPorts.length > 0) args.push('-q', formatPortList(redirect.includeOutboundPorts));
  if (redirect.excludeInterfaces.length > 0) args.push('-c', redirect.excludeInterfaces.join(','));
  if (redirect.redirectDNS) args.push('--redirect-dns', '--dns-port', String(redirect.dnsPort));
  return args;
}

function resourcesField(r: Resources): NonNullable<V1Container['resources']> {
  const out: NonNullable<V1Container['resources']> = {};
  if (Object.keys(r.requests).length > 0) out.requests = { ...r.requests };
  if (Object.keys(r.limits).length > 0) out.limits = { ...r.limits };
  return out;
}

export function buildInitContainer(config: InjectionConfig, settings: PodSettings): V1Container {
  return {
    name: INIT_CONTAINER,
    image: config.init.image,
    imagePullPolicy: config.init.imagePullPolicy,
    command: [...config.init.command],
    args: initArgs(config, settings.redirect),
    env: [{ name: 'XTABLES_LOCKFILE', value: `${XTABLES_LOCK_DIR}/xtables.lock` }],
    resources: resourcesField(config.init.resources),
    securityContext: {
      // iptables needs root and these two capabilities in the pod's network namespace; nothing more.
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: XTABLES_LOCK_VOLUME, mountPath: XTABLES_LOCK_DIR }],
  };
}

/**
 * The classic layout's postStart hook: poll the health endpoint until it answers 200, so
 * the kubelet starts the next container only when the proxy is ready. bash's /dev/tcp keeps
 * it free of curl/wget. Only validated config values are interpolated (an integer port and
 * a path restricted to [A-Za-z0-9._/-]); nothing from the pod reaches this script.
 */
export function waitReadyCommand(config: InjectionConfig): string[] {
  const { healthPort, readinessPath } = config.proxy;
  const script = [
    'for i in $(seq 1 600); do',
    `  if (exec 3<>/dev/tcp/127.0.0.1/${healthPort} && printf 'GET ${readinessPath} HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 s <&3 && case "$s" in *" 200 "*) exit 0;; *) exit 1;; esac) 2>/dev/null; then exit 0; fi`,
    '  sleep 0.1',
    'done',
    "echo 'siding-proxy did not become ready' >&2",
    'exit 1',
  ].join('\n');
  return ['bash', '-c', script];
}

export function buildProxyContainer(config: InjectionConfig, settings: PodSettings, layout: 'native' | 'classic'): V1Container {
  const p = config.proxy;
  const probe = (): V1Container['startupProbe'] & object => ({ httpGet: { path: p.readinessPath, port: p.healthPort } });
  const c: V1Container = {
    name: PROXY_CONTAINER,
    image: settings.proxyImage,
    imagePullPolicy: p.imagePullPolicy,
  };
  if (p.command.length > 0) c.command = [...p.command];
  const args = isSidingProxy(p.command) ? [...proxyArgs(config, settings.redirect, layout), ...p.args] : [...p.args];
  if (args.length > 0) c.args = args;
  c.env = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'INSTANCE_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
    ...p.env.map((e) => ({ name: e.name, value: e.value })),
  ];
  c.ports = [
    { name: METRICS_PORT_NAME, containerPort: p.metricsPort, protocol: 'TCP' },
    { name: HEALTH_PORT_NAME, containerPort: p.healthPort, protocol: 'TCP' },
  ];
  c.resources = resourcesField(settings.proxyResources);
  c.securityContext = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsGroup: p.gid,
    runAsNonRoot: true,
    runAsUser: p.uid,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  // Istio's timings: the startup probe allows 10 minutes at 1 s, readiness polls every 15 s.
  c.startupProbe = { ...probe(), periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 };
  c.readinessProbe = { ...probe(), periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 };
  if (p.volumes.length > 0) {
    c.volumeMounts = p.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath, ...(v.readOnly ? { readOnly: true } : {}) }));
  }
  if (layout === 'native') c.restartPolicy = 'Always';
  else if (settings.holdApplicationUntilProxyStarts) c.lifecycle = { postStart: { exec: { command: waitReadyCommand(config) } } };
  return c;
}

export function buildVolumes(config: InjectionConfig): V1Volume[] {
  return [
    { name: XTABLES_LOCK_VOLUME, emptyDir: {} },
    ...config.proxy.volumes.map((v): V1Volume =>
      v.configMap !== undefined ? { name: v.name, configMap: { name: v.configMap.name } } : { name: v.name, emptyDir: { ...v.emptyDir } },
    ),
  ];
}
