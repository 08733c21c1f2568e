/**
 * Property-based fuzzing of POST /inject through `app.inject()`: thousands of generated and
 * mutated AdmissionReviews (wrong types, missing fields, huge strings, deep nesting, invalid
 * UTF-8, duplicate keys in the raw JSON text, prototype-poisoning keys, random bytes, odd
 * content types). Whatever arrives, the webhook answers: never a 5xx, never a crash, and
 * every answer is either a valid AdmissionReview that echoes the request's uid or a 4xx
 * with an error body. The engine must not throw either: an AdmissionReview that reports an
 * internal error (status code 500) counts as a failure here.
 *
 * Run time is bounded by the run counts below (about 20-30 s on 2 cores).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/admission/app.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { ANNOTATIONS, STATUS_ANNOTATION } from '../../src/inject/index.js';

const FIXTURE = new URL('../fixtures/admission/review-v1-pod.json', import.meta.url);
const BASE_TEXT = readFileSync(FIXTURE, 'utf8');
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const base = (): { [k: string]: Json } => JSON.parse(BASE_TEXT) as { [k: string]: Json };

// Fixed seed by default so a CI failure reproduces; FUZZ_SEED overrides it to explore.
const RANDOM_SEED = process.env.FUZZ_SEED === undefined ? 20_251_123 : Number(process.env.FUZZ_SEED);
const runs = (n: number): fc.Parameters<unknown> => ({ numRuns: n, seed: RANDOM_SEED, endOnFailure: true });

// ---------------------------------------------------------------------------
// Checking an answer
// ---------------------------------------------------------------------------

interface Case {
  body: Buffer;
  contentType: string | undefined;
}

function describeCase(c: Case): string {
  const text = c.body.toString('utf8');
  return `content-type ${String(c.contentType)}, ${c.body.length} bytes: ${text.length > 400 ? `${text.slice(0, 400)}...` : text}`;
}

/** What the request's uid and apiVersion are, as a JSON parser reads the body (undefined if it does not parse). */
function parsedEnvelope(body: Buffer): { uid: unknown; apiVersion: unknown } | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as { apiVersion?: unknown; request?: { uid?: unknown } };
    return { uid: v.request?.uid, apiVersion: v.apiVersion };
  } catch {
    return undefined;
  }
}

/** What the answers were, per test: proves the fuzzing reaches the engine, not only the schema. */
const tally = new Map<string, number>();
function count(outcome: string): void {
  tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
}

function checkAnswer(c: Case, res: LightMyRequestResponse): void {
  const where = (): string => `answer ${res.statusCode} ${res.body.slice(0, 600)}\nfor ${describeCase(c)}`;
  assert.ok(res.statusCode < 500, `a 5xx: ${where()}`);
  let answer: unknown;
  try {
    answer = JSON.parse(res.body);
  } catch {
    assert.fail(`the answer is not JSON: ${where()}`);
  }
  assert.ok(typeof answer === 'object' && answer !== null, where());
  if (res.statusCode !== 200) {
    assert.ok(res.statusCode >= 400, `neither 200 nor 4xx: ${where()}`);
    const err = answer as { statusCode?: unknown; message?: unknown };
    assert.equal(err.statusCode, res.statusCode, where());
    assert.equal(typeof err.message, 'string', where());
    count(String(res.statusCode));
    return;
  }
  const review = answer as {
    apiVersion?: unknown;
    kind?: unknown;
    response?: { uid?: unknown; allowed?: unknown; patch?: unknown; patchType?: unknown; status?: { code?: unknown; message?: unknown } };
  };
  const sent = parsedEnvelope(c.body);
  assert.ok(sent !== undefined, `200 for a body that is not JSON: ${where()}`);
  assert.equal(review.kind, 'AdmissionReview', where());
  assert.equal(review.apiVersion, sent.apiVersion, `apiVersion not echoed: ${where()}`);
  assert.ok(review.response !== undefined, where());
  assert.equal(review.response.uid, sent.uid, `uid not echoed: ${where()}`);
  assert.equal(typeof review.response.allowed, 'boolean', where());
  if (review.response.patch !== undefined) {
    assert.equal(review.response.patchType, 'JSONPatch', where());
    assert.equal(typeof review.response.patch, 'string', where());
    const ops = JSON.parse(Buffer.from(review.response.patch as string, 'base64').toString('utf8')) as unknown;
    assert.ok(Array.isArray(ops) && ops.length > 0, where());
    for (const op of ops as { op?: unknown; path?: unknown }[]) {
      assert.ok(['add', 'remove', 'replace'].includes(op.op as string) && typeof op.path === 'string', `bad patch op ${JSON.stringify(op)}: ${where()}`);
    }
  }
  if (review.response.allowed === false) {
    assert.equal(typeof review.response.status?.message, 'string', where());
    assert.notEqual(review.response.status?.code, 500, `the engine threw: ${where()}`);
  }
  count(review.response.allowed === false ? 'denied' : review.response.patch === undefined ? 'allowed' : 'patched');
}

