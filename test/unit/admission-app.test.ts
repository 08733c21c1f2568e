import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { buildApp, BODY_LIMIT_BYTES, createLogger, type AppDeps } from '../../src/admission/app.js';
import type { Logger } from '../../src/logger.js';
import type { ConfigStatus } from '../../src/admission/config-status.js';
import type { InjectFn } from '../../src/admission/review.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { loadFixture } from '../helpers/fixtures.js';

interface Review {
  apiVersion: string;
  kind: string;
  request: {
    uid: string;
    kind: { group: string; version: string; kind: string };
    namespace?: string;
    operation: string;
    object: V1Pod | Record<string, unknown> | null;
    [k: string]: unknown;
  };
}

interface ReviewAnswer {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    patchType?: string;
    patch?: string;
    status?: { code: number; reason: string; message: string };
    warnings?: string[];
  };
}

/** A fresh copy of the fixture review: a pod with one init container and two containers. */
function loadReview(): Review {
  return loadFixture<Review>('admission', 'review-v1-pod.json');
}

function podOf(review: Review): V1Pod {
  return review.request.object as V1Pod;
}

function decodePatch(answer: ReviewAnswer): Operation[] {
  assert.equal(answer.response.patchType, 'JSONPatch');
  assert.ok(answer.response.patch !== undefined);
  return JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as Operation[];
}

function applyTo(pod: V1Pod, patch: Operation[]): V1Pod {
  return fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
}

const names = (cs: V1Container[] | undefined): string[] => (cs ?? []).map((c) => c.name);

interface Harness {
  app: FastifyInstance;
  registry: Registry;
  logs: Record<string, unknown>[];
}

function harness(overrides: Partial<AppDeps> = {}): Harness {
  const registry = new Registry();
  const logs: Record<string, unknown>[] = [];
  const app = buildApp({
    getConfig: () => DEFAULT_CONFIG,
    registry,
    log: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } },
    ...overrides,
  });
  return { app, registry, logs };
}

async function post(app: FastifyInstance, body: unknown): Promise<{ status: number; answer: ReviewAnswer }> {
  const res = await app.inject({ method: 'POST', url: '/inject', payload: body as object });
  return { status: res.statusCode, answer: res.json<ReviewAnswer>() };
}

function reviewLines(logs: Record<string, unknown>[]): Record<string, unknown>[] {
  return logs.filter((l) => l.msg === 'admission review');
}

