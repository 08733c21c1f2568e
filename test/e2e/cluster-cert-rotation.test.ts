/**
 * The serving certificate and the caBundle change while pods are being created, and no
 * creation fails.
 *
 * manage mode (the testenv's default, as the manifests run siding): the webhook rotates
 * by itself. The test only writes the state another replica leaves after starting a CA
 * rotation (step 1: a new CA in ca.crt, the old one in previous-ca.crt, tls.crt still from
 * the old CA), with a new CA that is itself already due for renewal. The webhook must
 * finish that rotation (switch, finish) and then run a whole one of its own (start,
 * switch, finish): five caBundle or certificate changes, timed by the testenv's short
 * --ca-overlap and --cert-check-interval.
 *
 * static mode: an operator rotates by hand, as docs/webhook.md describes: a new CA and
 * certificate from `siding certs generate`, caBundle = old + new CA, the webhook's
 * certificate files replaced (it reloads them), then the old CA dropped from the bundle.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type * as k8s from '@kubernetes/client-node';
import { generateCa } from '../../src/certs/index.js';
import { createKubeApi } from '../../src/kube/client.js';
import { materialFromSecret, secretFromMaterial, SECRET_KEYS } from '../../src/kube/material.js';
import { DAY_MS } from '../../src/kube/rotation.js';
import { skipUnless } from '../helpers/prereq.js';
import {
  SIDING,
  apiMessage,
  caBundle,
  certsMode,
  clients,
  eventually,
  injectionProblems,
  kubeconfig,
  Namespaces,
  podFixture,
  prereq,
  siding,
  sleep,
  stateDir,
  webhookAddress,
  type Clients,
} from './helpers/cluster.js';

/** Pods in flight at once, and the pause each creator takes between pods. */
const CREATORS = 2;
const PAUSE_MS = 250;
/** At least this many pods in all, and this many after the rotation has completed. */
const MIN_PODS = 40;
const MIN_PODS_AFTER = 6;

interface Stream {
  /** Resolves when stopped and drained; the failures, if any. */
  done: Promise<void>;
  created: k8s.V1Pod[];
  failures: string[];
  /** Ask the stream to stop once it has created `MIN_PODS` in all and `MIN_PODS_AFTER` from now on. */
  finish(): void;
}

/** Creates pods, a few at a time, until finish() and the minimum counts are reached. */
function podStream(c: Clients, namespace: string): Stream {
  const created: k8s.V1Pod[] = [];
  const failures: string[] = [];
  let finishedAt: number | undefined;
  let n = 0;
  const enough = (): boolean => finishedAt !== undefined && created.length + failures.length >= Math.max(MIN_PODS, finishedAt + MIN_PODS_AFTER);
  const creator = async (): Promise<void> => {
    while (!enough()) {
      const name = `stream-${String(n++).padStart(4, '0')}`;
      try {
        created.push(await c.core.createNamespacedPod({ namespace, body: podFixture(namespace, name) }));
      } catch (e) {
        failures.push(`${name}: ${apiMessage(e)}`);
      }
      await sleep(PAUSE_MS);
    }
  };
  const done = Promise.all(Array.from({ length: CREATORS }, creator)).then(() => undefined);
  return {
    done,
    created,
    failures,
    finish: () => {
      finishedAt = created.length + failures.length;
    },
  };
}

