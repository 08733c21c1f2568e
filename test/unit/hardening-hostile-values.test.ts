/**
 * One hostile annotation must not freeze the webhook. Every key siding reads (its own, each
 * Istio alias, the inject label, the status record) gets values at the size limit in the
 * shapes that make a parser work hardest (test/helpers/hostile.ts); then the largest allowed
 * pod carries every key at once. Each review goes over HTTP to the real app while an
 * unrelated pod's review and a /healthz request are sent right behind it, as the API server
 * would when another pod is created a moment later.
 *
 * What is asserted is behaviour the API server sees, with its own deadline as the bound: the
 * hostile review and the unrelated one are both answered, correctly, within the admission
 * timeout. (Before the list parser trimmed items by index, one value of `x`, 65,000 spaces
 * and `x` held the event loop for about 15 s, so both failed with "context deadline exceeded".)
 * The latencies are printed; BENCHMARKS.md has the measured figures.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/admission/app.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { displayValue, MAX_VALUE_CHARS } from '../../src/grammar/index.js';
import { MAX_REPORTED_PROBLEMS } from '../../src/errors/index.js';
import { hostileCorpus, podReview, typicalReview } from '../helpers/hostile.js';

/** The webhook's timeoutSeconds in the shipped manifests, and the API server's default. */
const ADMISSION_TIMEOUT_MS = 10_000;

interface Answer {
  status: number;
  body: string;
  ms: number;
}

function request(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - start) / 1e6 }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface ReviewAnswer {
  response: { uid: string; allowed: boolean; patch?: string; status?: { code: number; message: string }; warnings?: string[] };
}

