import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/admission/app.js';
import {
  MAX_PARSED_BYTES_PER_BODY_BYTE,
  parsedSizeEstimate,
  RAW_BODY_COPIES,
  reserveParsed,
  ReviewBudget,
  type ReviewLease,
  type ReviewLimits,
} from '../../src/admission/limits.js';
import { DEFAULT_REVIEW_LIMITS } from '../../src/admission/limits.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { loadFixture } from '../helpers/fixtures.js';

const lease = (x: ReviewLease | string): ReviewLease => {
  if (typeof x === 'string') assert.fail(`no lease: ${x}`);
  return x;
};

/** Limits with no large-body class unless asked for; bodies count RAW_BODY_COPIES times. */
const limits = (l: { maxInFlight?: number; memoryBytes: number; largeBodyBytes?: number; smallReserveBytes?: number }): ReviewLimits => ({
  maxInFlight: l.maxInFlight ?? 1000,
  memoryBytes: l.memoryBytes,
  largeBodyBytes: l.largeBodyBytes ?? Number.MAX_SAFE_INTEGER,
  smallReserveBytes: l.smallReserveBytes ?? 0,
});

describe('ReviewBudget', () => {
  it('admits reviews up to maxInFlight and refuses the next one as inFlight until one is released', () => {
    const budget = new ReviewBudget(limits({ maxInFlight: 2, memoryBytes: 1000 }));
    const a = lease(budget.admit(10));
    lease(budget.admit(10));
    assert.equal(budget.admit(10), 'inFlight');
    a.release();
    lease(budget.admit(10));
    assert.equal(budget.inFlight, 2);
  });

  it('reserves RAW_BODY_COPIES times the body, refuses what does not fit now as memory and what never would as tooLarge', () => {
    const budget = new ReviewBudget(limits({ memoryBytes: 100 * RAW_BODY_COPIES }));
    const a = lease(budget.admit(60));
    assert.equal(a.bytes, 60 * RAW_BODY_COPIES);
    assert.equal(budget.admit(50), 'memory');
    assert.equal(budget.admit(101), 'tooLarge');
    a.release();
    lease(budget.admit(50));
  });

  it('grows and shrinks a lease within the budget and leaves it unchanged when a resize is refused', () => {
    const budget = new ReviewBudget(limits({ memoryBytes: 100 }));
    const a = lease(budget.admit(1));
    const b = lease(budget.admit(1));
    assert.equal(a.resize(80), 'granted');
    assert.equal(budget.reserved, 80 + RAW_BODY_COPIES);
    assert.equal(b.resize(30), 'memory');
    assert.equal(b.bytes, RAW_BODY_COPIES);
    assert.equal(b.resize(200), 'tooLarge');
    assert.equal(a.resize(5), 'granted');
    assert.equal(b.resize(30), 'granted');
    assert.equal(budget.reserved, 35);
  });

  it('keeps the small-review reserve out of reach of large reviews, however many there are', () => {
    const budget = new ReviewBudget(limits({ memoryBytes: 1000, largeBodyBytes: 10, smallReserveBytes: 400 }));
    // Large bodies (over 10 bytes) share at most 600.
    const big = lease(budget.admit(100));
    lease(budget.admit(100));
    assert.equal(budget.admit(11), 'memory', 'a third large review fits in the reserve');
    assert.equal(big.resize(400), 'memory', 'a large review grew into the reserve');
    assert.equal(budget.admit(201), 'tooLarge', 'a large review that could only ever fit with the reserve');
    // Small ones still get the rest.
    for (let i = 0; i < 13; i++) lease(budget.admit(10));
    assert.equal(budget.reserved, 600 + 13 * 30);
    assert.equal(budget.admit(10), 'memory');
  });

  it('returns exactly what a lease holds on release, once, however often release is called', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 200 })), { maxLength: 30 }), (sizes) => {
        const budget = new ReviewBudget(limits({ memoryBytes: 100_000, largeBodyBytes: 25, smallReserveBytes: 1000 }));
        const leases = sizes.map(([admitted, resized]) => {
          const l = lease(budget.admit(admitted));
          l.resize(resized);
          return l;
        });
        for (const l of leases) {
          l.release();
          l.release();
        }
        assert.equal(budget.inFlight, 0);
        assert.equal(budget.reserved, 0);
        // All of it is free again, large share included.
        lease(budget.admit(Math.floor(99_000 / RAW_BODY_COPIES)));
      }),
    );
  });
});