describe('POST /inject with the built-in config', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });
  afterEach(async () => {
    await h.app.close();
  });

  it('answers a pod with two containers and an init container with a patch that adds siding-init and the native siding-proxy before the pod’s own init container', async () => {
    const review = loadReview();
    const original = structuredClone(podOf(review));
    const { status, answer } = await post(h.app, review);
    assert.equal(status, 200);
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, review.request.uid);
    assert.equal(answer.response.allowed, true);

    const injected = applyTo(original, decodePatch(answer));
    assert.deepEqual(names(injected.spec?.initContainers), ['siding-init', 'siding-proxy', 'migrate']);
    const proxy = injected.spec?.initContainers?.[1];
    assert.equal(proxy?.restartPolicy, 'Always');
    assert.deepEqual(injected.spec?.initContainers?.[2], original.spec?.initContainers?.[0]);
    assert.deepEqual(injected.spec?.containers, original.spec?.containers);
    const statusAnnotation = injected.metadata?.annotations?.['siding.io/status'];
    assert.ok(statusAnnotation !== undefined, 'siding.io/status is set');
    assert.doesNotThrow(() => JSON.parse(statusAnnotation));
  });

  it('answers the already-patched pod with no patch', async () => {
    const review = loadReview();
    const first = await post(h.app, review);
    const again = loadReview();
    again.request.object = applyTo(podOf(review), decodePatch(first.answer));
    const { status, answer } = await post(h.app, again);
    assert.equal(status, 200);
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
    assert.equal(answer.response.patchType, undefined);
  });

  it('answers a pod opted out by label with allowed and no patch', async () => {
    const review = loadReview();
    podOf(review).metadata!.labels!['siding.io/inject'] = 'false';
    const { answer } = await post(h.app, review);
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
    assert.equal(reviewLines(h.logs)[0]?.decision, 'skipped');
    assert.equal(reviewLines(h.logs)[0]?.reason, 'optedOutByLabel');
  });

  it('answers a pod opted out by annotation with allowed and no patch', async () => {
    const review = loadReview();
    podOf(review).metadata!.annotations!['siding.io/inject'] = 'false';
    const { answer } = await post(h.app, review);
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
  });

  it('denies a pod whose excludeOutboundPorts annotation smuggles a shell command, naming the annotation', async () => {
    const review = loadReview();
    podOf(review).metadata!.annotations!['traffic.siding.io/excludeOutboundPorts'] = '80;rm -rf /';
    const { status, answer } = await post(h.app, review);
    assert.equal(status, 200);
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.patch, undefined);
    assert.equal(answer.response.status?.code, 403);
    assert.match(answer.response.status?.message ?? '', /traffic\.siding\.io\/excludeOutboundPorts/);
    assert.match(answer.response.status?.message ?? '', /80;rm -rf \//);
  });

  it('lists every invalid annotation in one denial', async () => {
    const review = loadReview();
    const annotations = podOf(review).metadata!.annotations!;
    annotations['traffic.siding.io/excludeOutboundPorts'] = '70000';
    annotations['traffic.siding.io/excludeOutboundIPRanges'] = 'not-a-cidr';
    const { answer } = await post(h.app, review);
    assert.equal(answer.response.allowed, false);
    assert.match(answer.response.status?.message ?? '', /excludeOutboundPorts/);
    assert.match(answer.response.status?.message ?? '', /excludeOutboundIPRanges/);
  });

  it('answers an admission.k8s.io/v1beta1 review in v1beta1', async () => {
    const review = loadReview();
    review.apiVersion = 'admission.k8s.io/v1beta1';
    const { status, answer } = await post(h.app, review);
    assert.equal(status, 200);
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(answer.response.uid, review.request.uid);
    assert.equal(answer.response.patchType, 'JSONPatch');
  });

  it('skips a pod in kube-system', async () => {
    const review = loadReview();
    review.request.namespace = 'kube-system';
    const { answer } = await post(h.app, review);
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
    assert.equal(reviewLines(h.logs)[0]?.reason, 'excludedNamespace');
  });

  it('takes the namespace from request.namespace, not from the object', async () => {
    const review = loadReview();
    review.request.namespace = 'kube-system';
    podOf(review).metadata!.namespace = 'shop';
    const { answer } = await post(h.app, review);
    assert.equal(answer.response.patch, undefined);
  });

  it('falls back to the object’s namespace when request.namespace is absent', async () => {
    const review = loadReview();
    delete review.request.namespace;
    const { answer } = await post(h.app, review);
    assert.equal(answer.response.patchType, 'JSONPatch');
    assert.equal(reviewLines(h.logs)[0]?.namespace, 'shop');
  });

  it('rejects a Pod review with no namespace anywhere as a bad request', async () => {
    const review = loadReview();
    delete review.request.namespace;
    delete podOf(review).metadata!.namespace;
    const res = await h.app.inject({ method: 'POST', url: '/inject', payload: review });
    assert.equal(res.statusCode, 400);
    assert.match(res.json<{ message: string }>().message, /namespace/);
  });

  it('allows other kinds without a patch', async () => {
    const review = loadReview();
    review.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
    review.request.object = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: 'anything' };
    const { status, answer } = await post(h.app, review);
    assert.equal(status, 200);
    assert.deepEqual(answer.response, { uid: review.request.uid, allowed: true });
    assert.equal(reviewLines(h.logs)[0]?.reason, 'notPod');
  });

  for (const operation of ['UPDATE', 'DELETE', 'CONNECT']) {
    it(`allows a Pod ${operation} without a patch`, async () => {
      const review = loadReview();
      review.request.operation = operation;
      if (operation === 'DELETE') review.request.object = null;
      const { status, answer } = await post(h.app, review);
      assert.equal(status, 200);
      assert.deepEqual(answer.response, { uid: review.request.uid, allowed: true });
      assert.equal(reviewLines(h.logs)[0]?.reason, 'notCreate');
    });
  }

  it('allows a Pod subresource without a patch', async () => {
    const review = loadReview();
    review.request.subResource = 'ephemeralcontainers';
    const { answer } = await post(h.app, review);
    assert.deepEqual(answer.response, { uid: review.request.uid, allowed: true });
  });

  it('logs one JSON line per review with uid, namespace, pod, decision, reason and duration', async () => {
    await post(h.app, loadReview());
    const lines = reviewLines(h.logs);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.equal(line.namespace, 'shop');
    assert.equal(line.pod, 'web-7d9f8b6c5-');
    assert.equal(line.decision, 'injected');
    assert.equal(line.reason, 'injected');
    assert.equal(typeof line.duration_ms, 'number');
    assert.equal(h.logs.length, 1, 'no other lines (fastify request logging is off)');
  });
});

