import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { KubeError } from '../../src/errors/index.js';
import { decodeBundle } from '../../src/kube/cabundle.js';
import { CertManager, type TlsMaterial } from '../../src/kube/certmanager.js';
import { certsIssuer } from '../../src/kube/issuer.js';
import { ANNOTATIONS, SECRET_KEYS } from '../../src/kube/material.js';
import { DAY_MS, type Issuer, type RotationPolicy } from '../../src/kube/rotation.js';
import { FakeClock, FakeKubeApi, RecordingLogger, settle } from '../helpers/kube-fake.js';

const NS = 'siding-system';
const SECRET = 'siding-webhook-certs';
const HOUR = 60 * 60 * 1000;
const policy: RotationPolicy = { caValidityDays: 30, servingValidityDays: 10, renewFraction: 1 / 3, overlapMs: HOUR, checkIntervalMs: 5 * 60 * 1000 };
const issuer = certsIssuer({ service: 'siding', namespace: NS, caValidityDays: 30, servingValidityDays: 10 });

/** Our webhook plus one of someone else's in the same configuration. */
function seedWebhookConfiguration(api: FakeKubeApi): void {
  api.putWebhookConfiguration({
    metadata: { name: 'siding' },
    webhooks: [
      { name: 'audit.example.com', clientConfig: { service: { namespace: 'audit', name: 'audit' }, caBundle: 'c29tZW9uZSBlbHNl' } },
      { name: 'inject.siding.io', clientConfig: { service: { namespace: NS, name: 'siding', path: '/inject' } }, sideEffects: 'None' },
    ],
  });
}

function bundleOf(api: FakeKubeApi): string[] {
  return decodeBundle(api.webhookConfiguration('siding')?.webhooks[1]?.clientConfig.caBundle);
}

function secretData(api: FakeKubeApi): Record<string, string> {
  const s = api.secret(NS, SECRET);
  assert.ok(s, 'the Secret exists');
  return s.data;
}

const managers: CertManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) {
    m.stop();
    await m.idle();
  }
});

function manager(
  api: FakeKubeApi,
  clock: FakeClock,
  over: { onTls?: (t: TlsMaterial) => void; issuer?: Issuer; log?: RecordingLogger; watchSecret?: boolean } = {},
): CertManager {
  const m = new CertManager({
    api,
    namespace: NS,
    secretName: SECRET,
    webhookConfigName: 'siding',
    service: 'siding',
    policy,
    issuer: over.issuer ?? issuer,
    clock,
    log: over.log ?? new RecordingLogger(),
    watchSecret: over.watchSecret ?? false,
    ...(over.onTls === undefined ? {} : { onTls: over.onTls }),
  });
  managers.push(m);
  return m;
}

const trim = (s: string): string => s.trim();

/**
 * Lets time pass the way a running webhook sees it: a check at day 7 and day 13.7 renews
 * the serving certificate each time, then at day 20.1 the CA is due.
 */
async function ageToCaRenewal(m: CertManager, clock: FakeClock): Promise<void> {
  for (const days of [7, 6.7, 6.4]) {
    clock.advance(days * DAY_MS);
    await m.idle();
  }
}

