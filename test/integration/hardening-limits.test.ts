/**
 * The webhook's bounds over real HTTPS on 127.0.0.1, with small limits: past the connection
 * bound a new connection is closed on arrival unless an idle one can make room (the
 * longest-idle goes); past the bound on reviews in flight a review is answered 429 with
 * Retry-After at once, before its body is read, and reviews are answered again as soon as
 * the others are done.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { startServer, type StartServerOptions, type WebhookServer } from '../../src/admission/server.js';
import { staticTlsSource } from '../../src/admission/tls.js';
import { generateSelfSigned, parseSubjectAltName } from '../../src/certs/index.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import type { ReviewLimits } from '../../src/admission/limits.js';
import { reviewBody } from './hardening-lib.js';

async function limitedServer(registry: Registry, limits: Partial<ReviewLimits>, options: Partial<StartServerOptions>): Promise<WebhookServer> {
  const material = await generateSelfSigned({ validityDays: 1, subjectAltNames: [parseSubjectAltName('127.0.0.1')] });
  return startServer(
    { getConfig: () => DEFAULT_CONFIG, registry, log: { level: 'silent' }, limits },
    { listen: { host: '127.0.0.1', port: 0 }, tls: staticTlsSource(material), timeouts: { drainIdle: 0 }, ...options },
  );
}

interface Conn {
  socket: tls.TLSSocket;
  /** Resolves with whether the TLS handshake completed. */
  handshake: Promise<boolean>;
  received(): string;
  closed: Promise<void>;
  isOpen(): boolean;
}

function connect(port: number): Conn {
  let text = '';
  let open = true;
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  const handshake = new Promise<boolean>((resolve) => {
    socket.once('secureConnect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      open = false;
      r();
    }),
  );
  return { socket, handshake, received: () => text, closed, isOpen: () => open };
}

/** Sends GET /healthz and waits for the complete answer. */
async function healthz(c: Conn): Promise<string> {
  const before = c.received().length;
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  for (;;) {
    const text = c.received().slice(before);
    if (text.endsWith('}')) return text;
    if (!c.isOpen()) throw new Error(`closed before the answer: ${text}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return Number(m?.values[0]?.value ?? Number.NaN);
}

describe('the connection bound', { timeout: 60_000 }, () => {
  it('closes a new connection on arrival at the bound, and admits one once an idle connection can make room', async () => {
    const registry = new Registry();
    const server = await limitedServer(registry, {}, { connections: { max: 4, evictIdleMs: 1500 } });
    const held: Conn[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = connect(server.address.port);
        assert.equal(await c.handshake, true);
        assert.match(await healthz(c), /^HTTP\/1\.1 200 /);
        held.push(c);
      }
      // Every connection has just been used: none may make room yet.
      const refused = connect(server.address.port);
      assert.equal(await refused.handshake, false, 'a fifth connection was accepted at a bound of four');
      assert.deepEqual(
        held.map((c) => c.isOpen()),
        [true, true, true, true],
      );
      // Keep the last three busy now and then; the first stays idle and is the one to go.
      for (let round = 0; round < 4; round++) {
        await new Promise((r) => setTimeout(r, 500));
        for (const c of held.slice(1)) assert.match(await healthz(c), /^HTTP\/1\.1 200 /);
      }
      const admitted = connect(server.address.port);
      assert.equal(await admitted.handshake, true, 'no room was made for a new connection');
      assert.match(await healthz(admitted), /^HTTP\/1\.1 200 /);
      await held[0]!.closed;
      assert.deepEqual(
        held.slice(1).map((c) => c.isOpen()),
        [true, true, true],
        'a connection in use was closed instead of the idle one',
      );
      assert.equal(await metric(registry, 'siding_webhook_connections_refused_total'), 1);
      assert.equal(await metric(registry, 'siding_webhook_connections_evicted_total'), 1);
      admitted.socket.destroy();
    } finally {
      for (const c of held) c.socket.destroy();
      await server.close();
    }
  });
});

describe('the bound on reviews in flight', { timeout: 60_000 }, () => {
  it('answers 429 with Retry-After before reading the body once the bound is reached, and reviews again once the others are answered', async () => {
    const registry = new Registry();
    const server = await limitedServer(registry, { maxInFlight: 2 }, {});
    const slow: Conn[] = [];
    try {
      // Two reviews whose bodies are still arriving hold the two places.
      const bodies = [reviewBody('slow-0'), reviewBody('slow-1')];
      for (const body of bodies) {
        const c = connect(server.address.port);
        assert.equal(await c.handshake, true);
        c.socket.write(`POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 100)}`);
        slow.push(c);
      }
      const third = connect(server.address.port);
      assert.equal(await third.handshake, true);
      const body = reviewBody('third');
      // Headers only: the answer must come without the body.
      third.socket.write(`POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
      for (;;) {
        if (third.received().includes('\r\n\r\n{')) break;
        assert.ok(third.isOpen(), 'the third review got no answer');
        await new Promise((r) => setTimeout(r, 10));
      }
      const answer = third.received();
      assert.match(answer, /^HTTP\/1\.1 429 /);
      assert.match(answer, /\r\nretry-after: 1\r\n/i);
      assert.match(answer, /"code":"SIDING_BUSY"/);
      assert.equal(await metric(registry, 'siding_webhook_reviews_in_flight'), 2);

      // The slow two finish and are answered; then there is room again.
      bodies.forEach((b, i) => slow[i]!.socket.write(b.slice(100)));
      for (const [i, c] of slow.entries()) {
        for (;;) {
          if (c.received().includes(`"uid":"slow-${i}"`)) break;
          assert.ok(c.isOpen(), `slow-${i} got no answer`);
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.match(c.received(), /^HTTP\/1\.1 200 /);
      }
      const again = connect(server.address.port);
      assert.equal(await again.handshake, true);
      const next = reviewBody('after');
      again.socket.write(`POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(next)}\r\n\r\n${next}`);
      for (;;) {
        if (again.received().includes('"uid":"after"')) break;
        assert.ok(again.isOpen(), 'the review after the others got no answer');
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.match(again.received(), /^HTTP\/1\.1 200 /);
      // Released when the answer is written out, a moment after the client has it.
      while ((await metric(registry, 'siding_webhook_reviews_in_flight')) !== 0) await new Promise((r) => setTimeout(r, 10));
      again.socket.destroy();
      third.socket.destroy();
    } finally {
      for (const c of slow) c.socket.destroy();
      await server.close();
    }
  });
});
