/**
 * The typed mutators: each changes one part of the pod the engine is building (already
 * stripped of a previous injection). They assign new lists and maps rather than editing
 * the pod's own, so the result can share everything else with the diff base.
 */
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { STATUS_ANNOTATION } from './annotations.js';
import type { PodSettings } from './settings.js';
import { DEFAULT_CONTAINER_ANNOTATION, PROXY_CONTAINER, type InjectionRecord } from './status.js';

export function addContainers(pod: V1Pod, init: V1Container, proxy: V1Container, settings: PodSettings): void {
  const spec = pod.spec ?? { containers: [] };
  const userInit = spec.initContainers ?? [];
  if (settings.nativeSidecar) {
    // The redirect first, then the proxy, then the pod's own init containers (in the mesh too).
    spec.initContainers = [init, proxy, ...userInit];
  } else {
    // The redirect last, on purpose. In this layout the proxy is an ordinary container, so
    // it starts only after every init container has finished: with the redirect first, the
    // pod's own init containers would have their outbound TCP sent to a port where nothing
    // listens yet, and any that uses the network would fail. Their traffic bypasses the
    // proxy instead (docs/config.md, nativeSidecar); native sidecars have neither problem.
    spec.initContainers = [...userInit, init];
    spec.containers = settings.holdApplicationUntilProxyStarts ? [proxy, ...spec.containers] : [...spec.containers, proxy];
  }
  pod.spec = spec;
}

export function addVolumes(pod: V1Pod, volumes: readonly V1Volume[]): void {
  const spec = pod.spec ?? { containers: [] };
  spec.volumes = [...(spec.volumes ?? []), ...volumes];
  pod.spec = spec;
}

/** Classic layout puts the proxy first; point kubectl logs/exec at the app unless the pod already chose. */
export function addDefaultContainer(pod: V1Pod, record: InjectionRecord): void {
  if (record.layout !== 'classic') return;
  const first = pod.spec?.containers.find((c) => c.name !== PROXY_CONTAINER);
  const annotations = pod.metadata?.annotations ?? {};
  if (first === undefined || Object.hasOwn(annotations, DEFAULT_CONTAINER_ANNOTATION)) return;
  annotations[DEFAULT_CONTAINER_ANNOTATION] = first.name;
  pod.metadata = { ...pod.metadata, annotations };
  record.annotations.push(DEFAULT_CONTAINER_ANNOTATION);
}

export function markInjected(pod: V1Pod, recordText: string): void {
  const metadata = pod.metadata ?? {};
  metadata.annotations = { ...metadata.annotations, [STATUS_ANNOTATION]: recordText };
  pod.metadata = metadata;
}