describe('CertManager start-up', () => {
  it('creates the Secret, patches our caBundle only, and serves a certificate the bundle verifies over real TLS', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const material = await manager(api, clock).start();

    const data = secretData(api);
    for (const k of [SECRET_KEYS.caCert, SECRET_KEYS.caKey, SECRET_KEYS.tlsCert, SECRET_KEYS.tlsKey]) assert.ok(data[k], `${k} is set`);
    assert.equal(material.cert, data[SECRET_KEYS.tlsCert]);
    assert.deepEqual(bundleOf(api), [data[SECRET_KEYS.caCert]!.trim()]);
    const untouched = api.webhookConfiguration('siding')!.webhooks[0]!;
    assert.equal(untouched.clientConfig.caBundle, 'c29tZW9uZSBlbHNl', "another service's webhook keeps its caBundle");

    // The API server's view: trust only the caBundle, connect by the Service DNS name.
    const server = tls.createServer({ cert: material.cert, key: material.key }, (s) => s.end('hello'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        servername: 'siding.siding-system.svc',
        ca: bundleOf(api).join('\n'),
      });
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      assert.equal(chunk.toString(), 'hello');
      assert.equal(socket.authorized, true);
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('two replicas starting at once create exactly one Secret and both serve its certificate', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const [a, b] = await Promise.all([manager(api, clock).start(), manager(api, clock).start()]);

    const creates = api.callsTo('createSecret').map((c) => c.outcome);
    assert.deepEqual(creates.sort(), ['AlreadyExists', 'ok']);
    assert.equal(a.cert, b.cert);
    assert.equal(a.cert, secretData(api)[SECRET_KEYS.tlsCert]);
    assert.deepEqual(bundleOf(api), [secretData(api)[SECRET_KEYS.caCert]!.trim()]);
  });

  it('uses a valid existing Secret without writing to it', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const first = await manager(api, clock).start();
    const rv = api.secret(NS, SECRET)!.resourceVersion;
    const second = await manager(api, clock).start();
    assert.equal(second.cert, first.cert);
    assert.equal(api.secret(NS, SECRET)!.resourceVersion, rv);
  });

  it('replaces a Secret whose CA key does not match its CA, keeping the Secret type', async () => {
    const api = new FakeKubeApi();
    const clock = new FakeClock(Date.now());
    const other = await issuer.newCa(clock.now());
    const ca = await issuer.newCa(clock.now());
    api.putSecret(NS, SECRET, {
      type: 'Opaque',
      data: { 'ca.crt': ca.cert, 'ca.key': other.key, 'tls.crt': 'x', 'tls.key': 'y' },
      labels: {},
      annotations: {},
    });
    const log = new RecordingLogger();
    const material = await manager(api, clock, { log }).start();
    const s = api.secret(NS, SECRET)!;
    assert.equal(s.type, 'Opaque');
    assert.notEqual(s.data[SECRET_KEYS.caCert], ca.cert);
    assert.equal(material.cert, s.data[SECRET_KEYS.tlsCert]);
    assert.ok(log.lines.some((l) => l.msg === 'updated the certificate Secret' && (l.obj as { reason?: string }).reason === 'ca.key does not belong to ca.crt'));
  });

  it('starts without a webhook configuration and patches it once it appears', async () => {
    const api = new FakeKubeApi();
    const clock = new FakeClock(Date.now());
    const log = new RecordingLogger();
    const m = manager(api, clock, { log });
    await m.start();
    assert.ok(log.messages('warn').includes('webhook configuration not found; caBundle not patched'));
    seedWebhookConfiguration(api);
    clock.advance(policy.checkIntervalMs);
    await m.idle();
    assert.deepEqual(bundleOf(api), [secretData(api)[SECRET_KEYS.caCert]!.trim()]);
  });

  it('fails start-up with a KubeError when the API refuses to create the Secret', async () => {
    const api = new FakeKubeApi();
    api.before = (method) => {
      if (method === 'createSecret') throw new KubeError('secrets is forbidden', 403, { reason: 'Forbidden' });
    };
    await assert.rejects(manager(api, new FakeClock(Date.now())).start(), (e: unknown) => e instanceof KubeError && e.statusCode === 403);
  });
});

