/**
 * TCP semantics through `siding proxy`: half-close passed through, resets passed on both
 * ways, failed and timed-out connects reset the app's connection, 100 MB arrive intact both
 * ways, and connections over the limit are refused and counted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { must, PEER4, POD4, ISTIO_INIT_ARGS } from './init-lib.js';
import { ProxyLab, proxyPrerequisite, waitForLine, type RunningProxy } from './proxy-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = proxyPrerequisite();
const MB100 = 100 * 1024 * 1024;

describe('TCP through siding proxy', skipUnless(prereq), () => {
  let lab: ProxyLab;
  let proxy: RunningProxy;
  let peer: Awaited<ReturnType<ProxyLab['serve']>>;

  before(async () => {
    lab = await ProxyLab.create('pxtcp');
    await lab.serve('pod', [
      { kind: 'halfclose', port: 8100 },
      { kind: 'sink', port: 8103 },
    ]);
    peer = await lab.serve('peer', [
      { kind: 'halfclose', port: 9100 },
      { kind: 'reset', port: 9101 },
      { kind: 'events', port: 9102 },
      { kind: 'sink', port: 9103 },
      { kind: 'source', port: 9104 },
      { kind: 'hold', port: 9105 },
    ]);
    // The peer silently drops SYNs to 9198, so a connect there can only time out.
    await must('ip', ['netns', 'exec', lab.lab.peer, 'iptables-nft', '-A', 'INPUT', '-p', 'tcp', '--dport', '9198', '-j', 'DROP']);
    await lab.init(ISTIO_INIT_ARGS);
    proxy = await lab.proxy(['--connect-timeout', '300ms', '--drain-seconds', '0']);
  });
  after(async () => {
    await proxy?.stop('SIGKILL');
    await lab?.destroy();
  });

  it('passes a half-close through: the server answers after the client has sent FIN, both ways', async () => {
    assert.equal(await lab.client('pod', { op: 'halfclose', host: PEER4, port: 9100 }), 'got 5 bytes after FIN');
    assert.equal(await lab.client('peer', { op: 'halfclose', host: POD4, port: 8100 }), 'got 5 bytes after FIN');
    const m = await lab.metrics();
    assert.equal(m.connections('outbound', 'ok'), 1);
    assert.equal(m.connections('inbound', 'ok'), 1);
  });

  it("passes the server's reset on to the app as a reset", async () => {
    assert.equal(await lab.client('pod', { op: 'send-and-wait', host: PEER4, port: 9101 }), 'ERR ECONNRESET');
    assert.equal((await lab.metrics()).connections('outbound', 'reset'), 1);
  });

  it("passes the app's reset on to the server as a reset", async () => {
    assert.equal(await lab.client('pod', { op: 'reset', host: PEER4, port: 9102 }), 'RESET SENT');
    await waitForLine(peer.child, peer.events, (l) => l.includes('"port":9102'), 3000);
    assert.deepEqual(
      peer.events.filter((l) => l.includes('"port":9102')).map((l) => JSON.parse(l) as unknown),
      [{ port: 9102, event: 'error', code: 'ECONNRESET' }],
    );
    assert.equal((await lab.metrics()).connections('outbound', 'reset'), 2);
  });

  it('resets the app connection when the destination refuses, and counts connect_error', async () => {
    assert.equal(await lab.client('pod', { op: 'who', host: PEER4, port: 9199 }), 'ERR ECONNRESET');
    assert.equal((await lab.metrics()).connections('outbound', 'connect_error'), 1);
  });

  it('resets the app connection when the destination never answers, after --connect-timeout', async () => {
    const started = Date.now();
    assert.equal(await lab.client('pod', { op: 'who', host: PEER4, port: 9198 }), 'ERR ECONNRESET');
    assert.ok(Date.now() - started >= 300, 'reset before the connect timeout');
    assert.equal((await lab.metrics()).connections('outbound', 'connect_timeout'), 1);
  });

  it('carries 100 MB from the app intact (checksum), and 100 MB to it', async () => {
    assert.equal(await lab.client('pod', { op: 'upload', host: PEER4, port: 9103, bytes: MB100, seed: 1, timeoutMs: 60_000 }), `OK ${MB100}`);
    assert.equal(await lab.client('pod', { op: 'download', host: PEER4, port: 9104, bytes: MB100, seed: 2, timeoutMs: 60_000 }), `OK ${MB100}`);
    const m = await lab.metrics();
    assert.ok(m.bytes('outbound', 'upstream') >= MB100, m.text);
    assert.ok(m.bytes('outbound', 'downstream') >= MB100, m.text);
  });

  it('carries 100 MB from the peer to the app intact, inbound', async () => {
    assert.equal(await lab.client('peer', { op: 'upload', host: POD4, port: 8103, bytes: MB100, seed: 3, timeoutMs: 60_000 }), `OK ${MB100}`);
    assert.ok((await lab.metrics()).bytes('inbound', 'upstream') >= MB100);
  });

  it('refuses connections over --max-connections with a reset and counts over_limit, without stopping', async () => {
    assert.equal(await proxy.stop('SIGTERM'), 0);
    proxy = await lab.proxy(['--max-connections', '2', '--drain-seconds', '0']);
    assert.equal(await lab.client('pod', { op: 'hold', host: PEER4, port: 9105, count: 3, holdMs: 500 }), 'open,open,ECONNRESET');
    const m = await lab.metrics();
    assert.equal(m.connections('outbound', 'over_limit'), 1);
    // The held connections end with the client; then the proxy serves again.
    for (let i = 0; i < 50 && (await lab.metrics()).value('siding_proxy_active_connections', { direction: 'outbound' }) > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await lab.client('pod', { op: 'halfclose', host: PEER4, port: 9100 }), 'got 5 bytes after FIN');
  });
});
