/**
 * `siding proxy` behind Istio's default redirect: in a pod namespace programmed by the exact
 * istio-init command line, with the proxy running as UID 1337, an app's HTTP call to a peer
 * and the peer's call to the app both go through the proxy, and its metrics count them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PEER4, POD4, ISTIO_INIT_ARGS } from './init-lib.js';
import { ProxyLab, proxyPrerequisite, type RunningProxy } from './proxy-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = proxyPrerequisite();

describe('siding proxy with the redirect of Istio\'s flags (siding init -p 15001 -z 15006 -u 1337 -m REDIRECT -i * -x "" -b * -d 15090,15021,15020)', skipUnless(prereq), () => {
  let lab: ProxyLab;
  let proxy: RunningProxy;

  before(async () => {
    lab = await ProxyLab.create('pxistio');
    await lab.serve('pod', [
      { kind: 'http', port: 8080, name: 'app' },
      { kind: 'who', port: 15020, name: 'app-excluded' },
    ]);
    await lab.serve('peer', [
      { kind: 'http', port: 9000, name: 'peer' },
      { kind: 'who', port: 9001, name: 'peer-9001' },
    ]);
    await lab.init(ISTIO_INIT_ARGS);
    proxy = await lab.proxy(['--drain-seconds', '1']);
  });
  after(async () => {
    await proxy?.stop('SIGKILL');
    await lab?.destroy();
  });

  it('answers 200 on /healthz/ready once its listeners are bound', async () => {
    assert.equal(await lab.ready(), '200 ready');
  });

  it("carries an app's HTTP call to the peer and the peer's call to the app, and counts one connection each way", async () => {
    const out = JSON.parse(await lab.client('pod', { op: 'http', host: PEER4, port: 9000 })) as { who: string; from: string };
    assert.equal(out.who, 'peer');
    const inbound = JSON.parse(await lab.client('peer', { op: 'http', host: POD4, port: 8080 })) as { who: string; from: string };
    assert.equal(inbound.who, 'app');
    // The app sees the passthrough source, not the peer: the call came through 15006.
    assert.equal(inbound.from, '::ffff:127.0.0.6');

    const m = await lab.metrics();
    assert.deepEqual(m.outcomes('outbound'), { ok: 1 });
    assert.deepEqual(m.outcomes('inbound'), { ok: 1 });
    for (const direction of ['outbound', 'inbound'] as const) {
      // An HTTP request one way and a response the other: bytes both ways.
      assert.ok(m.bytes(direction, 'upstream') > 30, `${direction} upstream bytes: ${m.text}`);
      assert.ok(m.bytes(direction, 'downstream') > 30, `${direction} downstream bytes: ${m.text}`);
      assert.equal(m.value('siding_proxy_connect_seconds_count', { direction }), 1);
      assert.equal(m.value('siding_proxy_active_connections', { direction }), 0);
    }
  });

  it('refuses a direct dial of the outbound port with the loop guard, from the app and from the peer', async () => {
    assert.equal(await lab.client('pod', { op: 'who', host: '127.0.0.1', port: 15001 }), 'ERR ECONNRESET');
    assert.equal(await lab.client('pod', { op: 'who', host: POD4, port: 15001 }), 'ERR ECONNRESET');
    // From the peer, 15001 is captured inbound like any port; its original destination is the proxy.
    assert.equal(await lab.client('peer', { op: 'who', host: POD4, port: 15001 }), 'ERR ECONNRESET');
    const m = await lab.metrics();
    assert.equal(m.connections('outbound', 'loop'), 2);
    assert.equal(m.connections('inbound', 'loop'), 1);
    // Refused, never connected to itself: no further connection was made.
    assert.equal(m.connections('outbound', 'ok'), 1);
    assert.equal(m.connections('inbound', 'ok'), 1);
  });

  it('lets an excluded inbound port (-d 15020) reach the app directly, from the peer address', async () => {
    const before = (await lab.metrics()).outcomes('inbound');
    assert.equal(await lab.client('peer', { op: 'who', host: POD4, port: 15020 }), `app-excluded ::ffff:${PEER4}`);
    assert.deepEqual((await lab.metrics()).outcomes('inbound'), before);
  });

  it('lets an excluded outbound port (-o 9001) bypass it, while other ports still go through', async () => {
    await lab.init([...ISTIO_INIT_ARGS, '-o', '9001']);
    const before = (await lab.metrics()).connections('outbound', 'ok');
    assert.equal(await lab.client('pod', { op: 'who', host: PEER4, port: 9001 }), `peer-9001 ::ffff:${POD4}`);
    assert.equal((await lab.metrics()).connections('outbound', 'ok'), before);
    assert.equal((JSON.parse(await lab.client('pod', { op: 'http', host: PEER4, port: 9000 })) as { who: string }).who, 'peer');
    assert.equal((await lab.metrics()).connections('outbound', 'ok'), before + 1);
  });

  it('exits 0 on SIGTERM', async () => {
    assert.equal(await proxy.stop('SIGTERM'), 0);
    assert.ok(proxy.log.some((l) => l.includes('"msg":"stopped"')), proxy.log.join('\n'));
  });
});
