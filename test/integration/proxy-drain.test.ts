/**
 * `siding proxy` on SIGTERM: readiness turns 503, inbound stops, outbound still works, a
 * transfer in progress finishes within the drain, one that outlasts it is reset, and the
 * proxy exits 0 in every case.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PEER4, POD4, ISTIO_INIT_ARGS } from './init-lib.js';
import { ProxyLab, proxyPrerequisite, waitForLine } from './proxy-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = proxyPrerequisite();
const CHUNK = 65536;

describe('siding proxy drains on SIGTERM', skipUnless(prereq), () => {
  let lab: ProxyLab;

  before(async () => {
    lab = await ProxyLab.create('pxdrain');
    await lab.serve('pod', [{ kind: 'http', port: 8080, name: 'app' }]);
    await lab.serve('peer', [
      { kind: 'http', port: 9000, name: 'peer' },
      { kind: 'source', port: 9104 },
    ]);
    await lab.init(ISTIO_INIT_ARGS);
  });
  after(async () => {
    await lab?.destroy();
  });

  it('lets a transfer in progress finish, answers 503, refuses inbound, still carries outbound, then exits 0', async () => {
    const proxy = await lab.proxy(['--drain-seconds', '4']);
    try {
      // 20 chunks, one every 100 ms: about 2 s, inside the 4 s drain.
      const transfer = lab.startClient({ op: 'download', host: PEER4, port: 9104, bytes: 20 * CHUNK, seed: 7, chunkDelayMs: 100, timeoutMs: 15_000 });
      await waitForLine(transfer.child, transfer.out, (l) => l === 'started');
      const signalled = Date.now();
      proxy.child.kill('SIGTERM');
      await waitForLine(proxy.child, proxy.log, (l) => l.includes('draining'));

      assert.equal(await lab.ready(), '503 draining');
      assert.equal(await lab.client('peer', { op: 'http', host: POD4, port: 8080 }), 'ERR ECONNREFUSED');
      assert.equal((JSON.parse(await lab.client('pod', { op: 'http', host: PEER4, port: 9000 })) as { who: string }).who, 'peer');

      await waitForLine(transfer.child, transfer.out, (l) => l.startsWith('OK') || l.startsWith('SHORT') || l.startsWith('ERR'), 10_000);
      assert.deepEqual(transfer.out, ['started', `OK ${20 * CHUNK}`]);
      assert.equal(await proxy.exited(), 0);
      // It waited out the drain (outbound may still be needed by an app shutting down).
      assert.ok(Date.now() - signalled >= 3500, `exited after ${Date.now() - signalled} ms`);
    } finally {
      await proxy.stop('SIGKILL');
    }
  });

  it('resets a transfer still running when the drain ends, and exits 0', async () => {
    const proxy = await lab.proxy(['--drain-seconds', '1']);
    try {
      // 40 chunks at 100 ms: about 4 s, longer than the 1 s drain.
      const transfer = lab.startClient({ op: 'download', host: PEER4, port: 9104, bytes: 40 * CHUNK, seed: 8, chunkDelayMs: 100, timeoutMs: 15_000 });
      await waitForLine(transfer.child, transfer.out, (l) => l === 'started');
      const signalled = Date.now();
      proxy.child.kill('SIGTERM');
      assert.equal(await proxy.exited(), 0);
      const took = Date.now() - signalled;
      assert.ok(took >= 900 && took < 3000, `exited after ${took} ms`);
      assert.equal(await waitForLine(transfer.child, transfer.out, (l) => l !== 'started'), 'ERR ECONNRESET');
      assert.ok(proxy.log.some((l) => l.includes('drain over')), proxy.log.join('\n'));
    } finally {
      await proxy.stop('SIGKILL');
    }
  });

  it('with --exit-when-idle exits at once when nothing is open', async () => {
    const proxy = await lab.proxy(['--drain-seconds', '30', '--exit-when-idle']);
    const signalled = Date.now();
    assert.equal(await proxy.stop('SIGTERM'), 0);
    assert.ok(Date.now() - signalled < 2000, `exited after ${Date.now() - signalled} ms`);
  });
});
