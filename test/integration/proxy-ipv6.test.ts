/**
 * `siding proxy` over IPv6: the redirect of Istio's flags with --dual-stack programs ip6tables too (as
 * istio-iptables does for a dual-stack pod), outbound calls reach the peer through the proxy (IP6T_SO_ORIGINAL_DST), and
 * inbound calls reach the app from ::6, which is on lo as siding init leaves it. Without ::6
 * an inbound IPv6 connection is reset and counted, never looped back into the proxy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { must, PEER6, POD6, ISTIO_INIT_ARGS } from './init-lib.js';
import { ProxyLab, proxyPrerequisite, type RunningProxy } from './proxy-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = proxyPrerequisite();

describe('siding proxy over IPv6', skipUnless(prereq), () => {
  let lab: ProxyLab;
  let proxy: RunningProxy;

  before(async () => {
    lab = await ProxyLab.create('pxv6', { ipv6: true });
    await lab.serve('pod', [{ kind: 'http', port: 8080, name: 'app' }]);
    await lab.serve('peer', [{ kind: 'http', port: 9000, name: 'peer' }]);
    await lab.init([...ISTIO_INIT_ARGS, '--dual-stack']);
    proxy = await lab.proxy(['--drain-seconds', '0']);
  });
  after(async () => {
    await proxy?.stop('SIGKILL');
    await lab?.destroy();
  });

  it("carries the app's IPv6 call to the peer and the peer's IPv6 call to the app, which sees ::6", async () => {
    const out = JSON.parse(await lab.client('pod', { op: 'http', host: PEER6, port: 9000 })) as { who: string; from: string };
    assert.deepEqual(out, { who: 'peer', from: POD6 });
    const inbound = JSON.parse(await lab.client('peer', { op: 'http', host: POD6, port: 8080 })) as { who: string; from: string };
    assert.deepEqual(inbound, { who: 'app', from: '::6' });
    const m = await lab.metrics();
    assert.deepEqual(m.outcomes('outbound'), { ok: 1 });
    assert.deepEqual(m.outcomes('inbound'), { ok: 1 });
  });

  it('refuses a direct dial of [::1]:15001 with the loop guard', async () => {
    assert.equal(await lab.client('pod', { op: 'who', host: '::1', port: 15001 }), 'ERR ECONNRESET');
    assert.equal((await lab.metrics()).connections('outbound', 'loop'), 1);
  });

  it('without ::6 on lo, warns at start and resets an IPv6 inbound connection instead of looping it', async () => {
    await must('ip', ['-n', lab.lab.pod, '-6', 'addr', 'del', '::6/128', 'dev', 'lo']);
    try {
      await proxy.stop('SIGTERM');
      proxy = await lab.proxy(['--drain-seconds', '0']);
      assert.ok(proxy.log.some((l) => l.includes('passthrough source is not on lo')), proxy.log.join('\n'));
      assert.equal(await lab.client('peer', { op: 'http', host: POD6, port: 8080 }), 'ERR ECONNRESET');
      const m = await lab.metrics();
      assert.deepEqual(m.outcomes('inbound'), { connect_error: 1 });
      assert.deepEqual(m.outcomes('outbound'), {});
    } finally {
      await must('ip', ['-n', lab.lab.pod, '-6', 'addr', 'add', '::6/128', 'dev', 'lo', 'nodad']);
    }
  });
});
