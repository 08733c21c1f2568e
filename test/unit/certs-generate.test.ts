import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import {
  generateCa,
  generateSelfSigned,
  generateServingCert,
  generateWebhookCertificates,
  parseSubjectAltName,
  randomSerialHex,
  type CertKeyPair,
  type WebhookCertificates,
} from '../../src/certs/index.js';
import { CertError } from '../../src/errors/index.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const sans = (...values: string[]) => values.map(parseSubjectAltName);

/** The public key a PEM private key belongs to, for comparing against a certificate. */
function publicKeyOf(keyPem: string): string {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'pem' }).toString();
}

describe('generateWebhookCertificates', () => {
  let bundle: WebhookCertificates;
  let ca: X509Certificate;
  let leaf: X509Certificate;
  const now = new Date('2030-06-01T12:00:00Z');

  before(async () => {
    bundle = await generateWebhookCertificates({
      service: 'siding',
      namespace: 'siding-system',
      extraSubjectAltNames: sans('localhost', '127.0.0.1', '::1'),
      validityDays: 90,
      caValidityDays: 365,
      now,
    });
    ca = new X509Certificate(bundle.ca.cert);
    leaf = new X509Certificate(bundle.serving.cert);
  });

  it('signs the serving certificate with the CA: the signature verifies and the CA is its issuer', () => {
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(leaf.checkIssued(ca), true);
    assert.equal(ca.verify(ca.publicKey), true, 'the CA is self-signed');
  });

  it('does not verify the serving certificate against an unrelated CA', async () => {
    const other = new X509Certificate((await generateCa({ validityDays: 30 })).cert);
    assert.equal(leaf.verify(other.publicKey), false);
    assert.equal(leaf.checkIssued(other), false);
  });

  it('marks the CA as a CA and the serving certificate as not one', () => {
    assert.equal(ca.ca, true);
    assert.equal(leaf.ca, false);
  });

  it('names the Service four ways, then the extra names, in the serving certificate', () => {
    assert.deepEqual(leaf.subjectAltName?.split(', '), [
      'DNS:siding',
      'DNS:siding.siding-system',
      'DNS:siding.siding-system.svc',
      'DNS:siding.siding-system.svc.cluster.local',
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    assert.equal(leaf.checkHost('siding.siding-system.svc'), 'siding.siding-system.svc');
    assert.equal(leaf.checkHost('siding.other.svc'), undefined);
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leaf.checkIP('10.0.0.1'), undefined);
  });

  it('is valid for the requested days from the given clock, starting slightly in the past', () => {
    const from = new Date(leaf.validFrom).getTime();
    const to = new Date(leaf.validTo).getTime();
    assert.ok(from < now.getTime() && from >= now.getTime() - 60 * 60 * 1000, `notBefore ${leaf.validFrom}`);
    assert.equal(to, now.getTime() + 90 * DAY_MS);
    assert.equal(new Date(ca.validTo).getTime(), now.getTime() + 365 * DAY_MS);
  });

  it('gives the CA and the serving certificate different, positive serials of at least 64 bits', () => {
    assert.notEqual(ca.serialNumber, leaf.serialNumber);
    for (const serial of [ca.serialNumber, leaf.serialNumber]) {
      assert.ok(serial.length >= 16, `serial ${serial} has at least 8 bytes`);
      assert.ok(parseInt(serial.slice(0, 2), 16) < 0x80, `serial ${serial} is positive`);
    }
  });

  it('pairs each private key with its certificate and uses RSA of at least 2048 bits', () => {
    assert.equal(publicKeyOf(bundle.serving.key), leaf.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    assert.equal(publicKeyOf(bundle.ca.key), ca.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    assert.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
    assert.ok((leaf.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048);
    assert.doesNotThrow(() => createSecureContext({ cert: bundle.serving.cert, key: bundle.serving.key }));
  });

  it('produces different serials and keys on every run', async () => {
    const again = await generateWebhookCertificates({ service: 'siding', namespace: 'siding-system', validityDays: 1, caValidityDays: 1 });
    const leaf2 = new X509Certificate(again.serving.cert);
    assert.notEqual(leaf2.serialNumber, leaf.serialNumber);
    assert.notEqual(again.serving.key, bundle.serving.key);
  });

  it('refuses a serving validity longer than the CA validity', async () => {
    await assert.rejects(
      generateWebhookCertificates({ service: 's', namespace: 'n', validityDays: 10, caValidityDays: 5 }),
      (e: unknown) => e instanceof CertError && /exceeds the CA validity/.test(e.message),
    );
  });
});

describe('generateServingCert', () => {
  let ca: CertKeyPair;
  before(async () => {
    ca = await generateCa({ validityDays: 30 });
  });

  it('refuses a certificate that would outlive its CA', async () => {
    await assert.rejects(
      generateServingCert({ ca, validityDays: 31, commonName: 'x', subjectAltNames: sans('x') }),
      (e: unknown) => e instanceof CertError && /outlive its CA/.test(e.message),
    );
  });

  it('refuses a CA key that does not belong to the CA certificate', async () => {
    const other = await generateCa({ validityDays: 30 });
    await assert.rejects(
      generateServingCert({ ca: { cert: ca.cert, key: other.key }, validityDays: 1, commonName: 'x', subjectAltNames: sans('x') }),
      (e: unknown) => e instanceof CertError && /does not belong/.test(e.message),
    );
  });

  it('refuses to sign with a certificate that is not a CA', async () => {
    const leaf = await generateServingCert({ ca, validityDays: 1, commonName: 'x', subjectAltNames: sans('x') });
    await assert.rejects(
      generateServingCert({ ca: leaf, validityDays: 1, commonName: 'y', subjectAltNames: sans('y') }),
      (e: unknown) => e instanceof CertError && /not a CA/.test(e.message),
    );
  });

  it('refuses a certificate without subject alternative names', async () => {
    await assert.rejects(generateServingCert({ ca, validityDays: 1, commonName: 'x', subjectAltNames: [] }), CertError);
  });

  for (const days of [0, -1, 1.5, 3651, Number.NaN]) {
    it(`refuses a validity of ${days} days`, async () => {
      await assert.rejects(generateCa({ validityDays: days }), (e: unknown) => e instanceof CertError && /validity/.test(e.message));
    });
  }
});

describe('generateSelfSigned', () => {
  // That a TLS client can trust it directly is checked over a real connection in test/integration/webhook-https.test.ts.
  it('verifies against itself and covers localhost, 127.0.0.1 and ::1', async () => {
    const pair = await generateSelfSigned({ validityDays: 1, subjectAltNames: sans('localhost', '127.0.0.1', '::1') });
    const cert = new X509Certificate(pair.cert);
    assert.equal(cert.verify(cert.publicKey), true);
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(publicKeyOf(pair.key), cert.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  });
});

describe('randomSerialHex', () => {
  it('clears the sign bit and never starts with a zero byte, whatever the random source gives', () => {
    for (const fill of [0x00, 0xff, 0x80, 0x7f]) {
      const hex = randomSerialHex((n) => Buffer.alloc(n, fill));
      const first = parseInt(hex.slice(0, 2), 16);
      assert.ok(first >= 0x40 && first < 0x80, `first byte ${first.toString(16)} for fill ${fill.toString(16)}`);
      assert.equal(hex.length, 32);
    }
  });

  it('keeps the remaining bytes from the random source', () => {
    const hex = randomSerialHex((n) => Buffer.from(Array.from({ length: n }, (_, i) => i + 1)));
    assert.equal(hex, '4102030405060708090a0b0c0d0e0f10');
  });

  it('puts the serial from the random source into the certificate', async () => {
    const pair = await generateCa({ validityDays: 1, randomBytes: (n) => Buffer.alloc(n, 0xab) });
    assert.equal(new X509Certificate(pair.cert).serialNumber, `6B${'AB'.repeat(15)}`);
  });
});
