/**
 * The webhook's fastify app: routes, schemas, metrics, logging. It never listens
 * (server.ts does), so tests drive it with `app.inject()`.
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerFactory } from 'fastify';
import pino from 'pino';
import type { Registry } from 'prom-client';
import type { InjectionConfig } from '../config/index.js';
import { displayValue } from '../grammar/index.js';
import { injectPod } from '../inject/index.js';
import {
  DEFAULT_REVIEW_LIMITS,
  reserveParsed,
  ReviewBudget,
  type Refusal,
  type ReviewLease,
  type ReviewLimits,
} from './limits.js';
import { largeBodyCollector } from './gc.js';
import { createAdmissionMetrics, createBudgetMetrics } from './metrics.js';
import { reviewRequest, type InjectFn, type NamespaceLabelsFn } from './review.js';
import {
  admissionReviewBodySchema,
  admissionReviewResponseSchema,
  errorResponseSchema,
  healthResponseSchema,
} from './schemas.js';
import type { ConfigStatus } from './config-status.js';
import type { AdmissionReviewRequest, AdmissionReviewResponse } from './types.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppDeps {
  /** The config for the next review; called once per review, so a watcher can swap it at any time. */
  getConfig: () => InjectionConfig;
  /** Default: always ok, "static config". */
  configStatus?: () => ConfigStatus;
  /** Metrics are registered here and served by GET /metrics. */
  registry: Registry;
  /** Namespace labels when known (cluster mode's namespace cache), for the Pod Security warning. */
  namespaceLabels?: NamespaceLabelsFn;
  /** The injection engine; default injectPod. Tests pass a throwing one to reach the error path. */
  inject?: InjectFn;
  /**
   * The process's one pino logger (run.ts makes it at start-up and gives it to the
   * Kubernetes parts too); fastify logs through it. Without it, one is made here from
   * `log` (level, default info; stream, default stdout).
   */
  logger?: FastifyBaseLogger;
  log?: { level?: LogLevel; stream?: { write(line: string): void } };
  /** Bounds on reviews in flight (limits.ts); default DEFAULT_REVIEW_LIMITS. */
  limits?: Partial<ReviewLimits>;
  /**
   * True once the server drains (server.ts): /readyz answers 503 and every answer carries
   * `Connection: close`. Without it, the app drains when it starts closing.
   */
  draining?: () => boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The review budget's lease of a POST /inject request (null elsewhere). */
    reviewLease: ReviewLease | null;
  }
}

/** Seconds the API server waits before it retries a review answered 429 (client-go honours Retry-After). */
export const RETRY_AFTER_SECONDS = 1;

/** An HTTP error the error handler answers with its status and code. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const REFUSALS: Record<Refusal, () => HttpError> = {
  inFlight: () => new HttpError(429, 'SIDING_BUSY', 'too many reviews in flight; retry later'),
  memory: () => new HttpError(429, 'SIDING_BUSY', 'the reviews in flight hold the memory budget; retry later'),
  tooLarge: () => new HttpError(413, 'SIDING_BODY_TOO_COSTLY', 'the body would take more memory to parse than the webhook may use for all reviews together'),
};

/**
 * The answer's JSON, with the fields in the order of admissionReviewResponseSchema and only
 * the fields it names (what fast-json-stringify would write for it). The patch is base64
 * (review.ts makes it with Buffer#toString('base64'), and nothing else sets it): its
 * alphabet needs no escaping, so it is copied in without another scan of its kilobytes
 * (which JSON.stringify would do; BENCHMARKS.md, item 8, has what that cost).
 */
export function serializeReview(review: AdmissionReviewResponse): string {
  const r = review.response;
  let out = `{"apiVersion":${JSON.stringify(review.apiVersion)},"kind":"AdmissionReview","response":{"uid":${JSON.stringify(r.uid)},"allowed":${r.allowed ? 'true' : 'false'}`;
  if (r.patchType !== undefined) out += `,"patchType":${JSON.stringify(r.patchType)}`;
  if (r.patch !== undefined) out += `,"patch":"${r.patch}"`;
  if (r.status !== undefined) {
    out += `,"status":${JSON.stringify({ code: Math.trunc(r.status.code), reason: r.status.reason, message: r.status.message })}`;
  }
  if (r.warnings !== undefined) out += `,"warnings":${JSON.stringify(r.warnings)}`;
  return `${out}}}`;
}

