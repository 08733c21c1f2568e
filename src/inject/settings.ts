/**
 * A pod's settings: the config overlaid with the pod's annotation values. Everything the
 * container builders and mutators need, decided once per pod.
 */
import type { InjectionConfig, RedirectDefaults, Resources } from '../config/index.js';
import type { AnnotationValues } from './annotations.js';

/** Everything the mutators need, after config and annotations are merged. */
export interface PodSettings {
  proxyImage: string;
  proxyResources: Resources;
  nativeSidecar: boolean;
  holdApplicationUntilProxyStarts: boolean;
  redirect: RedirectDefaults;
}

/** Config overlaid with the pod's annotations (annotations replace config values). */
export function resolveSettings(config: InjectionConfig, v: Partial<AnnotationValues>): PodSettings {
  const r = config.redirect;
  const req = config.proxy.resources.requests;
  const lim = config.proxy.resources.limits;
  const pick = <T>(x: T | undefined, d: T): T => (x === undefined ? d : x);
  const list = (cpu: string | undefined, memory: string | undefined): Resources['requests'] => {
    const out: Resources['requests'] = {};
    if (cpu !== undefined) out.cpu = cpu;
    if (memory !== undefined) out.memory = memory;
    return out;
  };
  return {
    proxyImage: pick(v.proxyImage, config.proxy.image),
    proxyResources: {
      requests: list(pick(v.proxyCPU, req.cpu), pick(v.proxyMemory, req.memory)),
      limits: list(pick(v.proxyCPULimit, lim.cpu), pick(v.proxyMemoryLimit, lim.memory)),
    },
    nativeSidecar: pick(v.nativeSidecar, config.nativeSidecar),
    holdApplicationUntilProxyStarts: pick(v.holdApplicationUntilProxyStarts, config.holdApplicationUntilProxyStarts),
    redirect: {
      interceptionMode: pick(v.interceptionMode, r.interceptionMode),
      includeInboundPorts: pick(v.includeInboundPorts, r.includeInboundPorts),
      excludeInboundPorts: pick(v.excludeInboundPorts, r.excludeInboundPorts),
      includeOutboundPorts: pick(v.includeOutboundPorts, r.includeOutboundPorts),
      excludeOutboundPorts: pick(v.excludeOutboundPorts, r.excludeOutboundPorts),
      includeOutboundIPRanges: pick(v.includeOutboundIPRanges, r.includeOutboundIPRanges),
      excludeOutboundIPRanges: pick(v.excludeOutboundIPRanges, r.excludeOutboundIPRanges),
      excludeInterfaces: pick(v.excludeInterfaces, r.excludeInterfaces),
      redirectDNS: r.redirectDNS,
      dnsPort: r.dnsPort,
    },
  };
}