describe('POST /inject transport errors', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });
  afterEach(async () => {
    await h.app.close();
  });

  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/yaml', 'application/jsonx']) {
    it(`answers 415 to a body sent as ${contentType}`, async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/inject',
        headers: { 'content-type': contentType },
        payload: JSON.stringify(loadReview()),
      });
      assert.equal(res.statusCode, 415);
    });
  }

  it('accepts application/json with a charset parameter', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/inject',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify(loadReview()),
    });
    assert.equal(res.statusCode, 200);
  });

  it('answers 400 to malformed JSON', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/inject',
      headers: { 'content-type': 'application/json' },
      payload: '{"apiVersion": "admission.k8s.io/v1",',
    });
    assert.equal(res.statusCode, 400);
  });

  it('answers 400 to an empty JSON body', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: '' });
    assert.equal(res.statusCode, 400);
  });

  const invalid: [string, (r: Review) => unknown][] = [
    ['a JSON array', () => [1, 2]],
    ['a review without request', (r) => ({ apiVersion: r.apiVersion, kind: r.kind })],
    ['an unknown apiVersion', (r) => ({ ...r, apiVersion: 'admission.k8s.io/v2' })],
    ['a kind other than AdmissionReview', (r) => ({ ...r, kind: 'TokenReview' })],
    ['a request without uid', (r) => ({ ...r, request: { ...r.request, uid: undefined } })],
    ['a numeric uid', (r) => ({ ...r, request: { ...r.request, uid: 42 } })],
    ['an empty uid', (r) => ({ ...r, request: { ...r.request, uid: '' } })],
    ['an unknown operation', (r) => ({ ...r, request: { ...r.request, operation: 'PATCH' } })],
    ['a request kind that is a string', (r) => ({ ...r, request: { ...r.request, kind: 'Pod' } })],
    ['a Pod CREATE without object', (r) => ({ ...r, request: { ...r.request, object: undefined } })],
    ['a Pod CREATE whose object is null', (r) => ({ ...r, request: { ...r.request, object: null } })],
    ['a Pod CREATE whose object is a string', (r) => ({ ...r, request: { ...r.request, object: 'pod' } })],
    ['a pod without spec', (r) => ({ ...r, request: { ...r.request, object: { metadata: {} } } })],
    ['a pod whose containers are a string', (r) => ({ ...r, request: { ...r.request, object: { spec: { containers: 'web' } } } })],
    ['a container without a name', (r) => ({ ...r, request: { ...r.request, object: { spec: { containers: [{ image: 'x' }] } } } })],
    [
      'a label whose value is a number',
      (r) => ({ ...r, request: { ...r.request, object: { metadata: { labels: { a: 1 } }, spec: { containers: [] } } } }),
    ],
  ];
  for (const [what, make] of invalid) {
    it(`answers 400 to ${what}`, async () => {
      const res = await h.app.inject({ method: 'POST', url: '/inject', payload: make(loadReview()) as object });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json<{ statusCode: number }>().statusCode, 400);
    });
  }

  it('answers 400 to a body carrying a __proto__ key', async () => {
    const text = JSON.stringify(loadReview()).replace('"labels":{', '"labels":{"__proto__":{"polluted":"yes"},');
    const res = await h.app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: text });
    assert.equal(res.statusCode, 400);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it(`answers 413 to a body over ${BODY_LIMIT_BYTES} bytes`, async () => {
    const review = loadReview();
    podOf(review).metadata!.annotations!['example.com/blob'] = 'x'.repeat(BODY_LIMIT_BYTES);
    const res = await h.app.inject({ method: 'POST', url: '/inject', payload: review });
    assert.equal(res.statusCode, 413);
  });

  it('injects a pod close to the etcd object size limit (1.5 MiB)', async () => {
    const review = loadReview();
    podOf(review).metadata!.annotations!['example.com/blob'] = 'x'.repeat(1_500_000);
    const { status, answer } = await post(h.app, review);
    assert.equal(status, 200);
    assert.equal(answer.response.patchType, 'JSONPatch');
  });

  it('answers 404 to GET /inject and to unknown paths', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/inject' })).statusCode, 404);
    assert.equal((await h.app.inject({ method: 'POST', url: '/mutate', payload: loadReview() })).statusCode, 404);
  });
});

