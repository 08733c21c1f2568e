/**
 * SIGTERM while `siding webhook` (the CLI process) is under load, as in a rollout: 16
 * clients keep reviews in flight on keep-alive connections (a pool that reuses the most
 * recent connection first, as Go's does) and go on sending after the signal, as the API
 * server does until it learns the replica is gone. No request written on an open connection
 * may fail: each is answered 200 with its own uid, and from the signal on with
 * `Connection: close`. /readyz answers 503 from the signal on. Only once the drain is over
 * may a new connection be refused. The process exits 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { skipUnless } from '../helpers/prereq.js';
import { builtCliPrerequisite, postReview, startWebhookProcess, type Outcome } from './hardening-lib.js';

const CONCURRENCY = 16;
// Reviews answered before the signal: enough for every connection to be warm and busy.
const BEFORE_SIGNAL = 400;

const ready = builtCliPrerequisite();

/** GET /readyz on a connection of its own. */
function readyz(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/readyz`, { agent: false, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

describe('siding webhook receiving SIGTERM under load', { timeout: 120_000, ...skipUnless(ready) }, () => {
  it('answers every request sent on an open connection after the signal, with Connection: close, reports unready, and exits 0', async () => {
    const webhook = await startWebhookProcess();
    try {
      const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY, scheduling: 'lifo', rejectUnauthorized: false });
      const outcomes: (Outcome & { afterSignal: boolean; afterUnready: boolean })[] = [];
      let signalled = false;
      // Set once /readyz has answered 503: the process has handled the signal by then.
      let unready = false;
      let answered = 0;
      let signalSent!: () => void;
      const signal = new Promise<void>((resolve) => (signalSent = resolve));
      let seq = 0;

      // Each worker keeps one review in flight until a request fails after the signal (the
      // drain is over and the server no longer accepts) or the process has exited.
      const worker = async (): Promise<void> => {
        for (;;) {
          const afterSignal = signalled;
          const afterUnready = unready;
          const o = await postReview(webhook.url, `review-${seq++}`, { agent });
          outcomes.push({ ...o, afterSignal, afterUnready });
          answered += 1;
          if (answered === BEFORE_SIGNAL && !signalled) {
            signalled = true;
            webhook.child.kill('SIGTERM');
            signalSent();
          }
          if (signalled && (o.error !== undefined || webhook.child.exitCode !== null)) return;
        }
      };
      const workers = Array.from({ length: CONCURRENCY }, () => worker());
      await signal;
      const readiness = await readyz(webhook.url);
      unready = 'status' in readiness && readiness.status === 503;
      const code = await webhook.exited;
      await Promise.all(workers);
      agent.destroy();

      assert.equal(code, 0, 'the webhook did not exit 0 after SIGTERM');
      assert.ok('status' in readiness, `GET /readyz right after SIGTERM failed: ${JSON.stringify(readiness)}`);
      assert.equal(readiness.status, 503, readiness.body);
      assert.match(readiness.body, /shutting down/);

      const onOpenConnections = outcomes.filter((o) => o.reusedSocket === true);
      const failedOnOpen = onOpenConnections.filter((o) => o.status !== 200 || o.answeredUid !== o.uid);
      assert.deepEqual(failedOnOpen, [], 'requests written on open connections failed');
      const answeredAfter = outcomes.filter((o) => o.afterUnready && o.status === 200);
      assert.ok(answeredAfter.length > 0, 'no review sent after /readyz answered 503 was answered');
      for (const o of answeredAfter) {
        assert.equal(o.connection, 'close', `${o.uid}, sent while draining, was answered without Connection: close`);
        assert.equal(o.patched, true, `${o.uid} has no patch`);
      }
      // Only new connections may fail, and only by being refused once the drain is over (a
      // connection still in the listen queue when the server stops listening is reset).
      for (const o of outcomes.filter((x) => x.status === undefined)) {
        assert.ok(o.error === 'ECONNREFUSED' || o.error === 'ECONNRESET', `${o.uid} failed with ${String(o.error)}`);
        assert.equal(o.reusedSocket, false, `${o.uid} failed on an open connection`);
        assert.ok(o.afterSignal, `${o.uid} was refused before the signal`);
      }
      const messages = webhook.logs.map((l) => l.msg);
      for (const m of ['draining: answering with Connection: close, closing idle connections', 'webhook stopped']) {
        assert.ok(messages.includes(m), `no "${m}" in the log`);
      }
      process.stderr.write(
        `sigterm: ${outcomes.length} reviews, ${onOpenConnections.length} on open connections, ${answeredAfter.length} answered while draining, ` +
          `${outcomes.length - outcomes.filter((o) => o.status === 200).length} refused after the drain\n`,
      );
    } finally {
      webhook.kill();
    }
  });

  it('refuses connections once it has exited', async () => {
    const webhook = await startWebhookProcess();
    webhook.child.kill('SIGTERM');
    assert.equal(await webhook.exited, 0);
    const o = await postReview(webhook.url, 'after-exit', { agent: false, rejectUnauthorized: false });
    assert.equal(o.error, 'ECONNREFUSED');
  });
});
