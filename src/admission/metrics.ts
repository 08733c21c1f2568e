import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ConfigStatus } from './config-status.js';

/** Every metric the webhook exports; names and labels are documented in docs/webhook.md. */
export interface AdmissionMetrics {
  requests: Counter<'route' | 'code'>;
  reviewDuration: Histogram;
  injections: Counter<'result'>;
  skips: Counter<'reason'>;
  denials: Counter;
  errors: Counter;
}

// Reviews take well under a millisecond for a typical pod; the API server gives up at
// timeoutSeconds (10 s by default, 30 s at most). Buckets span both ends.
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * Registers the webhook's metrics on `registry`. One app per registry: registering twice
 * throws (prom-client refuses duplicate names).
 */
export function createAdmissionMetrics(registry: Registry, configStatus: () => ConfigStatus): AdmissionMetrics {
  const registers = [registry];
  new Gauge({
    name: 'siding_webhook_config_ok',
    help: '1 when the webhook has a valid injection config to serve with, else 0.',
    registers,
    collect() {
      this.set(configStatus().ok ? 1 : 0);
    },
  });
  return {
    requests: new Counter({
      name: 'siding_webhook_http_requests_total',
      help: 'HTTP requests answered, by route and status code.',
      labelNames: ['route', 'code'] as const,
      registers,
    }),
    reviewDuration: new Histogram({
      name: 'siding_webhook_review_duration_seconds',
      help: 'Time from receiving a POST /inject request to its answer, for answered AdmissionReviews.',
      buckets: DURATION_BUCKETS,
      registers,
    }),
    injections: new Counter({
      name: 'siding_webhook_injections_total',
      help: 'Pods injected: result="patched" got a patch, result="unchanged" was already injected identically.',
      labelNames: ['result'] as const,
      registers,
    }),
    skips: new Counter({
      name: 'siding_webhook_skips_total',
      help: 'Reviews allowed without injection, by reason (engine skip reasons, or notPod/notCreate/subResource).',
      labelNames: ['reason'] as const,
      registers,
    }),
    denials: new Counter({
      name: 'siding_webhook_denials_total',
      help: 'Pods refused with allowed=false (invalid annotations, proxy UID conflict).',
      registers,
    }),
    errors: new Counter({
      name: 'siding_webhook_errors_total',
      help: 'Reviews that failed inside siding (engine or config error); answered allowed=false with code 500.',
      registers,
    }),
  };
}

/** Serving-certificate metrics, registered by server.ts. */
export interface TlsMetrics {
  reloads: Counter<'result'>;
  notAfter: Gauge;
}

export function createTlsMetrics(registry: Registry): TlsMetrics {
  const registers = [registry];
  return {
    reloads: new Counter({
      name: 'siding_webhook_tls_reloads_total',
      help: 'Serving certificate updates: result="success" now served, "rejected" invalid and ignored (the previous one stays).',
      labelNames: ['result'] as const,
      registers,
    }),
    notAfter: new Gauge({
      name: 'siding_webhook_tls_not_after_seconds',
      help: 'Expiry of the serving certificate in use, as a Unix timestamp.',
      registers,
    }),
  };
}

/** Connection metrics, registered by server.ts; read from the tracker when scraped. */
export function createConnectionMetrics(registry: Registry, stats: () => { open: number; refused: number; evicted: number }): void {
  const registers = [registry];
  new Gauge({
    name: 'siding_webhook_connections',
    help: 'Open TCP connections to the webhook, TLS handshakes included.',
    registers,
    collect() {
      this.set(stats().open);
    },
  });
  new Counter({
    name: 'siding_webhook_connections_refused_total',
    help: 'Connections closed on arrival because the connection bound was reached and no connection was idle enough to make room.',
    registers,
    collect() {
      this.reset();
      this.inc(stats().refused);
    },
  });
  new Counter({
    name: 'siding_webhook_connections_evicted_total',
    help: 'Idle keep-alive connections closed to make room for a new one at the connection bound.',
    registers,
    collect() {
      this.reset();
      this.inc(stats().evicted);
    },
  });
}

/** Review budget metrics (limits.ts), registered by app.ts. */
export interface BudgetMetrics {
  /** Reviews answered 429 (or 413) because of the budget, by reason. */
  overload: Counter<'reason'>;
}

export function createBudgetMetrics(registry: Registry, budget: { inFlight: number; reserved: number }): BudgetMetrics {
  const registers = [registry];
  new Gauge({
    name: 'siding_webhook_reviews_in_flight',
    help: 'POST /inject requests being received, parsed or answered.',
    registers,
    collect() {
      this.set(budget.inFlight);
    },
  });
  new Gauge({
    name: 'siding_webhook_review_memory_reserved_bytes',
    help: 'Estimated memory held by the reviews in flight (raw bodies and parsed JSON), against the review memory budget.',
    registers,
    collect() {
      this.set(budget.reserved);
    },
  });
  return {
    overload: new Counter({
      name: 'siding_webhook_overload_total',
      help: 'Reviews refused by the review budget: reason="inFlight" or "memory" answered 429 with Retry-After, "tooLarge" answered 413.',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}
