/**
 * What `siding check` says about how pods get their redirect (pure): the config's
 * redirect mode and, in CNI mode, whether the node agent is ready on every node.
 */
import type { RedirectMode } from '../config/types.js';

export const AGENT_DAEMONSET = 'siding-cni';

export type AgentReport =
  | { readonly kind: 'unchecked' }
  | { readonly kind: 'missing'; readonly namespace: string }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'status'; readonly namespace: string; readonly desired: number; readonly ready: number };

export function describeRedirectMode(mode: RedirectMode, source: string, agent: AgentReport): string {
  if (mode === 'init') return `redirect mode init (${source}): siding-init programs each injected pod's redirect, with NET_ADMIN and NET_RAW`;
  const head = `redirect mode cni (${source}): siding's CNI plugin programs each injected pod's redirect; siding-validation checks it`;
  switch (agent.kind) {
    case 'unchecked':
      return `${head}; node agent not checked (pass --live)`;
    case 'missing':
      return `${head}; node agent NOT INSTALLED: DaemonSet ${agent.namespace}/${AGENT_DAEMONSET} not found, so injected pods cannot start (kubectl apply -k manifests/overlays/cni)`;
    case 'error':
      return `${head}; node agent unknown: ${agent.message}`;
    case 'status': {
      const where = `DaemonSet ${agent.namespace}/${AGENT_DAEMONSET}`;
      if (agent.desired > 0 && agent.ready >= agent.desired) return `${head}; node agent ready on all ${agent.desired} nodes (${where})`;
      return `${head}; node agent NOT READY: ready on ${agent.ready} of ${agent.desired} nodes (${where}); injected pods on the other nodes fail to start until it is`;
    }
  }
}
