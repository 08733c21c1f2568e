/**
 * TLS material replaced under load: `siding webhook --tls-cert-file --tls-key-file` serves a
 * certificate from CA 1 while clients stream reviews; the files are replaced by a pair from
 * a new CA 2 (certificate first, key a moment later, as a non-atomic update does). No review
 * fails; connections opened before the swap keep working; new connections present the new
 * certificate, which a client trusting only CA 2 accepts and one trusting only CA 1 refuses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { generateCertificateFiles, parseSubjectAltName } from '../../src/certs/index.js';
import { skipUnless } from '../helpers/prereq.js';
import { builtCliPrerequisite, postReview, startWebhookProcess, type Outcome } from './hardening-lib.js';

const SERVERNAME = 'siding.hardening.svc';
const ready = builtCliPrerequisite();

interface Pair {
  ca: string;
  cert: string;
  key: string;
  fingerprint: string;
}

async function makePair(dir: string): Promise<Pair> {
  const files = await generateCertificateFiles({
    service: 'siding',
    namespace: 'hardening',
    outDir: dir,
    validityDays: 1,
    caValidityDays: 1,
    extraSubjectAltNames: [parseSubjectAltName('127.0.0.1')],
    force: false,
  });
  const cert = readFileSync(files.tlsCert, 'utf8');
  return { ca: readFileSync(files.caCert, 'utf8'), cert, key: readFileSync(files.tlsKey, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** Replaces a file the way a careful writer does: a temporary file, then rename. */
function replaceFile(file: string, contents: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, contents, { mode: 0o600 });
  renameSync(tmp, file);
}

describe('siding webhook with its certificate files replaced under load', { timeout: 120_000, ...skipUnless(ready) }, () => {
  it('fails no review, keeps open connections, and presents the new certificate to new connections', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'siding-hardening-tls-'));
    const served = path.join(dir, 'served');
    const first = await makePair(served);
    const second = await makePair(path.join(dir, 'next'));
    const webhook = await startWebhookProcess(['--tls-cert-file', path.join(served, 'tls.crt'), '--tls-key-file', path.join(served, 'tls.key')]);
    try {
      // Clients verify the chain and the name, trusting both CAs; the swap must be invisible to them.
      const trustBoth = { ca: [first.ca, second.ca], servername: SERVERNAME };
      const agent = new https.Agent({ keepAlive: true, maxSockets: 6, ...trustBoth });
      const outcomes: Outcome[] = [];
      const fresh: Outcome[] = [];
      let stop = false;
      let seq = 0;
      const keepAliveWorker = async (): Promise<void> => {
        while (!stop) outcomes.push(await postReview(webhook.url, `ka-${seq++}`, { agent }));
      };
      const freshWorker = async (): Promise<void> => {
        while (!stop) {
          const o = await postReview(webhook.url, `fresh-${seq++}`, { agent: false, ...trustBoth });
          outcomes.push(o);
          fresh.push(o);
          await delay(20);
        }
      };
      const workers = [...Array.from({ length: 6 }, () => keepAliveWorker()), freshWorker()];

      while (outcomes.length < 100) await delay(20);
      const swappedAt = outcomes.length;
      replaceFile(path.join(served, 'tls.crt'), second.cert);
      // The new certificate with the old key: the webhook must notice, refuse the pair, and keep
      // serving the old one. The key follows once it has said so.
      const rejected = (): boolean => webhook.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('rejected'));
      while (!rejected()) {
        assert.equal(webhook.child.exitCode, null, 'the webhook exited');
        await delay(50);
      }
      const duringMismatch = outcomes.length;
      while (outcomes.length < duringMismatch + 50) await delay(20);
      replaceFile(path.join(served, 'tls.key'), second.key);
      // Until a new connection presents the new certificate (the files are polled every second).
      while (!fresh.slice(-1).some((o) => o.fingerprint === second.fingerprint)) {
        assert.equal(webhook.child.exitCode, null, 'the webhook exited');
        await delay(50);
      }
      const reloadedAt = outcomes.length;
      while (outcomes.length < reloadedAt + 100) await delay(20);
      stop = true;
      await Promise.all(workers);

      for (const o of outcomes) {
        assert.equal(o.status, 200, `${o.uid}: ${String(o.error)}`);
        assert.equal(o.answeredUid, o.uid);
        assert.equal(o.patched, true);
      }
      assert.ok(outcomes.length > swappedAt + 100);
      // Connections opened before the swap kept serving with the old certificate after it.
      const afterReload = outcomes.slice(reloadedAt);
      assert.ok(
        afterReload.some((o) => o.reusedSocket === true && o.fingerprint === first.fingerprint),
        'no open keep-alive connection was reused with the old certificate after the reload',
      );
      // Before the key arrived, new connections still got the old pair (the mismatched one was
      // never served); from the reload on, every new connection presents the new certificate.
      for (const o of fresh.filter((x) => outcomes.indexOf(x) < duringMismatch + 50)) {
        assert.equal(o.fingerprint, first.fingerprint, `${o.uid} was served a certificate before its key arrived`);
      }
      const freshAfter = fresh.filter((o) => outcomes.indexOf(o) >= reloadedAt);
      assert.ok(freshAfter.length > 0);
      for (const o of freshAfter) assert.equal(o.fingerprint, second.fingerprint, `${o.uid} got the old certificate on a new connection`);
      agent.destroy();

      const onlyNew = await postReview(webhook.url, 'only-ca2', { agent: false, ca: second.ca, servername: SERVERNAME });
      assert.equal(onlyNew.status, 200, String(onlyNew.error));
      const onlyOld = await postReview(webhook.url, 'only-ca1', { agent: false, ca: first.ca, servername: SERVERNAME });
      assert.equal(onlyOld.status, undefined);
      assert.match(onlyOld.error ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/i);

      webhook.child.kill('SIGTERM');
      assert.equal(await webhook.exited, 0);
    } finally {
      webhook.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
