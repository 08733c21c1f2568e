/**
 * SIGTERM while `siding webhook` (the CLI process) is under load: 16 clients keep reviews in
 * flight on keep-alive connections; the signal arrives mid-stream. No review the webhook
 * accepted may fail: every review it handled (its uid is in the webhook's log) was answered
 * 200 with its own uid. A request the webhook never handled may fail below HTTP (refused or
 * reset once it stopped accepting); none may get an HTTP error. The process exits 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { skipUnless } from '../helpers/prereq.js';
import { builtCliPrerequisite, handledUids, postReview, startWebhookProcess, type Outcome } from './hardening-lib.js';

const CONCURRENCY = 16;
// Reviews answered before the signal: enough for every connection to be warm and busy.
const BEFORE_SIGNAL = 400;
// Connection-level failures a request may see once the server has stopped accepting.
const NOT_ACCEPTED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'socket hang up']);

const ready = builtCliPrerequisite();

describe('siding webhook receiving SIGTERM under load', { timeout: 120_000, ...skipUnless(ready) }, () => {
  it('answers every review it accepted, refuses the rest below HTTP, and exits 0', async () => {
    const webhook = await startWebhookProcess();
    try {
      const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY, rejectUnauthorized: false });
      const outcomes: (Outcome & { sentBeforeSignal: boolean; answeredAfterSignal: boolean })[] = [];
      let signalled = false;
      let answered = 0;
      let signalSent!: () => void;
      const signal = new Promise<void>((resolve) => (signalSent = resolve));
      let seq = 0;

      // Each worker keeps one review in flight until its request fails after the signal
      // (the server stopped accepting) or the process has exited.
      const worker = async (): Promise<void> => {
        for (;;) {
          const sentBeforeSignal = !signalled;
          const o = await postReview(webhook.url, `review-${seq++}`, { agent });
          outcomes.push({ ...o, sentBeforeSignal, answeredAfterSignal: signalled });
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
      const code = await webhook.exited;
      await Promise.all(workers);
      agent.destroy();

      assert.equal(code, 0, 'the webhook did not exit 0 after SIGTERM');
      const handled = handledUids(webhook.logs);
      for (const o of outcomes) {
        if (o.status !== undefined) {
          assert.equal(o.status, 200, `${o.uid} got HTTP ${o.status}`);
          assert.equal(o.answeredUid, o.uid, `${o.uid} was answered with another uid`);
          assert.equal(o.patched, true, `${o.uid} has no patch`);
        } else {
          assert.ok(NOT_ACCEPTED.has(o.error ?? ''), `${o.uid} failed with ${String(o.error)}`);
          assert.ok(!handled.has(o.uid), `${o.uid} was handled by the webhook (logged) but the client got ${String(o.error)}`);
        }
      }
      // The signal really arrived mid-stream: reviews sent before it were answered after it.
      const inFlight = outcomes.filter((o) => o.sentBeforeSignal && o.answeredAfterSignal && o.status === 200).length;
      assert.ok(inFlight > 0, 'no review was in flight when SIGTERM was sent');
      // And the webhook logged that it finished them before stopping.
      const messages = webhook.logs.map((l) => l.msg);
      assert.ok(messages.includes('webhook stopped'), `no "webhook stopped" in ${JSON.stringify(messages.slice(-5))}`);
      const failedBeforeSignal = outcomes.filter((o) => o.sentBeforeSignal && o.status === undefined).length;
      process.stderr.write(
        `sigterm: ${outcomes.length} reviews, ${inFlight} in flight at the signal and answered, ${failedBeforeSignal} sent before it and never accepted\n`,
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
