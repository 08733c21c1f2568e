/**
 * The `siding proxy` flags of the injected siding-proxy container, computed from the same
 * config and annotation values as siding-init's flags, so nothing is typed twice.
 */
import type { InjectionConfig, RedirectDefaults } from '../config/index.js';
import { SIDING_PROXY_COMMAND } from '../config/defaults.js';

/** Whether the proxy command is siding's own, whose flags siding computes. */
export function isSidingProxy(command: readonly string[]): boolean {
  return command.length === SIDING_PROXY_COMMAND.length && command.every((c, i) => c === SIDING_PROXY_COMMAND[i]);
}

/**
 * Every port, the UID/GID, the drain and the limit, always (the proxy's own defaults are the
 * built-in config's, but a config file may change them); DNS only when it is captured;
 * --exit-when-idle for a native sidecar, which the kubelet stops only after the app.
 */
export function proxyArgs(config: InjectionConfig, redirect: RedirectDefaults, layout: 'native' | 'classic'): string[] {
  const p = config.proxy;
  const args = [
    '--outbound-port', String(p.outboundPort),
    '--inbound-port', String(p.inboundPort),
    '--health-port', String(p.healthPort),
    '--readiness-path', p.readinessPath,
    '--metrics-port', String(p.metricsPort),
    '--uid', String(p.uid),
    '--gid', String(p.gid),
    '--drain-seconds', String(p.drainSeconds),
    '--max-connections', String(p.maxConnections),
  ];
  if (redirect.redirectDNS) args.push('--redirect-dns', '--dns-port', String(redirect.dnsPort));
  if (layout === 'native') args.push('--exit-when-idle');
  return args;
}