// ---------------------------------------------------------------------------
// Building bodies
// ---------------------------------------------------------------------------

type Path = (string | number)[];

/** Every path in a JSON value (the root is []). */
function pathsOf(v: Json, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...prefix, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) pathsOf(x, [...prefix, k], out);
  return out;
}

const BASE_PATHS = pathsOf(base());
const OBJECT_PATHS = BASE_PATHS.filter((p) => {
  let v: Json | undefined = base();
  for (const k of p) v = Array.isArray(v) ? v[k as number] : v !== null && typeof v === 'object' ? v[k as string] : undefined;
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0;
});

function getAt(root: Json, path: Path): Json | undefined {
  let v: Json | undefined = root;
  for (const k of path) v = Array.isArray(v) ? v[k as number] : v !== null && typeof v === 'object' ? v[k as string] : undefined;
  return v;
}

/** Sets (or with `undefined`, deletes) the value at a path; returns the new root. */
function setAt(root: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const parent = getAt(root, path.slice(0, -1));
  const key = path[path.length - 1] as string | number;
  if (Array.isArray(parent)) {
    if (value === undefined) parent.splice(key as number, 1);
    else parent[key as number] = value;
  } else if (parent !== null && typeof parent === 'object') {
    if (value === undefined) delete parent[key as string];
    else parent[key as string] = value;
  }
  return root;
}

// Placeholders replaced in the serialised text: values JSON.stringify cannot produce.
const DEEP = '__siding_fuzz_deep__';
const MARK = '__siding_fuzz_mark__';

const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e308, -1e308, '', ' ', '0', 'true', 'Pod', 'CREATE', [], {}),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);
const jsonish: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

const hugeString = fc
  .record({ n: fc.integer({ min: 10_000, max: 300_000 }), ch: fc.constantFrom('a', 'é', '\u0000', '😀', '\\', '"', '\u202e', '\n') })
  .map(({ n, ch }) => ch.repeat(Math.ceil(n / ch.length)));

type Mutation =
  | { kind: 'set'; path: Path; value: Json }
  | { kind: 'delete'; path: Path }
  | { kind: 'huge'; path: Path; value: string }
  | { kind: 'hugeArray'; path: Path; n: number; item: Json }
  | { kind: 'addKey'; path: Path; key: string; value: Json }
  | { kind: 'deep'; path: Path; depth: number; shape: 'array' | 'object' };

const pathArb = fc.constantFrom(...BASE_PATHS);
const objectPathArb = fc.constantFrom(...OBJECT_PATHS);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), path: pathArb, value: jsonish }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge' as const), path: pathArb, value: hugeString }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('hugeArray' as const), path: pathArb, n: fc.integer({ min: 1000, max: 20_000 }), item: scalar }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('addKey' as const),
      path: objectPathArb,
      key: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(...ANNOTATIONS.map((a) => a.key), STATUS_ANNOTATION, 'constructor', 'toString', 'hasOwnProperty')),
      value: jsonish,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('deep' as const),
      path: pathArb,
      depth: fc.integer({ min: 50, max: 30_000 }),
      shape: fc.constantFrom('array' as const, 'object' as const),
    }),
  },
);

