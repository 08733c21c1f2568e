/**
 * The webhook's TLS over real connections on 127.0.0.1, with an RSA certificate (the kind
 * `siding certs generate` and `--manage-certs` make, with which static RSA key exchange
 * would be possible): a TLS 1.2 client offering only static-RSA suites, or only CBC suites,
 * is refused in the handshake; ECDHE with AES-GCM or ChaCha20-Poly1305 connects, and so does
 * TLS 1.3. (The API server's own client connects in the e2e suite, which calls the webhook
 * for every pod it creates.)
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { startServer, type WebhookServer } from '../../src/admission/server.js';
import { staticTlsSource } from '../../src/admission/tls.js';
import { generateSelfSigned, parseSubjectAltName } from '../../src/certs/index.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';

type Handshake = { ok: true; protocol: string; cipher: string } | { ok: false; error: string };

function handshake(port: number, options: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      resolve({ ok: true, protocol: socket.getProtocol() ?? '', cipher: socket.getCipher().standardName });
      socket.end();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
  });
}

describe('the webhook’s TLS cipher suites', { timeout: 60_000 }, () => {
  let server: WebhookServer;
  before(async () => {
    const material = await generateSelfSigned({ validityDays: 1, subjectAltNames: [parseSubjectAltName('127.0.0.1')] });
    assert.equal(new X509Certificate(material.cert).publicKey.asymmetricKeyType, 'rsa', 'the test needs an RSA certificate');
    server = await startServer(
      { getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'silent' } },
      { listen: { host: '127.0.0.1', port: 0 }, tls: staticTlsSource(material), timeouts: { drainIdle: 0 } },
    );
  });
  after(async () => {
    await server.close();
  });

  const refused: [string, string][] = [
    ['static RSA key exchange with AES-GCM', 'AES128-GCM-SHA256:AES256-GCM-SHA384'],
    ['static RSA key exchange with CBC', 'AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256'],
    ['ECDHE with CBC', 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384'],
  ];
  for (const [what, ciphers] of refused) {
    it(`refuses a TLS 1.2 client that offers only ${what}`, async () => {
      const r = await handshake(server.address.port, { maxVersion: 'TLSv1.2', ciphers });
      assert.equal(r.ok, false, `the handshake succeeded: ${JSON.stringify(r)}`);
    });
  }

  const accepted: [string, string, string][] = [
    ['ECDHE with AES-128-GCM', 'ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
    ['ECDHE with AES-256-GCM', 'ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
    ['ECDHE with ChaCha20-Poly1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  ];
  for (const [what, ciphers, standardName] of accepted) {
    it(`accepts a TLS 1.2 client that offers only ${what}`, async () => {
      const r = await handshake(server.address.port, { maxVersion: 'TLSv1.2', ciphers });
      assert.deepEqual(r, { ok: true, protocol: 'TLSv1.2', cipher: standardName });
    });
  }

  it('negotiates TLS 1.3 with a client that offers it', async () => {
    const r = await handshake(server.address.port, {});
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.protocol, 'TLSv1.3');
  });

  it('prefers an AEAD suite when a TLS 1.2 client offers CBC and static RSA first', async () => {
    const r = await handshake(server.address.port, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256' });
    assert.deepEqual(r, { ok: true, protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' });
  });
});
