/**
 * Shared by test/e2e/cni/*.test.ts (the node brought up with `kube-testenv.sh up --cni`):
 * where the node keeps its CNI directories, the agent's DaemonSet and pod, pods that meet
 * Pod Security "restricted" on their own, and the agent's counters.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as k8s from '@kubernetes/client-node';
import { SIDING, eventually, kubectl, stateDir, type Clients } from './cluster.js';
import { exec, nodeContainer, pod, sumSamples } from './node.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

/** `kube-testenv.sh env` of the environment the suite runs against. */
export function testenvPaths(): { binDir: string; confDir: string; original: string } {
  const out = execFileSync('bash', [join(repo, 'scripts/kube-testenv.sh'), 'env'], { encoding: 'utf8', env: { ...process.env, SIDING_TESTENV_DIR: stateDir } });
  const env = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { binDir: env.cni_bin_dir ?? '', confDir: env.cni_conf_dir ?? '', original: env.cni_conf_original ?? '' };
}

export const AGENT = { daemonSet: 'siding-cni', container: 'agent', labels: 'app.kubernetes.io/component=cni', conflist: '10-siding-testenv.conflist' } as const;

/** The DaemonSet once its pod on the node is ready (and, when given, a new pod than `notUid`). */
export async function agentReady(c: Clients, notUid?: string): Promise<k8s.V1Pod> {
  return eventually(
    'the siding-cni agent to be ready',
    async () => {
      const pods = await c.core.listNamespacedPod({ namespace: SIDING.namespace, labelSelector: AGENT.labels });
      return pods.items.find(
        (p) => p.metadata?.uid !== notUid && p.metadata?.deletionTimestamp === undefined && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
      );
    },
    120_000,
  );
}

/** The agent's Prometheus exposition (from inside its container: it listens on the node's loopback). */
export async function agentMetrics(agent: k8s.V1Pod): Promise<string> {
  const script = "fetch('http://127.0.0.1:15029/metrics').then((r)=>r.text()).then((t)=>process.stdout.write(t))";
  const r = await exec(SIDING.namespace, agent.metadata?.name ?? '', AGENT.container, ['node', '-e', script]);
  if (r.exitCode !== 0) throw new Error(`reading the agent's metrics failed: ${r.stderr}`);
  return r.stdout;
}

/** CNI calls the agent answered, by result. */
export function agentCalls(metrics: string, result: string): number {
  return sumSamples(metrics, 'siding_cni_requests_total', { command: 'ADD', result });
}

/** Labels of a namespace siding injects and Pod Security "restricted" enforces. */
export const RESTRICTED_INJECTED = {
  'siding-injection': 'enabled',
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
} as const;

/** What "restricted" asks of a pod's own containers, set at the pod and on the container. */
const RESTRICTED_POD: Partial<k8s.V1PodSpec> = {
  securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
};
const RESTRICTED_CONTAINER: Partial<k8s.V1Container> = {
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
};

/** A pod of siding's image running `node -e script` that meets "restricted" on its own. */
export function restrictedPod(namespace: string, name: string, script: string, extra: Partial<k8s.V1Container> = {}, meta: Partial<k8s.V1ObjectMeta> = {}): k8s.V1Pod {
  return pod(namespace, name, { ...RESTRICTED_POD, containers: [nodeContainer('app', script, { ...RESTRICTED_CONTAINER, ...extra })] }, meta);
}

/** A Deployment of such pods. */
export function restrictedDeployment(namespace: string, name: string, script: string, labels: Record<string, string>, extra: Partial<k8s.V1Container> = {}, annotations: Record<string, string> = {}): k8s.V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations },
        spec: { terminationGracePeriodSeconds: 10, ...RESTRICTED_POD, containers: [nodeContainer('app', script, { ...RESTRICTED_CONTAINER, ...extra })] },
      },
    },
  };
}

/** A Service on port 80 to 8080 of the pods with these labels. */
export function service(namespace: string, name: string, labels: Record<string, string>): k8s.V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } };
}

/** What a proxy counted in one direction (connections by outcome, bytes), read at the pod IP. */
export { traffic, trafficDelta } from './node.js';

/** The peer addresses a server saw, IPv4-mapped IPv6 written as IPv4 (dual-stack sockets). */
export function peerAddresses(peers: Record<string, number>): string[] {
  return [...new Set(Object.keys(peers).map((a) => a.replace(/^::ffff:/, '')))];
}

/** The last lines of the agent's log, for a failure message. */
export async function agentLog(lines = 40): Promise<string> {
  const r = await kubectl(['-n', SIDING.namespace, 'logs', '-l', AGENT.labels, '--tail', String(lines), '--all-containers']);
  return r.stdout + r.stderr;
}

/** What makes a pod injected in CNI mode: the record's cniRedirect and siding-validation in place of siding-init. */
export function cniInjectionProblems(p: k8s.V1Pod): string[] {
  const out: string[] = [];
  const name = p.metadata?.name ?? '?';
  const raw = p.metadata?.annotations?.['siding.io/status'];
  let record: { cniRedirect?: unknown; initContainers?: unknown } = {};
  try {
    record = JSON.parse(raw ?? '') as typeof record;
  } catch {
    out.push(`${name}: no siding.io/status record`);
  }
  if (!Array.isArray(record.cniRedirect) || record.cniRedirect.length === 0) out.push(`${name}: the record has no cniRedirect`);
  const init = (p.spec?.initContainers ?? []).map((c) => c.name);
  if (init.join(',') !== 'siding-validation,siding-proxy') out.push(`${name}: init containers ${init.join(',')}`);
  if (JSON.stringify(record.initContainers) !== JSON.stringify(init)) out.push(`${name}: the record names init containers ${JSON.stringify(record.initContainers)}`);
  return out;
}