describe('POST /inject with a stand-in engine', () => {
  it('passes engine warnings through as AdmissionReview warnings', async () => {
    const inject: InjectFn = (pod) => ({
      kind: 'injected',
      pod,
      patch: [{ op: 'add', path: '/metadata/labels/x', value: 'y' }],
      warnings: ['port 15001 is also used by container web'],
    });
    const h = harness({ inject });
    const { answer } = await post(h.app, loadReview());
    assert.deepEqual(answer.response.warnings, ['port 15001 is also used by container web']);
    assert.deepEqual(decodePatch(answer), [{ op: 'add', path: '/metadata/labels/x', value: 'y' }]);
    await h.app.close();
  });

  it('answers allowed=false with code 500, not an HTTP 5xx, when the engine throws', async () => {
    const inject: InjectFn = () => {
      throw new Error('engine exploded');
    };
    const h = harness({ inject });
    const { status, answer } = await post(h.app, loadReview());
    assert.equal(status, 200);
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.code, 500);
    assert.match(answer.response.status?.message ?? '', /engine exploded/);
    const line = reviewLines(h.logs)[0];
    assert.equal(line?.decision, 'error');
    assert.equal(line?.level, 50);
    const metrics = await h.registry.metrics();
    assert.match(metrics, /^siding_webhook_errors_total 1$/m);
    await h.app.close();
  });

  it('hands the engine the namespace from the review and the config of the moment', async () => {
    const seen: { namespace: string; policy: string }[] = [];
    let config = DEFAULT_CONFIG;
    const inject: InjectFn = (_pod, ctx, cfg) => {
      seen.push({ namespace: ctx.namespace, policy: cfg.policy });
      return { kind: 'skipped', reason: 'policyDisabled', message: 'policy is disabled' };
    };
    const h = harness({ inject, getConfig: () => config });
    await post(h.app, loadReview());
    config = { ...DEFAULT_CONFIG, policy: 'disabled' };
    await post(h.app, loadReview());
    assert.deepEqual(seen, [
      { namespace: 'shop', policy: DEFAULT_CONFIG.policy },
      { namespace: 'shop', policy: 'disabled' },
    ]);
    await h.app.close();
  });
});