/** The process's JSON logger: pino at `level`, to `stream` (default stdout). */
export function createLogger(level: LogLevel, stream?: { write(line: string): void }): FastifyBaseLogger {
  return stream === undefined ? pino({ level }) : pino({ level }, stream);
}

export interface AppOptions {
  /** server.ts passes the HTTPS server it owns; without it fastify makes a plain HTTP server. */
  serverFactory?: FastifyServerFactory;
}

/**
 * Largest request body: 4 MiB. The API server accepts create requests up to 3 MiB
 * (MaxRequestBodyBytes) and etcd stores at most 1.5 MiB per object, so no storable pod is
 * larger; the review re-encodes the pod as JSON (larger than protobuf) and wraps it with
 * userInfo and the envelope, which the extra MiB covers. It also bounds memory: 16 reviews
 * in flight buffer at most 64 MiB.
 */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Builds the app: routes POST /inject, GET /healthz, /readyz, /metrics. Never listens; call
 * `app.inject()` (tests) or let server.ts listen. Close it to release it.
 */
export function buildApp(deps: AppDeps, options: AppOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger ?? createLogger(deps.log?.level ?? 'info', deps.log?.stream),
    // One line per review is logged by the handler; fastify's two per request would triple it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // While closing, keep answering requests that arrive on open keep-alive connections (with
    // "Connection: close") instead of fastify's 503: the API server would count a 503 as a
    // failed webhook call and, under failurePolicy Fail, reject the pod.
    return503OnClosing: false,
    // server.ts closes idle connections itself, only once they are really idle: Node's
    // closeIdleConnections() can race a request the client is sending.
    forceCloseConnections: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
  });

  const inject = deps.inject ?? injectPod;
  const configStatus = deps.configStatus ?? (() => ({ ok: true, detail: 'static config' }));
  const metrics = createAdmissionMetrics(deps.registry, configStatus);
  const budget = new ReviewBudget({ ...DEFAULT_REVIEW_LIMITS, ...deps.limits });
  const budgetMetrics = createBudgetMetrics(deps.registry, budget);
  const collectLargeBody = largeBodyCollector();
  let closing = false;
  const draining = deps.draining === undefined ? () => closing : () => deps.draining?.() === true || closing;

  // Only JSON is an AdmissionReview; anything else is a 415 (fastify would parse text/plain).
  app.removeContentTypeParser('text/plain');

  // JSON bodies as buffers, so that a review's parsed size is estimated (and reserved from
  // the budget) before JSON.parse builds it; then fastify's own parser (prototype-poisoning
  // checks included).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const lease = request.reviewLease;
    const buffer = body as Buffer;
    if (lease !== null) {
      const granted = reserveParsed(lease, buffer);
      if (granted !== 'granted') {
        budgetMetrics.overload.inc({ reason: granted });
        done(REFUSALS[granted](), undefined);
        return;
      }
    }
    void parseJson(request, buffer.toString('utf8'), done);
  });

  app.decorateRequest('reviewLease', null);
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining()) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.requests.inc({ route: request.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
    done();
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error, url: request.url }, 'request failed');
    } else {
      request.log.info({ status, code: error.code, message: error.message, url: request.url }, 'request rejected');
    }
    if (status === 429) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    void reply.code(status).send({
      statusCode: status,
      code: error.code ?? (status === 500 ? 'INTERNAL' : 'BAD_REQUEST'),
      error: STATUS_CODES[status] ?? 'Error',
      message: status === 500 ? 'internal error' : error.message,
    });
  });

  const errorResponses = {
    400: errorResponseSchema,
    413: errorResponseSchema,
    415: errorResponseSchema,
    429: errorResponseSchema,
    500: errorResponseSchema,
  };

  app.post<{ Body: AdmissionReviewRequest }>(
    '/inject',
    {
      schema: { body: admissionReviewBodySchema, response: { 200: admissionReviewResponseSchema, ...errorResponses } },
      // Before the body is read: a review gets a lease for its raw body, or a 429 (413) at
      // once, and its body is then read and thrown away by node without being buffered.
      onRequest: (request, reply, done) => {
        const declared = Number(request.headers['content-length']);
        const bodyBytes = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, BODY_LIMIT_BYTES) : BODY_LIMIT_BYTES;
        const lease = budget.admit(bodyBytes);
        if (typeof lease === 'string') {
          budgetMetrics.overload.inc({ reason: lease });
          // Node would read a refused body to its end to keep the connection; for a large
          // one that is megabytes of garbage per refusal, so the connection goes instead.
          if (bodyBytes > budget.limits.largeBodyBytes) void reply.header('connection', 'close');
          done(REFUSALS[lease]());
          return;
        }
        request.reviewLease = lease;
        // 'close' comes once the answer is written (or the client is gone): the review's
        // memory is garbage from then on, and a large body's is collected (gc.ts).
        reply.raw.once('close', () => {
          lease.release();
          if (bodyBytes > budget.limits.largeBodyBytes) collectLargeBody();
        });
        done();
      },
    },
    (request, reply): string => {
      const review = request.body;
      const result = reviewRequest(review.request, deps.getConfig, inject, deps.namespaceLabels);
      const elapsedMs = reply.elapsedTime;
      metrics.reviewDuration.observe(elapsedMs / 1000);
      switch (result.decision) {
        case 'injected':
          metrics.injections.inc({ result: 'patched' });
          break;
        case 'unchanged':
          metrics.injections.inc({ result: 'unchanged' });
          break;
        case 'skipped':
        case 'ignored':
          metrics.skips.inc({ reason: result.reason });
          break;
        case 'denied':
          metrics.denials.inc();
          break;
        case 'error':
          metrics.errors.inc();
          break;
      }
      const line: Record<string, unknown> = {
        uid: review.request.uid,
        // Every field is bounded: names are shown escaped and cut, the message and warnings
        // list at most MAX_REPORTED_PROBLEMS problems of bounded length each.
        namespace: result.namespace ?? (review.request.namespace === undefined ? undefined : displayValue(review.request.namespace)),
        pod: result.pod,
        kind: displayValue(review.request.kind.kind),
        operation: review.request.operation,
        decision: result.decision,
        reason: result.reason,
      };
      if (result.message !== undefined) line.message = result.message;
      if (result.response.warnings !== undefined) line.warnings = result.response.warnings;
      line.duration_ms = Math.round(elapsedMs * 1000) / 1000;
      if (result.decision === 'error') request.log.error({ ...line, err: result.error }, 'admission review');
      else request.log.info(line, 'admission review');
      // Serialised here, once, with JSON.stringify: a string with a JSON content type skips
      // fastify's serializer (the 200 schema documents the shape), which would re-scan the
      // kilobytes of base64 patch for characters to escape.
      void reply.type('application/json; charset=utf-8');
      const answer = serializeReview({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response: result.response });
      // The parsed review (a 64 KB pod is hundreds of kilobytes of objects) is not needed
      // any more, but fastify keeps the request, and with it the body, until the answer is
      // flushed to the socket. Under load that outlives young-generation collections, so
      // every review's pod was promoted to the old generation: releasing it here cuts the
      // resident memory under load (BENCHMARKS.md, item 8, has the figures).
      request.body = undefined as unknown as AdmissionReviewRequest;
      return answer;
    },
  );

  app.get('/healthz', { schema: { response: { 200: healthResponseSchema } } }, () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { response: { 200: healthResponseSchema, 503: healthResponseSchema } } }, (_request, reply) => {
    if (draining()) {
      void reply.code(503);
      return { status: 'shutting down' };
    }
    const config = configStatus();
    void reply.code(config.ok ? 200 : 503);
    return { status: config.ok ? 'ready' : 'not ready', config };
  });

  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', deps.registry.contentType);
    return deps.registry.metrics();
  });

  return app;
}