describe('CertManager renewal and concurrency', () => {
  it('renews the serving certificate once a third of its life remains and hands it to onTls', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const delivered: TlsMaterial[] = [];
    const m = manager(api, clock, { onTls: (t) => delivered.push(t) });
    const first = await m.start();
    const caBefore = secretData(api)[SECRET_KEYS.caCert];

    clock.advance(6 * DAY_MS);
    await m.idle();
    assert.equal(delivered.length, 0, 'nothing changes with 4 of 10 days left');

    clock.advance(0.7 * DAY_MS);
    await m.idle();
    assert.equal(delivered.length, 1);
    assert.notEqual(delivered[0]!.cert, first.cert);
    assert.equal(delivered[0]!.cert, secretData(api)[SECRET_KEYS.tlsCert]);
    assert.equal(secretData(api)[SECRET_KEYS.caCert], caBefore, 'the CA stays');
    assert.ok(new X509Certificate(delivered[0]!.cert).verify(new X509Certificate(caBefore!).publicKey));
  });

  it('two replicas renewing at once: one write wins, the other gets a Conflict, re-reads, and serves the winner', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const gotA: TlsMaterial[] = [];
    const gotB: TlsMaterial[] = [];
    const a = manager(api, clock, { onTls: (t) => gotA.push(t) });
    const b = manager(api, clock, { onTls: (t) => gotB.push(t) });
    await a.start();
    await b.start();

    clock.advance(7 * DAY_MS);
    await Promise.all([a.idle(), b.idle()]);

    assert.deepEqual(api.callsTo('replaceSecret').map((c) => c.outcome).sort(), ['Conflict', 'ok']);
    assert.equal(gotA.length, 1);
    assert.equal(gotB.length, 1);
    assert.equal(gotA[0]!.cert, gotB[0]!.cert);
    assert.equal(gotA[0]!.cert, secretData(api)[SECRET_KEYS.tlsCert]);
  });

  it('gives up with a KubeError when the Secret changes under every attempt', async () => {
    const api = new FakeKubeApi();
    const clock = new FakeClock(Date.now());
    const m = manager(api, clock);
    await m.start();
    clock.advance(7 * DAY_MS);
    await m.idle();
    // From now on every update loses to a concurrent writer.
    api.before = (method, args) => {
      if (method === 'replaceSecret') {
        const s = api.secret(NS, SECRET)!;
        api.putSecret(NS, SECRET, { type: s.type, data: s.data, labels: s.labels, annotations: { ...s.annotations, touched: String(args.length) } });
      }
    };
    clock.advance(7 * DAY_MS);
    await m.idle();
    assert.match(m.status().lastError ?? '', /gave up on Secret siding-system\/siding-webhook-certs after 8 attempts/);
    assert.equal(api.callsTo('replaceSecret').filter((c) => c.outcome === 'Conflict').length, 8);
  });

  it('recreates the Secret when it is deleted', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const delivered: TlsMaterial[] = [];
    const m = manager(api, clock, { onTls: (t) => delivered.push(t), watchSecret: true });
    const first = await m.start();
    await settle();
    api.deleteSecret(NS, SECRET);
    await settle();
    await m.idle();
    assert.ok(api.secret(NS, SECRET), 'recreated');
    assert.equal(delivered.length, 1);
    assert.notEqual(delivered[0]!.cert, first.cert);
    assert.deepEqual(bundleOf(api), [secretData(api)[SECRET_KEYS.caCert]!.trim()]);
  });
});