function deepText(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Applies object-level mutations and serialises; deep nesting is spliced into the text. */
function mutate(mutations: Mutation[]): string {
  let root: Json = base();
  const deep: string[] = [];
  for (const m of mutations) {
    switch (m.kind) {
      case 'set':
        root = setAt(root, m.path, structuredClone(m.value));
        break;
      case 'delete':
        root = setAt(root, m.path, undefined);
        break;
      case 'huge':
        root = setAt(root, m.path, m.value);
        break;
      case 'hugeArray':
        root = setAt(root, m.path, Array.from({ length: m.n }, () => m.item));
        break;
      case 'addKey': {
        const target = getAt(root, m.path);
        if (target !== null && typeof target === 'object' && !Array.isArray(target)) target[m.key] = structuredClone(m.value);
        break;
      }
      case 'deep':
        deep.push(deepText(m.depth, m.shape));
        root = setAt(root, m.path, `${DEEP}${deep.length - 1}`);
        break;
    }
  }
  let text = JSON.stringify(root);
  deep.forEach((d, i) => {
    text = text.replace(`"${DEEP}${i}"`, d);
  });
  return text;
}

// Raw-text mutations: what JSON.stringify can never produce.
const INVALID_UTF8: number[][] = [[0xff], [0xfe], [0xc0, 0xaf], [0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]];

type TextMutation =
  | { kind: 'badBytes'; at: number; bytes: number[]; inString: boolean }
  | { kind: 'duplicate'; path: Path; pick: number; value: Json; where: 'before' | 'after' }
  | { kind: 'poison'; path: Path; key: '__proto__' | 'constructor' }
  | { kind: 'truncate'; at: number };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('badBytes' as const), at: fc.nat(), bytes: fc.constantFrom(...INVALID_UTF8), inString: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('duplicate' as const),
      path: objectPathArb,
      pick: fc.nat(),
      value: jsonish,
      where: fc.constantFrom('before' as const, 'after' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('poison' as const), path: objectPathArb, key: fc.constantFrom('__proto__' as const, 'constructor' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

/** Duplicates one existing key of the object at `path`, before or after the original. */
function withDuplicateKey(m: Extract<TextMutation, { kind: 'duplicate' }>): string {
  const root = base();
  const target = getAt(root, m.path) as { [k: string]: Json };
  const keys = Object.keys(target);
  const key = keys[m.pick % keys.length] as string;
  const marked = m.where === 'before' ? { [MARK]: 0, ...target } : { ...target, [MARK]: 0 };
  setAt(root, m.path, marked);
  return JSON.stringify(root).replace(`"${MARK}":0`, `${JSON.stringify(key)}:${JSON.stringify(m.value)}`);
}

function withPoison(m: Extract<TextMutation, { kind: 'poison' }>): string {
  const root = base();
  const target = getAt(root, m.path) as { [k: string]: Json };
  setAt(root, m.path, { ...target, [MARK]: 0 });
  const value = m.key === '__proto__' ? '{"polluted":true,"allowed":false}' : '{"prototype":{"polluted":true}}';
  return JSON.stringify(root).replace(`"${MARK}":0`, `"${m.key}":${value}`);
}

function applyText(m: TextMutation): Buffer {
  switch (m.kind) {
    case 'badBytes': {
      const text = Buffer.from(BASE_TEXT);
      let at = m.at % (text.length + 1);
      if (m.inString) {
        // Right after an opening or closing quote: inside a key or a string value.
        const quotes: number[] = [];
        text.forEach((b, i) => {
          if (b === 0x22) quotes.push(i + 1);
        });
        at = quotes[m.at % quotes.length] ?? at;
      }
      return Buffer.concat([text.subarray(0, at), Buffer.from(m.bytes), text.subarray(at)]);
    }
    case 'duplicate':
      return Buffer.from(withDuplicateKey(m));
    case 'poison':
      return Buffer.from(withPoison(m));
    case 'truncate': {
      const text = Buffer.from(BASE_TEXT);
      return text.subarray(0, m.at % text.length);
    }
  }
}

// ---------------------------------------------------------------------------
// Reviews generated from scratch. A "wild" review puts a value of any type in any field now
// and then; a "plausible" one keeps the envelope's types and varies the values (names,
// annotations, status records, UIDs), so that it reaches the engine's every branch.
// ---------------------------------------------------------------------------

/** `usual` most of the time, one of `others` sometimes. */
const mostly = <T>(usual: T, ...others: T[]): fc.Arbitrary<T> =>
  fc.oneof({ weight: 8, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...others) });
const knownKey = fc.constantFrom(...ANNOTATIONS.flatMap((a) => [a.key, ...a.aliases]), STATUS_ANNOTATION);

function reviewArbitrary(wild: boolean): fc.Arbitrary<unknown> {
  // In a wild review each field keeps a plausible value most of the time and is anything else
  // the rest; with 30 fields, about a third of the reviews still pass the schema.
  const anyOr = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | Json> =>
    wild ? fc.oneof({ weight: 30, arbitrary: arb }, { weight: 1, arbitrary: jsonish }) : arb;
  const statusRecord = fc
    .record(
      {
        version: anyOr(fc.string()),
        layout: anyOr(fc.constantFrom('native', 'classic')),
        initContainers: anyOr(fc.array(fc.constantFrom('siding-init', 'siding-proxy', 'app', ''), { maxLength: 3 })),
        containers: anyOr(fc.array(fc.constantFrom('siding-init', 'siding-proxy', 'app'), { maxLength: 3 })),
        volumes: anyOr(fc.array(fc.constantFrom('siding-xtables-lock', 'siding-proxy-tmp', 'data'), { maxLength: 3 })),
        annotations: anyOr(fc.array(fc.constantFrom('kubectl.kubernetes.io/default-container', 'x'), { maxLength: 2 })),
        proxyImage: anyOr(fc.string()),
      },
      { requiredKeys: [] },
    )
    .map((r) => JSON.stringify(r));
  const annotationValue = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom('true', 'false', '*', '', '80', '80,443', '9000-9100', '10.0.0.0/8', 'fd00::/8', 'eth0', '100m', '1Gi', 'REDIRECT', 'nginx:1.27'),
    statusRecord,
  );
  const containerArb = fc.record(
    {
      name: anyOr(mostly('app', 'siding-proxy', 'siding-init', 'x', '')),
      image: anyOr(fc.string({ maxLength: 20 })),
      ports: anyOr(fc.array(fc.record({ name: anyOr(fc.string({ maxLength: 16 })), containerPort: anyOr(fc.integer({ min: -1, max: 70_000 })) }, { requiredKeys: [] }), { maxLength: 3 })),
      securityContext: anyOr(fc.record({ runAsUser: anyOr(mostly(1000, 0, 1337)), runAsGroup: anyOr(mostly(1000, 0, 1337)) }, { requiredKeys: [] })),
      restartPolicy: anyOr(fc.constantFrom('Always', 'Never')),
      env: anyOr(fc.array(fc.record({ name: fc.string(), value: fc.string() }), { maxLength: 2 })),
    },
    { requiredKeys: ['name'] },
  );
  const podArb = fc.record(
    {
      apiVersion: anyOr(fc.constant('v1')),
      kind: anyOr(fc.constant('Pod')),
      metadata: anyOr(
        fc.record(
          {
            name: anyOr(fc.string({ maxLength: 20 })),
            generateName: anyOr(fc.string({ maxLength: 20 })),
            namespace: anyOr(mostly('shop', 'kube-system', '')),
            labels: anyOr(fc.dictionary(fc.oneof(knownKey, fc.string({ maxLength: 10 })), anyOr(annotationValue), { maxKeys: 3 })),
            annotations: anyOr(fc.dictionary(fc.oneof(knownKey, fc.string({ maxLength: 10 })), anyOr(annotationValue), { maxKeys: 6 })),
            managedFields: anyOr(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 })),
          },
          { requiredKeys: [] },
        ),
      ),
      spec: anyOr(
        fc.record(
          {
            containers: anyOr(fc.array(anyOr(containerArb), { minLength: 1, maxLength: 4 })),
            initContainers: anyOr(fc.array(anyOr(containerArb), { maxLength: 3 })),
            volumes: anyOr(fc.array(anyOr(fc.record({ name: anyOr(fc.constantFrom('siding-xtables-lock', 'data', 'siding-proxy-tmp')) })), { maxLength: 3 })),
            hostNetwork: anyOr(mostly(false, true)),
            restartPolicy: anyOr(fc.constantFrom('Always', 'Never', 'OnFailure')),
            securityContext: anyOr(fc.record({ runAsUser: anyOr(mostly(1000, 0, 1337)), runAsGroup: anyOr(mostly(1000, 0, 1337)) }, { requiredKeys: [] })),
          },
          { requiredKeys: ['containers'] },
        ),
      ),
    },
    { requiredKeys: ['metadata', 'spec'] },
  );
  return fc.record(
    {
      apiVersion: anyOr(mostly('admission.k8s.io/v1', 'admission.k8s.io/v1beta1', 'v1')),
      kind: anyOr(fc.constant('AdmissionReview')),
      request: anyOr(
        fc.record(
          {
            uid: anyOr(fc.oneof(fc.uuid(), fc.string({ maxLength: 300 }))),
            kind: anyOr(fc.record({ group: anyOr(mostly('', 'apps')), version: anyOr(fc.constant('v1')), kind: anyOr(mostly('Pod', 'Deployment')) })),
            resource: anyOr(fc.record({ group: fc.constant(''), version: fc.constant('v1'), resource: fc.constant('pods') })),
            subResource: anyOr(mostly('', 'status', 'ephemeralcontainers')),
            namespace: anyOr(mostly('shop', 'kube-system', 'siding-system', '')),
            operation: anyOr(mostly('CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'create')),
            object: anyOr(podArb),
            oldObject: anyOr(fc.constant(null)),
            dryRun: anyOr(fc.boolean()),
          },
          { requiredKeys: ['uid', 'kind', 'operation', 'object'] },
        ),
      ),
    },
    { requiredKeys: ['apiVersion', 'kind', 'request'] },
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/jsonx',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '',
  'application/json; charset=utf-8; charset=utf-16',
  '*/*',
];

// ---------------------------------------------------------------------------

describe('POST /inject under fuzzing', { timeout: 180_000 }, () => {
  let app: FastifyInstance;
  before(async () => {
    // The logging path is part of what is fuzzed: log at info into a sink.
    app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'info', stream: { write: () => undefined } } });
    await app.ready();
  });
  after(async () => {
    await app.close();
  });

  /** Runs a property and checks that its answers covered the outcomes it is meant to reach. */
  const covering = async (expect: readonly string[], property: () => Promise<void>): Promise<void> => {
    tally.clear();
    await property();
    const seen = Object.fromEntries(tally);
    process.stderr.write(`fuzz outcomes: ${JSON.stringify(seen)}\n`);
    for (const outcome of expect) assert.ok((tally.get(outcome) ?? 0) > 0, `no '${outcome}' answer among ${JSON.stringify(seen)}`);
  };

  const send = async (c: Case): Promise<void> => {
    const headers = c.contentType === undefined ? {} : { 'content-type': c.contentType };
    const res = await app.inject({ method: 'POST', url: '/inject', headers, payload: c.body });
    checkAnswer(c, res);
  };

  it('answers every review with one to three field-level mutations (wrong types, missing fields, huge strings and arrays, deep nesting) with an AdmissionReview or a 4xx', async () => {
    await covering(['400', 'patched', 'denied'], () =>
      fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
          await send({ body: Buffer.from(mutate(ms)), contentType: 'application/json' });
        }),
        runs(2000),
      ),
    );
  });

  it('answers every raw-text mutation (invalid UTF-8, duplicate keys, prototype-poisoning keys, truncation) with an AdmissionReview or a 4xx', async () => {
    await covering(['400', 'patched'], () =>
      fc.assert(
        fc.asyncProperty(textMutation, async (m) => {
          await send({ body: applyText(m), contentType: 'application/json' });
        }),
        runs(1500),
      ),
    );
  });

  it('answers every review generated from scratch, with any field of any type, with an AdmissionReview or a 4xx', async () => {
    await covering(['400', 'allowed', 'patched', 'denied'], () =>
      fc.assert(
        fc.asyncProperty(fc.oneof(reviewArbitrary(true), reviewArbitrary(false)), async (r) => {
          await send({ body: Buffer.from(JSON.stringify(r)), contentType: 'application/json' });
        }),
        runs(2500),
      ),
    );
  });

  it('answers random bytes under any content type with a 4xx', async () => {
    await covering(['400', '415'], () =>
      fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }), async (bytes, contentType) => {
          await send({ body: Buffer.from(bytes), contentType });
        }),
        runs(500),
      ),
    );
  });

  it('answers a valid review sent with any content type with an AdmissionReview or a 4xx', async () => {
    for (const contentType of [...CONTENT_TYPES, undefined]) {
      await send({ body: Buffer.from(BASE_TEXT), contentType });
    }
  });

  it('denies a pod nested thousands of levels deep, at any depth, instead of failing', async () => {
    // Where the limit lies must not depend on the call stack: before the engine bounded
    // nesting, some depths passed its copy and then overflowed the patch encoding (a 500).
    for (const depth of [1_500, 3_000, 5_000, 8_000, 12_000, 50_000]) {
      const root = base();
      setAt(root, ['request', 'object', 'spec', 'nodeSelector'], DEEP);
      const text = JSON.stringify(root).replace(`"${DEEP}"`, deepText(depth, 'object'));
      const res = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: text });
      assert.equal(res.statusCode, 200, `depth ${depth}: ${res.body.slice(0, 300)}`);
      const answer = res.json<{ response: { allowed: boolean; status?: { code: number; message: string } } }>();
      assert.equal(answer.response.allowed, false, `depth ${depth}`);
      assert.equal(answer.response.status?.code, 403, `depth ${depth}: ${answer.response.status?.message}`);
      assert.match(answer.response.status?.message ?? '', /malformed pod/);
    }
  });

  it('answers a body over the size limit with a 413 and keeps serving', async () => {
    const root = base();
    setAt(root, ['request', 'object', 'metadata', 'annotations', 'big'], 'x'.repeat(5 * 1024 * 1024));
    const res = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(root) });
    assert.equal(res.statusCode, 413);
  });

  it('still injects a normal review after all of the above', async () => {
    const res = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: BASE_TEXT });
    assert.equal(res.statusCode, 200);
    const answer = res.json<{ response: { allowed: boolean; patch?: string } }>();
    assert.equal(answer.response.allowed, true);
    assert.ok(answer.response.patch !== undefined && answer.response.patch.length > 0);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
  });
});
