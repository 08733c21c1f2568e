/**
 * The drain, connection by connection, against a real HTTPS server on 127.0.0.1 with short
 * drain settings: a keep-alive connection idle when the drain starts still gets its next
 * request answered (with Connection: close); idle connections stay open while any client
 * still sends requests, and are closed by the server once none has for the drain's idle
 * time; a connection whose request is still arriving byte by byte is never closed; and the
 * drain ends early once no connection is left. Evidence is ordering and who closed what,
 * not durations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { startServer, type WebhookServer } from '../../src/admission/server.js';
import { staticTlsSource } from '../../src/admission/tls.js';
import { generateSelfSigned, parseSubjectAltName } from '../../src/certs/index.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { reviewBody } from './hardening-lib.js';

const DRAIN_IDLE_MS = 1500;

async function drainingServer(): Promise<WebhookServer> {
  const material = await generateSelfSigned({ validityDays: 1, subjectAltNames: [parseSubjectAltName('127.0.0.1')] });
  return startServer(
    { getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'silent' } },
    {
      listen: { host: '127.0.0.1', port: 0 },
      tls: staticTlsSource(material),
      // A drain far longer than the test needs: it must end because no connection is left.
      timeouts: { drain: 60_000, drainIdle: DRAIN_IDLE_MS, checkInterval: 100, headers: 30_000, request: 30_000 },
    },
  );
}

/** A raw TLS connection that records what it receives and whether it was closed. */
interface RawConnection {
  socket: tls.TLSSocket;
  received(): string;
  /** Resolves when the server closes it (the test never does before the end). */
  closed: Promise<void>;
  isOpen(): boolean;
}

function connect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    let text = '';
    let open = true;
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () =>
      resolve({ socket, received: () => text, closed, isOpen: () => open }),
    );
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        open = false;
        r();
      }),
    );
    socket.once('error', reject);
  });
}

/** Writes one complete POST /inject and resolves with the whole HTTP answer once it has arrived. */
function review(conn: RawConnection, uid: string): Promise<string> {
  const body = reviewBody(uid);
  const before = conn.received().length;
  conn.socket.write(`POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const text = conn.received().slice(before);
      const m = /\r\ncontent-length: (\d+)\r\n/i.exec(text);
      const head = text.indexOf('\r\n\r\n');
      if (m !== null && head >= 0 && text.length - head - 4 >= Number(m[1])) {
        conn.socket.off('data', check);
        resolve(text);
      } else if (!conn.isOpen()) reject(new Error(`connection closed before the answer to ${uid}: ${text.slice(0, 200)}`));
    };
    conn.socket.on('data', check);
    void conn.closed.then(check);
  });
}

describe('draining on close', { timeout: 60_000 }, () => {
  it('answers a request sent on a connection that was idle when the drain began, with Connection: close', async () => {
    const server = await drainingServer();
    const conn = await connect(server.address.port);
    try {
      assert.match(await review(conn, 'before'), /^HTTP\/1\.1 200 /);
      const closing = server.close();
      const answer = await review(conn, 'during-drain');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.match(answer, /"uid":"during-drain"/);
      await conn.closed;
      await closing;
    } finally {
      conn.socket.destroy();
      await server.close();
    }
  });

  it('closes an idle connection once no request has arrived for the drain idle time, never one whose request is arriving', async () => {
    const server = await drainingServer();
    const idle = await connect(server.address.port);
    const trickling = await connect(server.address.port);
    let timer: NodeJS.Timeout | undefined;
    try {
      assert.match(await review(idle, 'idle-first'), /^HTTP\/1\.1 200 /);
      assert.match(await review(trickling, 'trickling-first'), /^HTTP\/1\.1 200 /);
      const closing = server.close();

      // The trickling connection sends its next request a few bytes at a time, over more
      // than twice the drain idle time, so it never looks idle.
      const body = reviewBody('trickled');
      const text = `POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
      const head = text.slice(0, 40);
      let sent = 0;
      const started = Date.now();
      await new Promise<void>((resolve) => {
        timer = setInterval(() => {
          if (Date.now() - started > 2 * DRAIN_IDLE_MS) {
            clearInterval(timer);
            resolve();
            return;
          }
          trickling.socket.write(head.slice(sent, sent + 1));
          sent += 1;
        }, 100);
      });
      // The idle connection went first: the server closed it while the other kept sending.
      assert.equal(idle.isOpen(), false, 'the idle connection is still open after twice the drain idle time');
      assert.equal(trickling.isOpen(), true, 'the connection whose request was arriving was closed');
      const before = trickling.received().length;
      trickling.socket.write(head.slice(sent) + text.slice(40) + body);
      await trickling.closed;
      const answer = trickling.received().slice(before);
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.match(answer, /"uid":"trickled"/);
      // No connection left: the drain ends long before its 60 s, and nothing is accepted after it.
      await closing;
      await assert.rejects(
        new Promise((resolve, reject) => https.get(`${server.url}/healthz`, { rejectUnauthorized: false, agent: false }, resolve).on('error', reject)),
        { code: 'ECONNREFUSED' },
      );
    } finally {
      clearInterval(timer);
      idle.socket.destroy();
      trickling.socket.destroy();
      await server.close();
    }
  });

  it('keeps an idle connection open while another client still sends reviews, and answers it when it is used', async () => {
    const server = await drainingServer();
    const idle = await connect(server.address.port);
    let busy: RawConnection | undefined;
    try {
      assert.match(await review(idle, 'idle-first'), /^HTTP\/1\.1 200 /);
      const closing = server.close();
      // Another client goes on sending reviews for three times the drain idle time, each
      // on a new connection (every answer while draining closes its connection).
      const until = Date.now() + 3 * DRAIN_IDLE_MS;
      let sent = 0;
      while (Date.now() < until) {
        busy = await connect(server.address.port);
        assert.match(await review(busy, `busy-${sent++}`), /\r\nconnection: close\r\n/i);
        await busy.closed;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(idle.isOpen(), true, 'an idle connection was closed while another client was still sending reviews');
      const answer = await review(idle, 'idle-late');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      await idle.closed;
      await closing;
    } finally {
      idle.socket.destroy();
      busy?.socket.destroy();
      await server.close();
    }
  });

  it('keeps accepting new connections while draining and answers them with Connection: close', async () => {
    const server = await drainingServer();
    const holder = await connect(server.address.port);
    try {
      // A request still arriving keeps the drain going.
      holder.socket.write('POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const closing = server.close();
      const fresh = await connect(server.address.port);
      const answer = await review(fresh, 'new-while-draining');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      await fresh.closed;
      holder.socket.destroy();
      await closing;
    } finally {
      holder.socket.destroy();
      await server.close();
    }
  });
});
