/**
 * The agent's two HTTP faces, as fastify apps that never listen themselves (agent.ts does):
 * - `buildSocketApp`: `POST /v1/cni`, what siding's CNI plugin calls over the unix socket;
 * - `buildHealthApp`: `GET /healthz`, `/readyz` and `/metrics` on a loopback TCP port for
 *   the kubelet's probes (the agent runs in the node's network namespace).
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LogLevel } from '../admission/app.js';
import { handleCni, type HandlerDeps } from './handler.js';
import { cniRequestSchema, cniVerdictSchema, MAX_REQUEST_BYTES, type CniRequest } from './protocol.js';

export interface AgentMetrics {
  readonly requests: Counter<'command' | 'result'>;
  readonly duration: Histogram<'command'>;
  readonly repairs: Counter<'action' | 'result'>;
  readonly ready: Gauge;
}

export function createAgentMetrics(registry: Registry): AgentMetrics {
  return {
    requests: new Counter({
      name: 'siding_cni_requests_total',
      help: 'CNI calls the agent answered, by command and result (passthrough, programmed, checked, error)',
      labelNames: ['command', 'result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'siding_cni_request_duration_seconds',
      help: 'Time the agent took to answer a CNI call',
      labelNames: ['command'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    repairs: new Counter({
      name: 'siding_cni_repairs_total',
      help: 'Pods found without their redirect: deleted for their controller to recreate, or reported',
      labelNames: ['action', 'result'],
      registers: [registry],
    }),
    ready: new Gauge({ name: 'siding_cni_ready', help: '1 when the plugin is installed and chained and the agent answers', registers: [registry] }),
  };
}

export interface LogOptions {
  level?: LogLevel;
  stream?: { write(line: string): void };
}

function fastify(log: LogOptions | undefined): FastifyInstance {
  return Fastify({
    logger: { level: log?.level ?? 'info', ...(log?.stream === undefined ? {} : { stream: log.stream }) },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_REQUEST_BYTES,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
}

export interface SocketAppDeps extends HandlerDeps {
  readonly metrics: AgentMetrics;
  readonly log?: LogOptions;
}

export function buildSocketApp(deps: SocketAppDeps): FastifyInstance {
  const app = fastify(deps.log);
  app.removeContentTypeParser('text/plain');
  app.post<{ Body: CniRequest }>('/v1/cni', { schema: { body: cniRequestSchema, response: { 200: cniVerdictSchema } } }, async (request, reply) => {
    const req = request.body;
    const verdict = await handleCni(req, deps);
    const seconds = reply.elapsedTime / 1000;
    deps.metrics.duration.observe({ command: req.command }, seconds);
    deps.metrics.requests.inc({ command: req.command, result: verdict.ok ? verdict.action : 'error' });
    const line = {
      command: req.command,
      namespace: req.pod.namespace,
      pod: req.pod.name,
      container: req.containerId.slice(0, 12),
      annotations: req.annotations === undefined ? 'looked up' : 'from the runtime',
      result: verdict.ok ? verdict.action : 'error',
      duration_ms: Math.round(seconds * 1e6) / 1000,
    };
    if (verdict.ok) {
      if (verdict.action === 'passthrough') request.log.debug({ ...line, message: verdict.message }, 'cni');
      else request.log.info({ ...line, message: verdict.message }, 'cni');
    } else request.log.warn({ ...line, code: verdict.code, message: verdict.message }, 'cni');
    return verdict;
  });
  return app;
}

export interface HealthState {
  /** Why the agent is not ready, or undefined when it is. */
  notReady(): string | undefined;
}

export function buildHealthApp(state: HealthState, registry: Registry, log?: LogOptions): FastifyInstance {
  const app = fastify(log);
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', (_request, reply) => {
    const why = state.notReady();
    void reply.code(why === undefined ? 200 : 503);
    return why === undefined ? { status: 'ready' } : { status: 'not ready', reason: why };
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return app;
}
