/**
 * The relay on loopback, with the original destination given by a stand-in reader (the real
 * one needs a redirect, which the integration tests set up): what it pipes, how it counts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createProxyLogger } from '../../src/proxy/log.js';
import { createProxyMetrics } from '../../src/proxy/metrics.js';
import type { Endpoint } from '../../src/proxy/origdst.js';
import { Relay } from '../../src/proxy/relay.js';

const quiet = createProxyLogger('error', { write: () => undefined });

/** A server that answers `got N` after the client's FIN. */
async function halfCloseServer(): Promise<net.Server> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => undefined);
    let n = 0;
    c.on('data', (d: Buffer) => (n += d.length));
    c.on('end', () => c.end(`got ${n}`));
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function portOf(s: net.Server): number {
  return (s.address() as net.AddressInfo).port;
}

async function scrape(relay: { metrics: ReturnType<typeof createProxyMetrics> }, series: string): Promise<number> {
  const text = await relay.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.split(' ')[1] ?? 'NaN');
}

describe('the relay', () => {
  let target: net.Server;
  let targetPort: number;
  before(async () => {
    target = await halfCloseServer();
    targetPort = portOf(target);
  });
  after(() => target.close());

  /** A relay behind a listener; `original` decides what the reader answers for each connection. */
  async function setup(original: (listenerPort: number) => Endpoint | string, maxConnections = 100) {
    const metrics = createProxyMetrics({ active: (d) => relay.active(d), bytes: () => relay.bytes() });
    const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => relay.handle('outbound', s));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    let idle = 0;
    const relay = new Relay(
      { ownPorts: new Set([portOf(listener)]), maxConnections, connectTimeoutMs: 1000 },
      { originalDst: { read: () => original(portOf(listener)) }, metrics, log: quiet, isLocal: (a) => a.startsWith('127.'), onIdle: () => (idle += 1) },
    );
    return { relay, metrics, listener, port: portOf(listener), idle: () => idle };
  }

  /** Connects, sends `hello`, half-closes, returns what came back or the error code. */
  function call(port: number): Promise<string> {
    return new Promise((resolve) => {
      let data = '';
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => c.end('hello'));
      c.setEncoding('utf8');
      c.on('data', (d: string) => (data += d));
      c.on('end', () => resolve(data));
      c.on('error', (e: NodeJS.ErrnoException) => resolve(`ERR ${e.code ?? ''}`));
    });
  }

  it('pipes both ways through a half-close, counts ok and the bytes, and reports idle', async () => {
    const t = await setup(() => ({ family: 4, address: '127.0.0.1', port: targetPort }));
    try {
      assert.equal(await call(t.port), 'got 5');
      await new Promise((r) => setTimeout(r, 50));
      const r = { metrics: t.metrics };
      assert.equal(await scrape(r, 'siding_proxy_connections_total{direction="outbound",outcome="ok"}'), 1);
      assert.equal(await scrape(r, 'siding_proxy_bytes_total{direction="outbound",way="upstream"}'), 5);
      assert.equal(await scrape(r, 'siding_proxy_bytes_total{direction="outbound",way="downstream"}'), 5);
      assert.equal(t.relay.open, 0);
      assert.equal(t.idle(), 1);
    } finally {
      t.listener.close();
    }
  });

  it('resets the client when the original destination cannot be read, and counts it', async () => {
    const t = await setup(() => 'getsockopt: ENOENT');
    try {
      assert.equal(await call(t.port), 'ERR ECONNRESET');
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_connections_total{direction="outbound",outcome="original_dst_error"}'), 1);
    } finally {
      t.listener.close();
    }
  });

  it('resets the client when the original destination is its own listener (loop)', async () => {
    const t = await setup((port) => ({ family: 4, address: '127.0.0.1', port }));
    try {
      assert.equal(await call(t.port), 'ERR ECONNRESET');
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_connections_total{direction="outbound",outcome="loop"}'), 1);
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_connections_total{direction="outbound",outcome="ok"}'), 0);
    } finally {
      t.listener.close();
    }
  });

  it('resets the client when the destination refuses, and counts connect_error', async () => {
    const closed = net.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = portOf(closed);
    closed.close();
    const t = await setup(() => ({ family: 4, address: '127.0.0.1', port }));
    try {
      assert.equal(await call(t.port), 'ERR ECONNRESET');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_connections_total{direction="outbound",outcome="connect_error"}'), 1);
    } finally {
      t.listener.close();
    }
  });

  it('refuses a connection over the limit and resets the held ones with closeAll', async () => {
    const t = await setup(() => ({ family: 4, address: '127.0.0.1', port: targetPort }), 1);
    const held = net.connect({ port: t.port, host: '127.0.0.1' });
    held.on('error', () => undefined);
    try {
      await once(held, 'connect');
      while (t.relay.open === 0) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await call(t.port), 'ERR ECONNRESET');
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_connections_total{direction="outbound",outcome="over_limit"}'), 1);
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_active_connections{direction="outbound"}'), 1);
      const reset = new Promise((resolve) => held.once('close', resolve));
      t.relay.closeAll();
      await reset;
      while (t.relay.open > 0) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await scrape({ metrics: t.metrics }, 'siding_proxy_connections_total{direction="outbound",outcome="drain_closed"}'), 1);
    } finally {
      held.destroy();
      t.listener.close();
    }
  });
});