describe('CertManager CA rotation', () => {
  it('adds the new CA to the bundle first, switches the serving certificate an overlap later, and drops the old CA last', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const delivered: TlsMaterial[] = [];
    const m = manager(api, clock, { onTls: (t) => delivered.push(t) });
    const first = await m.start();
    const oldCa = trim(secretData(api)[SECRET_KEYS.caCert]!);

    // 20.1 days in: the CA has less than a third of its 30 days left.
    await ageToCaRenewal(m, clock);
    let data = secretData(api);
    const newCa = trim(data[SECRET_KEYS.caCert]!);
    assert.notEqual(newCa, oldCa);
    assert.equal(trim(data[SECRET_KEYS.previousCa]!), oldCa);
    assert.deepEqual(bundleOf(api), [newCa, oldCa], 'the bundle trusts both');
    const serving = new X509Certificate(data[SECRET_KEYS.tlsCert]!);
    assert.ok(serving.verify(new X509Certificate(oldCa).publicKey), 'the serving certificate is still from the old CA');
    assert.equal(m.status().rotation, 'new-ca-in-bundle');
    const servingBeforeSwitch = data[SECRET_KEYS.tlsCert];

    clock.advance(HOUR - 1000);
    await m.idle();
    assert.equal(secretData(api)[SECRET_KEYS.tlsCert], servingBeforeSwitch, 'no switch before the overlap has passed');

    clock.advance(5 * 60 * 1000);
    await m.idle();
    data = secretData(api);
    const switched = new X509Certificate(data[SECRET_KEYS.tlsCert]!);
    assert.ok(switched.verify(new X509Certificate(newCa).publicKey), 'the serving certificate now comes from the new CA');
    assert.deepEqual(bundleOf(api), [newCa, oldCa], 'the old CA is still trusted while replicas catch up');
    assert.ok(data[SECRET_KEYS.previousCa]);
    assert.ok(api.secret(NS, SECRET)!.annotations[ANNOTATIONS.servingSwitchedAt]);
    assert.equal(delivered.at(-1)!.cert, data[SECRET_KEYS.tlsCert]);
    assert.equal(m.status().rotation, 'serving-switched');

    clock.advance(HOUR + 5 * 60 * 1000);
    await m.idle();
    data = secretData(api);
    assert.equal(data[SECRET_KEYS.previousCa], undefined);
    assert.deepEqual(bundleOf(api), [newCa], 'only the new CA is trusted at the end');
    assert.equal(api.secret(NS, SECRET)!.annotations[ANNOTATIONS.caRotationStartedAt], undefined);
    assert.equal(m.status().rotation, 'none');
    assert.notEqual(delivered.at(-1)!.cert, first.cert);
  });

  it('holds back the serving switch while the caBundle cannot be patched, and switches once it can', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    const clock = new FakeClock(Date.now());
    const log = new RecordingLogger();
    const m = manager(api, clock, { log });
    await m.start();
    let forbid = true;
    api.before = (method) => {
      if (forbid && method === 'patchMutatingWebhookConfiguration') throw new KubeError('forbidden', 403, { reason: 'Forbidden' });
    };
    await ageToCaRenewal(m, clock);
    const newCa = trim(secretData(api)[SECRET_KEYS.caCert]!);
    assert.ok(!bundleOf(api).includes(newCa), 'the patch failed, so the bundle lacks the new CA');

    clock.advance(2 * HOUR);
    await m.idle();
    const serving = new X509Certificate(secretData(api)[SECRET_KEYS.tlsCert]!);
    assert.ok(!serving.verify(new X509Certificate(newCa).publicKey), 'not switched to a CA the API server does not trust');
    assert.ok(log.messages('warn').includes('certificate rotation step postponed'));

    forbid = false;
    clock.advance(policy.checkIntervalMs);
    await m.idle();
    assert.ok(bundleOf(api).includes(newCa));
    const after = new X509Certificate(secretData(api)[SECRET_KEYS.tlsCert]!);
    assert.ok(after.verify(new X509Certificate(newCa).publicKey), 'switched once the bundle trusts the new CA');
  });

  it('another replica picks up the rotation through its watch of the Secret and reloads TLS', async () => {
    const api = new FakeKubeApi();
    seedWebhookConfiguration(api);
    // Separate clocks, so that only replica A's re-check runs; B can only learn from its watch.
    const clockA = new FakeClock(Date.now());
    const clockB = new FakeClock(clockA.now());
    const gotB: TlsMaterial[] = [];
    const a = manager(api, clockA);
    await a.start();
    const b = manager(api, clockB, { onTls: (t) => gotB.push(t), watchSecret: true });
    await b.start();
    await settle();
    assert.equal(api.openWatches(), 1);

    clockA.advance(7 * DAY_MS);
    await a.idle();
    await settle();
    await b.idle();
    assert.equal(gotB.length, 1);
    assert.equal(gotB[0]!.cert, secretData(api)[SECRET_KEYS.tlsCert]);
  });
});