describe('health, readiness and metrics', () => {
  it('answers /healthz with 200', async () => {
    const h = harness();
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
    await h.app.close();
  });

  it('answers /readyz with 200 and the config status while a config is usable, even after a rejected update', async () => {
    const status: ConfigStatus = { ok: true, detail: 'ConfigMap siding-system/siding-config', lastError: 'invalid injection config: bad image' };
    const h = harness({ configStatus: () => status });
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ready', config: status });
    await h.app.close();
  });

  it('answers /readyz with 503 when there is no usable config', async () => {
    const status: ConfigStatus = { ok: false, detail: 'ConfigMap siding-system/siding-config', lastError: 'not found' };
    const h = harness({ configStatus: () => status });
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { status: 'not ready', config: status });
    assert.match(await h.registry.metrics(), /^siding_webhook_config_ok 0$/m);
    await h.app.close();
  });

  it('counts requests by code, injections, skips by reason, denials and review latency', async () => {
    const h = harness();
    await post(h.app, loadReview());
    const optedOut = loadReview();
    podOf(optedOut).metadata!.labels!['siding.io/inject'] = 'false';
    await post(h.app, optedOut);
    const denied = loadReview();
    podOf(denied).metadata!.annotations!['traffic.siding.io/excludeOutboundPorts'] = 'x';
    await post(h.app, denied);
    await h.app.inject({ method: 'POST', url: '/inject', payload: { nonsense: true } });

    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    const text = res.body;
    assert.match(text, /^siding_webhook_injections_total\{result="patched"\} 1$/m);
    assert.match(text, /^siding_webhook_skips_total\{reason="optedOutByLabel"\} 1$/m);
    assert.match(text, /^siding_webhook_denials_total 1$/m);
    assert.match(text, /^siding_webhook_errors_total 0$/m);
    assert.match(text, /^siding_webhook_http_requests_total\{route="\/inject",code="200"\} 3$/m);
    assert.match(text, /^siding_webhook_http_requests_total\{route="\/inject",code="400"\} 1$/m);
    assert.match(text, /^siding_webhook_review_duration_seconds_count 3$/m);
    assert.match(text, /^siding_webhook_config_ok 1$/m);
    await h.app.close();
  });
});

describe('POST /inject never answers 5xx to bad input', () => {
  /** Every JSON path of a value, as key lists. */
  function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    const out: (string | number)[][] = [prefix];
    if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
    }
    return out;
  }
  function replaceAt(root: unknown, path: (string | number)[], replacement: unknown): unknown {
    if (path.length === 0) return replacement;
    let node = root as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    node[path[path.length - 1]!] = replacement;
    return root;
  }

  it('answers 200 or 400 to a valid review with any one value replaced by arbitrary JSON, and 200s echo the uid', async () => {
    const fc = await import('fast-check');
    const h = harness({ log: { level: 'silent' } });
    const allPaths = paths(loadReview());
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: allPaths.length - 1 }), fc.jsonValue({ maxDepth: 3 }), async (i, replacement) => {
        const body = replaceAt(loadReview(), allPaths[i]!, replacement);
        const res = await h.app.inject({
          method: 'POST',
          url: '/inject',
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify(body),
        });
        assert.ok(res.statusCode === 200 || res.statusCode === 400, `status ${res.statusCode}: ${res.body}`);
        if (res.statusCode === 200) {
          const answer = res.json<ReviewAnswer>();
          assert.equal(answer.response.uid, (body as Review).request.uid);
          assert.notEqual(answer.response.status?.code, 500, `engine error: ${answer.response.status?.message ?? ''}`);
        }
      }),
      { numRuns: 300 },
    );
    await h.app.close();
  });
});

describe('the process logger', () => {
  it('is the one pino instance given to the app, so review lines and the Kubernetes parts share it', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry: new Registry(), logger });
    try {
      // What the Kubernetes parts do with the same instance (src/logger.ts's Logger shape).
      const kubeLog: Logger = logger;
      kubeLog.warn({ secret: 'siding-system/siding-webhook-tls' }, 'certificate rotated');
      const { status } = await post(app, loadReview());
      assert.equal(status, 200);
      assert.equal(lines[0]?.msg, 'certificate rotated');
      assert.equal(lines[0]?.level, 40);
      assert.ok(lines.some((l) => l.decision === 'injected'), JSON.stringify(lines));
    } finally {
      await app.close();
    }
  });
});