/** The real app listening on loopback for the duration of a describe block, its log lines kept. */
function listening(): { port: () => number; logged: string[] } {
  let app: FastifyInstance | undefined;
  let port = 0;
  const logged: string[] = [];
  before(async () => {
    app = buildApp({ getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'info', stream: { write: (line) => void logged.push(line) } } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await app?.close();
  });
  return { port: () => port, logged };
}

describe('hostile annotation values at the size limit', { timeout: 600_000 }, () => {
  const server = listening();
  const logged = server.logged;

  it('answers every review of the corpus, and an unrelated review sent behind each, within the admission timeout', async () => {
    const corpus = hostileCorpus(MAX_VALUE_CHARS);
    let slowest = { name: '', ms: 0 };
    let slowestBystander = { name: '', ms: 0 };
    for (const c of corpus) {
      const uid = (JSON.parse(c.body) as { request: { uid: string } }).request.uid;
      const hostile = request(server.port(), 'POST', '/inject', c.body);
      const bystander = request(server.port(), 'POST', '/inject', typicalReview());
      const health = request(server.port(), 'GET', '/healthz');
      const [h, b, z] = await Promise.all([hostile, bystander, health]);

      assert.equal(h.status, 200, `${c.name}: ${h.body.slice(0, 300)}`);
      const answer = JSON.parse(h.body) as ReviewAnswer;
      assert.equal(answer.response.uid, uid, c.name);
      if (!answer.response.allowed) {
        const message = answer.response.status?.message ?? '';
        assert.ok(c.keys.some((k) => message.includes(displayValue(k))), `${c.name}: the denial names the key: ${message.slice(0, 300)}`);
        assert.ok(message.length < 20_000, `${c.name}: the denial is bounded (${message.length} characters)`);
      }
      assert.ok(h.ms < ADMISSION_TIMEOUT_MS, `${c.name}: answered in ${h.ms.toFixed(0)} ms, past the admission timeout`);

      assert.equal(b.status, 200, `behind ${c.name}: ${b.body.slice(0, 300)}`);
      const typical = JSON.parse(b.body) as ReviewAnswer;
      assert.ok(typical.response.allowed && (typical.response.patch ?? '') !== '', `behind ${c.name}: the unrelated pod is injected`);
      assert.ok(b.ms < ADMISSION_TIMEOUT_MS, `behind ${c.name}: the unrelated review took ${b.ms.toFixed(0)} ms, past the admission timeout`);
      assert.equal(z.status, 200, `behind ${c.name}: /healthz`);

      if (h.ms > slowest.ms) slowest = { name: c.name, ms: h.ms };
      if (b.ms > slowestBystander.ms) slowestBystander = { name: c.name, ms: b.ms };
    }
    process.stderr.write(
      `hostile corpus: ${corpus.length} reviews; slowest ${slowest.ms.toFixed(1)} ms (${slowest.name}); ` +
        `slowest unrelated review behind one ${slowestBystander.ms.toFixed(1)} ms (behind ${slowestBystander.name})\n`,
    );
  });

  it('lists at most the bounded number of problems for the largest allowed pod and keeps every log line bounded', async () => {
    const every = hostileCorpus(MAX_VALUE_CHARS).filter((c) => c.name.startsWith('every key: '));
    logged.length = 0;
    for (const c of every) {
      const h = await request(server.port(), 'POST', '/inject', c.body);
      const answer = JSON.parse(h.body) as ReviewAnswer;
      if (!answer.response.allowed) {
        const listed = (answer.response.status?.message ?? '').match(/invalid value '|unknown annotation '|must have a string value|\.\.\. and \d+ more/g) ?? [];
        assert.ok(listed.length <= MAX_REPORTED_PROBLEMS + 1, `${c.name}: ${listed.length} problems listed`);
      }
      assert.ok((answer.response.warnings ?? []).length <= MAX_REPORTED_PROBLEMS + 1, c.name);
    }
    assert.ok(logged.length >= every.length);
    for (const line of logged) assert.ok(line.length < 32_768, `a log line of ${line.length} characters`);
  });
});

describe('a pod with tens of thousands of unknown keys', { timeout: 600_000 }, () => {
  const server = listening();
  const logged = server.logged;

  /** `count` keys one or two edits away from siding's own: each would get a "did you mean". */
  function keys(count: number): Record<string, string> {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < count; i++) annotations[`siding.io/proxyImag${i.toString(36)}x`] = 'x';
    return annotations;
  }

  it('lists the first 20 problems and how many more, answers in time, and logs a bounded line', async () => {
    const count = 65_000;
    logged.length = 0;
    const hostile = request(server.port(), 'POST', '/inject', podReview(keys(count)));
    const bystander = request(server.port(), 'POST', '/inject', typicalReview());
    const [h, b] = await Promise.all([hostile, bystander]);
    assert.equal(h.status, 200);
    const answer = JSON.parse(h.body) as ReviewAnswer;
    assert.equal(answer.response.allowed, false);
    const message = answer.response.status?.message ?? '';
    const listed = message.match(/unknown annotation 'siding\.io\/proxyImag[0-9a-z]+' \(did you mean 'siding\.io\/proxyImage'\?\)/g) ?? [];
    assert.equal(listed.length, MAX_REPORTED_PROBLEMS, message.slice(0, 500));
    assert.ok(message.endsWith(`; ... and ${count - MAX_REPORTED_PROBLEMS} more`), message.slice(-200));
    assert.ok(h.body.length < 16_384, `an answer of ${h.body.length} bytes`);
    assert.ok(h.ms < ADMISSION_TIMEOUT_MS, `answered in ${h.ms.toFixed(0)} ms, past the admission timeout`);
    assert.equal(b.status, 200);
    assert.ok(b.ms < ADMISSION_TIMEOUT_MS, `the unrelated review took ${b.ms.toFixed(0)} ms`);
    assert.ok(logged.length >= 2);
    for (const line of logged) assert.ok(line.length < 32_768, `a log line of ${line.length} characters`);
    process.stderr.write(`${count} unknown keys: answered in ${h.ms.toFixed(1)} ms with ${h.body.length} bytes; unrelated review ${b.ms.toFixed(1)} ms\n`);
  });

  it('returns at most 20 warnings and how many more for unsupported Istio keys', async () => {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 5_000; i++) annotations[`sidecar.istio.io/unsupported${i}`] = 'x';
    const h = await request(server.port(), 'POST', '/inject', podReview(annotations));
    const answer = JSON.parse(h.body) as ReviewAnswer;
    assert.equal(answer.response.allowed, true);
    const warnings = answer.response.warnings ?? [];
    assert.equal(warnings.length, MAX_REPORTED_PROBLEMS + 1);
    assert.equal(warnings[MAX_REPORTED_PROBLEMS], `... and ${5_000 - MAX_REPORTED_PROBLEMS} more`);
  });
});