describe('parsedSizeEstimate', () => {
  // Heap used by JSON.parse of 4 MiB bodies of these shapes, measured on node 20 (limits.ts).
  const measured: [string, string, number][] = [
    ['empty objects', '{},', 89.5e6],
    ['empty arrays', '[],', 55.9e6],
    ['zeros', '0,', 21.0e6],
    ['fractions', '0.5,', 29.5e6],
    ['one-key objects', '{"a":0},', 25.3e6],
    ['ten-character strings', '"abcdefghij",', 6.8e6],
    ['env-like entries', '{"name":"A","value":"b"},', 12.5e6],
  ];
  for (const [what, unit, heap] of measured) {
    it(`is above the measured heap of 4 MiB of ${what}`, () => {
      const body = Buffer.from(`[${unit.repeat(Math.floor((4 * 1024 * 1024 - 2) / unit.length)).slice(0, -1)}]`);
      assert.ok(parsedSizeEstimate(body) > heap, `${parsedSizeEstimate(body)} <= ${heap}`);
    });
  }

  it('counts commas, braces and brackets inside strings as plain bytes, escaped quotes included', () => {
    const value = `${','.repeat(10_000)}\\"[{${','.repeat(10_000)}`;
    const body = Buffer.from(JSON.stringify({ metadata: { annotations: { a: value } } }));
    assert.ok(parsedSizeEstimate(body) < body.length + 10 * 64, `${parsedSizeEstimate(body)} for ${body.length} bytes`);
    // The same characters as structure cost far more.
    assert.ok(parsedSizeEstimate(Buffer.from(`[${'0,'.repeat(10_000)}0]`)) > 30 * 10_000);
  });

  it('never exceeds MAX_PARSED_BYTES_PER_BODY_BYTE per byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        assert.ok(parsedSizeEstimate(bytes) <= bytes.length * MAX_PARSED_BYTES_PER_BODY_BYTE);
      }),
    );
  });
});

describe('the review budget in the app', () => {
  const review = (): string => JSON.stringify(loadFixture('admission', 'review-v1-pod.json'));

  it('answers 413 SIDING_BODY_TOO_COSTLY to a body whose parsed size would exceed the whole budget, without parsing it', async () => {
    const budgetBytes = 1024 * 1024;
    const body = review().replace('"apiVersion"', `"padding":[${'{},'.repeat(40_000)}{}],"apiVersion"`);
    // The raw body fits; its parsed estimate does not.
    assert.ok(body.length * RAW_BODY_COPIES < budgetBytes);
    assert.ok(parsedSizeEstimate(Buffer.from(body)) > budgetBytes);
    const app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'silent' }, limits: { memoryBytes: budgetBytes, smallReserveBytes: 0 } });
    try {
      const res = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: body });
      assert.equal(res.statusCode, 413);
      assert.equal(res.json<{ code: string }>().code, 'SIDING_BODY_TOO_COSTLY');
      // The same review without the padding is answered.
      const ok = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: review() });
      assert.equal(ok.statusCode, 200);
    } finally {
      await app.close();
    }
  });

  it('answers 413 before reading a body whose declared length alone exceeds the budget', async () => {
    const app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'silent' }, limits: { memoryBytes: 3000, smallReserveBytes: 0 } });
    try {
      const res = await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: review() });
      assert.equal(res.statusCode, 413);
      assert.equal(res.json<{ code: string }>().code, 'SIDING_BODY_TOO_COSTLY');
    } finally {
      await app.close();
    }
  });

  it('counts refusals by reason in siding_webhook_overload_total', async () => {
    const registry = new Registry();
    const app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry, log: { level: 'silent' }, limits: { memoryBytes: 3000, smallReserveBytes: 0 } });
    try {
      await app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload: review() });
      const metrics = await registry.metrics();
      assert.match(metrics, /siding_webhook_overload_total\{reason="tooLarge"\} 1/);
    } finally {
      await app.close();
    }
  });
});

describe('reserveParsed', () => {
  /** A pod of `containers` containers with env lists: about 1.7 KB of JSON per container. */
  const podBody = (containers: number): Uint8Array => {
    const env = Array.from({ length: 40 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}` }));
    const pod = { apiVersion: 'v1', kind: 'Pod', spec: { containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'registry.example.com/app:1', env })) } };
    return Buffer.from(JSON.stringify({ request: { object: pod } }));
  };

  it('lets sixteen reviews of a 64 KB pod in flight at once all reserve their parsed size under the default limits', () => {
    const body = podBody(40);
    assert.ok(body.length > 64 * 1024 && body.length < 80 * 1024, `body of ${body.length} bytes`);
    const budget = new ReviewBudget(DEFAULT_REVIEW_LIMITS);
    const leases = Array.from({ length: 16 }, () => lease(budget.admit(body.length)));
    const answers = leases.map((l) => reserveParsed(l, body));
    assert.deepEqual(answers, Array.from({ length: 16 }, () => 'granted'));
    for (const l of leases) assert.ok(l.bytes >= RAW_BODY_COPIES * body.length + parsedSizeEstimate(body));
  });

  it('reserves the cheap bound for a small body and the estimate for a larger one', () => {
    const budget = new ReviewBudget(DEFAULT_REVIEW_LIMITS);
    const small = podBody(2);
    const a = lease(budget.admit(small.length));
    assert.equal(reserveParsed(a, small), 'granted');
    assert.equal(a.bytes, RAW_BODY_COPIES * small.length + small.length * MAX_PARSED_BYTES_PER_BODY_BYTE);
    const large = podBody(12);
    const b = lease(budget.admit(large.length));
    assert.equal(reserveParsed(b, large), 'granted');
    assert.equal(b.bytes, RAW_BODY_COPIES * large.length + parsedSizeEstimate(large));
  });
});
