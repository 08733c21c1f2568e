/**
 * Pod creations through the real API server at a fixed concurrency, each timed from the
 * request to the stored pod's answer: the e2e rollout test and the rollout bench use it.
 * One keep-alive HTTPS agent with the kubeconfig's client certificate (as kubectl and
 * controllers keep their connections), so what is timed is the API server's work,
 * admission webhooks included, not TLS handshakes.
 *
 * Not tied to the e2e prerequisites (cluster.ts): the bench imports it too.
 */
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { loadFixture } from '../../helpers/fixtures.js';
import { INIT_CONTAINER, PROXY_CONTAINER } from '../../../src/inject/status.js';

export interface LoadSpec {
  kubeconfig: string;
  namespace: string;
  /** Creations in flight at once. */
  concurrency: number;
  /** At least this many creations. */
  count: number;
  /** When given, creations also go on until this settles (then stop at once, count permitting). */
  until?: Promise<unknown>;
  /** Names are PREFIX-00000, PREFIX-00001, ... */
  prefix: string;
  /** Whether every created pod must carry siding's containers (true in a labelled namespace). */
  expectInjected: boolean;
}

export interface Failure {
  name: string;
  /** HTTP status, or undefined when the request failed below HTTP. */
  status?: number;
  message: string;
}

export interface LoadResult {
  created: number;
  failures: Failure[];
  /** Created pods without siding's containers when they were expected, or with them when not. */
  wrongInjection: string[];
  /** Creation latencies in milliseconds, in completion order, with the time each one finished. */
  samples: { ms: number; at: number }[];
  startedAt: number;
  elapsedMs: number;
}

function agentFor(kubeconfig: string, concurrency: number): { agent: https.Agent; server: URL } {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (cluster === null || user === null) throw new Error(`${kubeconfig} has no current cluster or user`);
  const decode = (data: string | undefined): string | undefined => (data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8'));
  const ca = decode(cluster.caData);
  const cert = decode(user.certData);
  const key = decode(user.keyData);
  if (ca === undefined || cert === undefined || key === undefined) throw new Error(`${kubeconfig} must embed the CA, client certificate and key`);
  return { agent: new https.Agent({ keepAlive: true, maxSockets: concurrency, ca, cert, key }), server: new URL(cluster.server) };
}

function create(agent: https.Agent, server: URL, namespace: string, body: string): Promise<{ status: number; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: server.hostname,
        port: server.port,
        path: `/api/v1/namespaces/${namespace}/pods`,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

/** Runs the creations; never rejects for a failed creation (they are in `failures`). */
export async function createPods(spec: LoadSpec): Promise<LoadResult> {
  const { agent, server } = agentFor(spec.kubeconfig, spec.concurrency);
  const template = loadFixture<k8s.V1Pod>('e2e', 'pod.yaml');
  let settled = spec.until === undefined;
  void spec.until?.finally(() => (settled = true));
  const result: LoadResult = { created: 0, failures: [], wrongInjection: [], samples: [], startedAt: Date.now(), elapsedMs: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < spec.count || !settled) {
      const name = `${spec.prefix}-${String(next++).padStart(5, '0')}`;
      const body = JSON.stringify({ ...template, metadata: { ...template.metadata, name, namespace: spec.namespace } });
      const t0 = performance.now();
      const r = await create(agent, server, spec.namespace, body);
      const ms = performance.now() - t0;
      if ('error' in r) {
        result.failures.push({ name, message: r.error });
        continue;
      }
      if (r.status !== 201) {
        let message = r.text;
        try {
          message = (JSON.parse(r.text) as { message?: string }).message ?? r.text;
        } catch {
          // not a Status: keep the text
        }
        result.failures.push({ name, status: r.status, message });
        continue;
      }
      result.created += 1;
      result.samples.push({ ms, at: Date.now() });
      const pod = JSON.parse(r.text) as k8s.V1Pod;
      const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
      const injected = names.includes(INIT_CONTAINER) && names.includes(PROXY_CONTAINER);
      if (injected !== spec.expectInjected) result.wrongInjection.push(name);
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  agent.destroy();
  result.elapsedMs = Date.now() - result.startedAt;
  return result;
}

/** The q-quantile (0..1) of `values`, nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