/** The certificate the webhook serves to a new connection, checked against `ca` as the API server would. */
function servedCertificate(addr: { host: string; port: number }, ca: string): Promise<{ authorized: boolean; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: addr.host, port: addr.port, servername: `${SIDING.service}.${SIDING.namespace}.svc`, ca, rejectUnauthorized: false },
      () => {
        resolve({ authorized: socket.authorized, fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '' });
        socket.end();
      },
    );
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** The webhook's log lines with `msg` after `since` (ms). */
function webhookLog(since: number): Array<{ msg?: string; action?: string; time: number }> {
  return readFileSync(join(stateDir, 'logs', 'webhook.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; action?: string; time: number })
    .filter((l) => l.time >= since);
}

describe('pod creation while the serving certificate rotates', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-rotate', SIDING.injectionLabel);
  });

  after(async () => {
    await namespaces?.cleanup();
  });

  // Only the test for the testenv's mode is registered: a skipped test would count as a
  // skip in CI. scripts/e2e.sh runs the suite in manage mode; static mode is run by hand.
  const inMode = (mode: string): typeof it => (certsMode === mode ? it : ((() => undefined) as unknown as typeof it));

  inMode('manage')('manage mode: the webhook finishes a CA rotation another replica started and runs one of its own, and no pod creation fails', async () => {
    const api = createKubeApi({ kubeconfigPath: kubeconfig });
    const addr = await webhookAddress(c);
    const secret = await api.getSecret(SIDING.namespace, SIDING.certSecret);
    assert.ok(secret, `the webhook created the Secret ${SIDING.certSecret}`);
    const read = materialFromSecret(secret);
    assert.ok(read.ok);
    const original = read.material;
    assert.equal(original.previousCa, undefined, 'no rotation in progress yet');

    // A CA issued 20 days ago for 22 days: a third of its life is long gone, so once it
    // is the only CA the webhook must rotate it.
    const aged = await generateCa({ validityDays: 22, now: new Date(Date.now() - 20 * DAY_MS), commonName: 'siding-ca.e2e-aged' });
    const since = Date.now();
    const stream = podStream(c, ns);
    try {
      await sleep(1000); // pods are flowing before anything changes
      await api.replaceSecret(
        SIDING.namespace,
        SIDING.certSecret,
        secret.resourceVersion,
        secretFromMaterial({ ...original, ca: aged, previousCa: original.ca.cert, caRotationStartedAt: Date.now(), servingSwitchedAt: undefined }, secret),
      );

      // Done: a CA that is neither of the two, alone in the Secret and the bundle, and
      // its serving certificate is what a new connection gets.
      const final = await eventually(
        'the webhook to complete both rotations',
        async () => {
          const now = await api.getSecret(SIDING.namespace, SIDING.certSecret);
          if (now === undefined) return undefined;
          const ca = now.data[SECRET_KEYS.caCert];
          const cert = now.data[SECRET_KEYS.tlsCert];
          if (ca === undefined || cert === undefined || now.data[SECRET_KEYS.previousCa] !== undefined) return undefined;
          if (ca.trim() === aged.cert.trim() || ca.trim() === original.ca.cert.trim()) return undefined;
          if (JSON.stringify(await caBundle(c)) !== JSON.stringify([ca.trim()])) return undefined;
          const served = await servedCertificate(addr, ca);
          return served.authorized && served.fingerprint === fingerprint(cert) ? { ca, cert } : undefined;
        },
        90_000,
      );
      stream.finish();
      await stream.done;

      assert.ok(new X509Certificate(final.cert).verify(new X509Certificate(final.ca).publicKey));
      // The webhook's logger buffers: wait for the last step's line.
      const actions = await eventually('the log of the last rotation step', () => {
        const steps = webhookLog(since)
          .filter((l) => l.msg === 'updated the certificate Secret')
          .map((l) => l.action);
        return steps.length >= 5 ? steps : undefined;
      });
      assert.deepEqual(actions, ['switch-serving', 'finish-ca-rotation', 'start-ca-rotation', 'switch-serving', 'finish-ca-rotation']);
      assert.equal(webhookLog(since).filter((l) => l.msg === 'serving certificate changed; reloading TLS').length, 2);
    } finally {
      stream.finish();
      await stream.done;
    }
    assert.deepEqual(stream.failures, []);
    assert.ok(stream.created.length >= MIN_PODS);
    for (const pod of stream.created) assert.deepEqual(injectionProblems(pod), []);
  });

  inMode('static')('static mode: an operator rotates CA and certificate files with an overlap, and no pod creation fails', async () => {
    const certDir = join(stateDir, 'webhook-certs');
    const addr = await webhookAddress(c);
    const oldCa = readFileSync(join(certDir, 'ca.crt'), 'utf8');
    const work = mkdtempSync(join(tmpdir(), 'siding-e2e-rotate-'));
    const patchBundle = async (cas: string[]): Promise<void> => {
      const config = await c.admission.readMutatingWebhookConfiguration({ name: SIDING.webhookConfig });
      const index = config.webhooks?.findIndex((w) => w.name === SIDING.webhookName) ?? -1;
      assert.ok(index >= 0);
      await c.admission.patchMutatingWebhookConfiguration({
        name: SIDING.webhookConfig,
        body: [
          { op: 'test', path: `/webhooks/${index}/name`, value: SIDING.webhookName },
          { op: 'replace', path: `/webhooks/${index}/clientConfig/caBundle`, value: Buffer.from(cas.map((x) => x.trim()).join('\n') + '\n').toString('base64') },
        ],
      });
    };
    /** Replaces a file in one step (rename), as a Secret volume update does. */
    const replaceFile = (from: string, to: string): void => {
      copyFileSync(from, `${to}.e2e-new`);
      renameSync(`${to}.e2e-new`, to);
    };
    const overlap = (): Promise<void> => sleep(3000);

    const stream = podStream(c, ns);
    try {
      await sleep(1000);
      const generated = await siding(['certs', 'generate', '--service', SIDING.service, '--namespace', SIDING.namespace, '--out-dir', work]);
      assert.equal(generated.exitCode, 0, generated.stderr);
      const newCa = readFileSync(join(work, 'ca.crt'), 'utf8');
      const newCert = readFileSync(join(work, 'tls.crt'), 'utf8');

      await patchBundle([oldCa, newCa]);
      await overlap();
      replaceFile(join(work, 'tls.key'), join(certDir, 'tls.key'));
      replaceFile(join(work, 'tls.crt'), join(certDir, 'tls.crt'));
      await eventually('the webhook to serve the new certificate', async () => {
        const served = await servedCertificate(addr, newCa);
        return served.authorized && served.fingerprint === fingerprint(newCert) ? true : undefined;
      });
      await overlap();
      await patchBundle([newCa]);
      // The testenv's own record of the CA (kube-testenv.sh status, up).
      replaceFile(join(work, 'ca.crt'), join(certDir, 'ca.crt'));
      await overlap();
      stream.finish();
      await stream.done;
      assert.deepEqual(await caBundle(c), [newCa.trim()]);
    } finally {
      stream.finish();
      await stream.done;
      rmSync(work, { recursive: true, force: true });
    }
    assert.deepEqual(stream.failures, []);
    assert.ok(stream.created.length >= MIN_PODS);
    for (const pod of stream.created) assert.deepEqual(injectionProblems(pod), []);
  });
});
