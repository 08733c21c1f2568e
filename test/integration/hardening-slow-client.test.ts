/**
 * Slow clients against a real HTTPS webhook on 127.0.0.1: clients that never finish the TLS
 * handshake, trickle their request headers, or trickle their body are disconnected by the
 * server's deadlines, while normal reviews sent at the same time are answered. No timing
 * assertions: the evidence is ordering (the normal reviews complete while every slow client
 * is still connected) and that the server, not the client, ends each slow connection.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { startServer, type WebhookServer } from '../../src/admission/server.js';
import { staticTlsSource } from '../../src/admission/tls.js';
import { generateSelfSigned, parseSubjectAltName } from '../../src/certs/index.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { postReview } from './hardening-lib.js';

interface SlowClient {
  /** Resolves when the server closes the connection, with what it sent before closing. */
  closed: Promise<string>;
  isOpen(): boolean;
  stop(): void;
}

/**
 * Watches a connection the test never ends itself: after `start` is written, `drip` is
 * written every 200 ms until the server closes the connection.
 */
function slowClient(socket: net.Socket, start: string, drip: string | undefined): SlowClient {
  let open = true;
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  socket.on('error', () => undefined);
  const timer = drip === undefined ? undefined : setInterval(() => socket.write(drip), 200);
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => {
      open = false;
      clearInterval(timer);
      resolve(received);
    }),
  );
  if (start !== '') socket.write(start);
  return { closed, isOpen: () => open, stop: () => socket.destroy() };
}

function slowTls(port: number, start: string, drip: string): Promise<SlowClient> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(slowClient(socket, start, drip)));
    socket.once('error', reject);
  });
}

/** A TCP connection that never sends a ClientHello. */
function silentTcp(port: number): Promise<SlowClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(slowClient(socket, '', undefined)));
    socket.once('error', reject);
  });
}

describe('slow clients against the webhook over HTTPS', { timeout: 120_000 }, () => {
  let server: WebhookServer;
  before(async () => {
    const material = await generateSelfSigned({ validityDays: 1, subjectAltNames: [parseSubjectAltName('127.0.0.1')] });
    server = await startServer(
      { getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'warn', stream: { write: () => undefined } } },
      {
        listen: { host: '127.0.0.1', port: 0 },
        tls: staticTlsSource(material),
        // Shorter deadlines than the defaults (docs/webhook.md) so the test ends soon, long
        // enough that the normal reviews finish first even on a slow, busy machine.
        timeouts: { handshake: 6000, headers: 6000, request: 10_000, checkInterval: 250, keepAlive: 20_000 },
      },
    );
  });
  after(async () => {
    await server.close();
  });

  it('disconnects clients that stall the handshake, trickle headers or trickle a body, while concurrent reviews are answered', async () => {
    const port = server.address.port;
    const slow: SlowClient[] = [];
    for (let i = 0; i < 5; i++) {
      slow.push(await silentTcp(port));
      slow.push(await slowTls(port, 'POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\n', `X-Slow-${i}: a\r\n`));
      slow.push(
        await slowTls(port, 'POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"apiVersion":', ' '),
      );
    }
    try {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false });
      const outcomes = await Promise.all(Array.from({ length: 80 }, (_, i) => postReview(server.url, `normal-${i}`, { agent })));
      agent.destroy();
      // Every slow client was still connected when the last normal review was answered.
      assert.deepEqual(
        slow.map((s) => s.isOpen()),
        slow.map(() => true),
        'a slow client was gone before the normal reviews were answered',
      );
      for (const o of outcomes) {
        assert.equal(o.status, 200, `${o.uid}: ${String(o.error)}`);
        assert.equal(o.answeredUid, o.uid);
        assert.equal(o.patched, true);
      }

      // The server ends every slow connection; the header and body tricklers get a 408 first.
      const received = await Promise.all(slow.map((s) => s.closed));
      received.forEach((text, i) => {
        const kind = ['silent handshake', 'trickled headers', 'trickled body'][i % 3];
        if (i % 3 !== 0) assert.match(text, /^HTTP\/1\.1 408 /, `${kind}: ${text.slice(0, 200)}`);
      });
    } finally {
      for (const s of slow) s.stop();
    }
  });

  it('still answers reviews on a fresh connection after the slow clients are gone', async () => {
    const o = await postReview(server.url, 'after-slow', { agent: false, rejectUnauthorized: false });
    assert.equal(o.status, 200);
    assert.equal(o.answeredUid, 'after-slow');
  });
});
