/**
 * What the engine derives from a config, built once and shared: siding's own containers
 * and volumes per annotation values (frozen, their JSON remembered for `serializePatch`),
 * the names of siding's volumes and the ports siding-proxy reserves.
 */
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import type { InjectionConfig } from '../config/index.js';
import { XTABLES_LOCK_VOLUME } from '../config/defaults.js';
import { deepFreeze } from '../freeze.js';
import type { AnnotationValues } from './annotations.js';
import { buildInitContainer, buildProxyContainer, buildVolumes } from './containers.js';
import { frozenWithJson } from './patch-json.js';
import { resolveSettings, type PodSettings } from './settings.js';

/** siding's own containers and volumes for one pod: frozen, shared by every pod with the same settings. */
export interface InjectionParts {
  /** Config overlaid with the annotation values the parts were built for. */
  settings: PodSettings;
  init: V1Container;
  proxy: V1Container;
  volumes: readonly V1Volume[];
  /** The status record's text, by the pod annotations siding added besides it (none, or the default container). */
  recordText: Map<string, string>;
}

// Distinct annotation values per config whose parts are kept. Pods of one workload share
// theirs, so a cluster has a few; the bound only keeps hostile variety from growing memory.
const MAX_PARTS_PER_CONFIG = 64;

/** What the engine derives from one config object (a config is never changed; a reload brings a new object). */
interface ConfigDerived {
  /** Parts by annotation values (JSON), at most MAX_PARTS_PER_CONFIG. */
  parts: Map<string, InjectionParts>;
  /** Names of the volumes siding adds. */
  ourVolumes: ReadonlySet<string>;
  /** Ports siding-proxy uses, and what for. */
  reservedPorts: ReadonlyMap<number, string>;
}

const derivedByConfig = new WeakMap<InjectionConfig, ConfigDerived>();

export function derived(config: InjectionConfig): ConfigDerived {
  let d = derivedByConfig.get(config);
  if (d === undefined) {
    const p = config.proxy;
    d = {
      parts: new Map(),
      ourVolumes: new Set([XTABLES_LOCK_VOLUME, ...p.volumes.map((v) => v.name)]),
      reservedPorts: new Map<number, string>([
        [p.outboundPort, 'outbound capture'],
        [p.inboundPort, 'inbound capture'],
        [p.metricsPort, 'metrics'],
        [p.healthPort, 'health'],
      ]),
    };
    derivedByConfig.set(config, d);
  }
  return d;
}

/**
 * The parts `buildInitContainer`, `buildProxyContainer` and `buildVolumes` make, built once
 * per config (by identity: a config is never changed, a reload brings a new object) and per
 * annotation values, which with the config decide the settings. They are frozen, so a pod
 * can hold them without a copy, and their JSON is remembered for `serializePatch`.
 */
export function injectionParts(config: InjectionConfig, values: Partial<AnnotationValues>): InjectionParts {
  const byValues = derived(config).parts;
  const key = JSON.stringify(values);
  let parts = byValues.get(key);
  if (parts === undefined) {
    const settings = deepFreeze(resolveSettings(config, values));
    parts = {
      settings,
      init: frozenWithJson(buildInitContainer(config, settings)),
      proxy: frozenWithJson(buildProxyContainer(config, settings, settings.nativeSidecar ? 'native' : 'classic')),
      volumes: Object.freeze(buildVolumes(config).map((v) => frozenWithJson(v))),
      recordText: new Map(),
    };
    if (byValues.size >= MAX_PARTS_PER_CONFIG) byValues.clear();
    byValues.set(key, parts);
  }
  return parts;
}
