import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileTlsSource, selfSignedTlsSource, staticTlsSource, type TlsMaterial } from '../../src/admission/tls.js';
import { CertError } from '../../src/errors/index.js';
import { X509Certificate } from 'node:crypto';

describe('TLS sources', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'siding-tls-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a static source hands back its material', async () => {
    const m = { cert: 'C', key: 'K' };
    assert.deepEqual(await staticTlsSource(m).load(), m);
  });

  it('a self-signed source generates a certificate for localhost and says so in a notice', async () => {
    const source = selfSignedTlsSource();
    const m = await source.load();
    const cert = new X509Certificate(m.cert);
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.match(source.notice ?? '', /self-signed/);
  });

  it('a file source reads both files', async () => {
    await writeFile(path.join(dir, 'a.crt'), 'CERT-1');
    await writeFile(path.join(dir, 'a.key'), 'KEY-1');
    assert.deepEqual(await fileTlsSource(path.join(dir, 'a.crt'), path.join(dir, 'a.key')).load(), { cert: 'CERT-1', key: 'KEY-1' });
  });

  it('a file source fails with a CertError naming the missing file', async () => {
    await assert.rejects(
      fileTlsSource(path.join(dir, 'missing.crt'), path.join(dir, 'a.key')).load(),
      (e: unknown) => e instanceof CertError && e.message.includes('missing.crt'),
    );
  });

  it('a file source reports a replaced file (written aside and renamed, as Secret volumes do) and stops when told', async () => {
    const cert = path.join(dir, 'w.crt');
    const key = path.join(dir, 'w.key');
    await writeFile(cert, 'CERT-1');
    await writeFile(key, 'KEY-1');
    const seen: TlsMaterial[] = [];
    let notify: (() => void) | undefined;
    const stop = fileTlsSource(cert, key, { pollIntervalMs: 20 }).watch!(
      (m) => {
        seen.push(m);
        notify?.();
      },
      (e) => assert.fail(String(e)),
    );
    // The watcher does not hold the event loop open (persistent: false); this timer does, and
    // fails the test if no change is ever reported.
    let guard: NodeJS.Timeout | undefined;
    try {
      const changed = new Promise<void>((resolve, reject) => {
        notify = resolve;
        guard = setTimeout(() => reject(new Error('no change reported within 10 s')), 10_000);
      });
      await writeFile(`${cert}.new`, 'CERT-2');
      await writeFile(`${key}.new`, 'KEY-2');
      await rename(`${cert}.new`, cert);
      await rename(`${key}.new`, key);
      await changed;
      assert.deepEqual(seen.at(-1), { cert: 'CERT-2', key: 'KEY-2' });
    } finally {
      clearTimeout(guard);
      stop();
    }
  });
});
