/**
 * The node agent's DaemonSet status, for `siding check --live` in CNI mode: how many nodes
 * should run the agent and on how many it is ready. One GET; the caller's credentials.
 */
import * as k8s from '@kubernetes/client-node';
import { KubeError, errorMessage } from '../errors/index.js';
import { loadKubeConfig, type KubeConfigSource } from './client.js';

export interface DaemonSetStatus {
  /** Nodes that should run it. */
  desired: number;
  /** Nodes where its pod is ready. */
  ready: number;
}

/** undefined when the DaemonSet does not exist; throws KubeError otherwise. */
export async function readDaemonSetStatus(source: KubeConfigSource, namespace: string, name: string): Promise<DaemonSetStatus | undefined> {
  const apps = loadKubeConfig(source).makeApiClient(k8s.AppsV1Api);
  try {
    const ds = await apps.readNamespacedDaemonSet({ namespace, name });
    return { desired: ds.status?.desiredNumberScheduled ?? 0, ready: ds.status?.numberReady ?? 0 };
  } catch (e) {
    if (e instanceof k8s.ApiException && e.code === 404) return undefined;
    throw new KubeError(`get DaemonSet ${namespace}/${name}: ${errorMessage(e)}`, e instanceof k8s.ApiException ? e.code : undefined, { cause: e });
  }
}
