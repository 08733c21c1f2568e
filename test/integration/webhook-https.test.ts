/**
 * The webhook over real HTTPS on loopback: certificate verification against the generated
 * CA, the reviews every webhook must answer (inject, re-invoke, opt out, deny), certificate hot reload without dropping connections,
 * graceful close, slow-client timeouts, and the CLI's SIGTERM handling.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { startServer, type WebhookServer } from '../../src/admission/server.js';
import { fileTlsSource, selfSignedTlsSource, staticTlsSource } from '../../src/admission/tls.js';
import { generateCertificateFiles, generateWebhookCertificates, parseSubjectAltName } from '../../src/certs/index.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { CertError } from '../../src/errors/index.js';
import { loadFixture } from '../helpers/fixtures.js';

const REPO = new URL('../../', import.meta.url);

interface Review {
  apiVersion: string;
  request: { uid: string; object: V1Pod };
}
interface Answer {
  apiVersion: string;
  response: { uid: string; allowed: boolean; patch?: string; patchType?: string; status?: { code: number; message: string } };
}

const loadReview = (): Review => loadFixture<Review>('admission', 'review-v1-pod.json');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  reusedSocket: boolean;
  peerFingerprint: string;
}

/** One HTTPS request; resolves with the answer and what the TLS layer saw. */
function request(
  url: string,
  options: https.RequestOptions & { body?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.body === undefined ? 'GET' : 'POST', ...options }, (res) => {
      // Read now: a keep-alive agent takes the socket back once the body has been read.
      const peerFingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          reusedSocket: req.reusedSocket,
          peerFingerprint,
        });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) {
      req.setHeader('content-type', 'application/json');
      req.end(options.body);
    } else req.end();
  });
}

const postReview = async (url: string, review: unknown, options: https.RequestOptions): Promise<Answer> => {
  const r = await request(`${url}/inject`, { ...options, body: JSON.stringify(review) });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Answer;
};

const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** Polls `check` until it returns true; the test's own timeout bounds the wait. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function quietDeps() {
  return { getConfig: () => DEFAULT_CONFIG, registry: new Registry(), log: { level: 'silent' as const } };
}

describe('the webhook over HTTPS with certificate files', { timeout: 60_000 }, () => {
  let dir: string;
  let ca: string;
  let server: WebhookServer;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'siding-webhook-'));
    await generateCertificateFiles({
      service: 'siding',
      namespace: 'siding-system',
      outDir: dir,
      extraSubjectAltNames: ['localhost', '127.0.0.1'].map(parseSubjectAltName),
      validityDays: 1,
      caValidityDays: 1,
      force: false,
    });
    ca = await readFile(path.join(dir, 'ca.crt'), 'utf8');
    server = await startServer(quietDeps(), {
      listen: { host: '127.0.0.1', port: 0 },
      tls: fileTlsSource(path.join(dir, 'tls.crt'), path.join(dir, 'tls.key'), { pollIntervalMs: 25 }),
    });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('injects, re-injects unchanged, skips an opted-out pod and denies a hostile one over a connection verified against the generated CA', async () => {
    const opts = { ca, agent: false as const };
    const review = loadReview();
    const first = await postReview(server.url, review, opts);
    assert.equal(first.response.uid, review.request.uid);
    assert.equal(first.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(first.response.patch ?? '', 'base64').toString()) as Operation[];
    const injected = fastJsonPatch.applyPatch(structuredClone(review.request.object), patch, true, false).newDocument;
    assert.deepEqual(injected.spec?.initContainers?.map((c) => c.name), ['siding-init', 'siding-proxy', 'migrate']);
    assert.equal(injected.spec?.initContainers?.[1]?.restartPolicy, 'Always');
    assert.deepEqual(injected.spec?.containers, review.request.object.spec?.containers);
    assert.ok(injected.metadata?.annotations?.['siding.io/status']);

    const again = loadReview();
    again.request.object = injected;
    assert.equal((await postReview(server.url, again, opts)).response.patch, undefined);

    const optedOut = loadReview();
    optedOut.request.object.metadata!.labels!['siding.io/inject'] = 'false';
    const skipped = await postReview(server.url, optedOut, opts);
    assert.equal(skipped.response.allowed, true);
    assert.equal(skipped.response.patch, undefined);

    const hostile = loadReview();
    hostile.request.object.metadata!.annotations!['traffic.siding.io/excludeOutboundPorts'] = '80;rm -rf /';
    const denied = await postReview(server.url, hostile, opts);
    assert.equal(denied.response.allowed, false);
    assert.match(denied.response.status?.message ?? '', /traffic\.siding\.io\/excludeOutboundPorts/);
  });

  it('presents a certificate valid for the Service’s cluster DNS name', async () => {
    const r = await request(`${server.url}/healthz`, { ca, servername: 'siding.siding-system.svc', agent: false });
    assert.equal(r.status, 200);
  });

  it('is refused by a client that trusts a different CA', async () => {
    const other = await generateWebhookCertificates({ service: 'siding', namespace: 'siding-system', validityDays: 1, caValidityDays: 1 });
    await assert.rejects(request(`${server.url}/healthz`, { ca: other.ca.cert, agent: false }), /certificate/);
  });

  it('answers /metrics and /readyz over HTTPS', async () => {
    const ready = await request(`${server.url}/readyz`, { ca, agent: false });
    assert.equal(ready.status, 200);
    const metrics = await request(`${server.url}/metrics`, { ca, agent: false });
    assert.match(metrics.body, /^siding_webhook_tls_not_after_seconds \d+/m);
  });

  it('serves rewritten certificate files to new connections while an open keep-alive connection keeps working', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const before = await request(`${server.url}/healthz`, { agent });
      const oldFingerprint = fingerprintOf(await readFile(path.join(dir, 'tls.crt'), 'utf8'));
      assert.equal(before.peerFingerprint, oldFingerprint);

      // New material from the same kind of run: written aside, then renamed over the old files.
      const next = await generateWebhookCertificates({
        service: 'siding',
        namespace: 'siding-system',
        extraSubjectAltNames: ['127.0.0.1'].map(parseSubjectAltName),
        validityDays: 1,
        caValidityDays: 1,
      });
      await writeFile(path.join(dir, 'tls.crt.new'), next.serving.cert);
      await writeFile(path.join(dir, 'tls.key.new'), next.serving.key);
      await rename(path.join(dir, 'tls.key.new'), path.join(dir, 'tls.key'));
      await rename(path.join(dir, 'tls.crt.new'), path.join(dir, 'tls.crt'));

      const newFingerprint = fingerprintOf(next.serving.cert);
      const both = [ca, next.ca.cert];
      await eventually(async () => {
        const fresh = await request(`${server.url}/healthz`, { ca: both, agent: false });
        return fresh.peerFingerprint === newFingerprint;
      });

      const sameConnection = await request(`${server.url}/healthz`, { agent });
      assert.equal(sameConnection.status, 200);
      assert.equal(sameConnection.reusedSocket, true, 'the keep-alive connection survived the reload');
      assert.equal(sameConnection.peerFingerprint, oldFingerprint);
      assert.match((await request(`${server.url}/metrics`, { ca: both, agent: false })).body, /siding_webhook_tls_reloads_total\{result="success"\} [1-9]/);
    } finally {
      agent.destroy();
    }
  });

  it('rejects an update whose key does not match its certificate and keeps serving the current one', async () => {
    const a = await generateWebhookCertificates({ service: 'siding', namespace: 'siding-system', validityDays: 1, caValidityDays: 1 });
    const b = await generateWebhookCertificates({ service: 'siding', namespace: 'siding-system', validityDays: 1, caValidityDays: 1 });
    const current = fingerprintOf(await readFile(path.join(dir, 'tls.crt'), 'utf8'));
    assert.throws(() => server.updateTls({ cert: a.serving.cert, key: b.serving.key }), CertError);
    assert.throws(() => server.updateTls({ cert: 'not a certificate', key: 'not a key' }), CertError);
    const r = await request(`${server.url}/healthz`, { rejectUnauthorized: false, agent: false });
    assert.equal(r.peerFingerprint, current);
  });
});

describe('the webhook’s connection handling', { timeout: 60_000 }, () => {
  it('serves its in-memory self-signed certificate, which a client can trust directly', async () => {
    const server = await startServer(quietDeps(), { listen: { host: '127.0.0.1', port: 0 }, tls: selfSignedTlsSource() });
    try {
      const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: server.address.port, rejectUnauthorized: false }, () => {
          resolve(s.getPeerCertificate());
          s.end();
        });
        s.on('error', reject);
      });
      const pem = `-----BEGIN CERTIFICATE-----\n${peer.raw.toString('base64')}\n-----END CERTIFICATE-----\n`;
      const viaName = await request(`https://localhost:${server.address.port}/healthz`, { ca: pem, agent: false, lookup: loopbackLookup });
      assert.equal(viaName.status, 200);
      const viaIp = await request(`${server.url}/healthz`, { ca: pem, agent: false });
      assert.equal(viaIp.status, 200);
    } finally {
      await server.close();
    }
  });

  it('finishes a review that is in flight when closing starts, tells the client to close, then refuses new connections', async () => {
    const pair = await generateWebhookCertificates({
      service: 's',
      namespace: 'n',
      extraSubjectAltNames: [parseSubjectAltName('127.0.0.1')],
      validityDays: 1,
      caValidityDays: 1,
    });
    const server = await startServer(quietDeps(), { listen: { host: '127.0.0.1', port: 0 }, tls: staticTlsSource(pair.serving) });
    const body = JSON.stringify(loadReview());
    const half = Math.floor(body.length / 2);
    let closed: Promise<void> | undefined;
    const reply = await new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
      const req = https.request(
        `${server.url}/inject`,
        { method: 'POST', ca: pair.ca.cert, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
        },
      );
      req.on('error', reject);
      // Half the body, then start closing, then the rest: the request is in flight throughout.
      req.write(body.slice(0, half), () => {
        closed = server.close();
        setImmediate(() => req.end(body.slice(half)));
      });
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.connection, 'close');
    assert.equal((JSON.parse(reply.text) as Answer).response.patchType, 'JSONPatch');
    assert.ok(closed !== undefined, 'closing started while the request was in flight');
    await closed;
    await assert.rejects(request(`${server.url}/healthz`, { ca: pair.ca.cert, agent: false }), { code: 'ECONNREFUSED' });
  });

  it('drops a client that never finishes sending its request headers', async () => {
    const pair = await generateWebhookCertificates({
      service: 's',
      namespace: 'n',
      extraSubjectAltNames: [parseSubjectAltName('127.0.0.1')],
      validityDays: 1,
      caValidityDays: 1,
    });
    const server = await startServer(quietDeps(), {
      listen: { host: '127.0.0.1', port: 0 },
      tls: staticTlsSource(pair.serving),
      timeouts: { headers: 200, request: 300, checkInterval: 50 },
    });
    try {
      const received = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: server.address.port, ca: pair.ca.cert }, () => {
          socket.write('POST /inject HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n');
        });
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(received, /^HTTP\/1\.1 408/);
    } finally {
      await server.close();
    }
  });
});

describe('siding webhook (the CLI process)', { timeout: 60_000 }, () => {
  it('serves with a self-signed certificate, logs one line per review, and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'webhook', '--listen', '127.0.0.1:0', '--log-level', 'info'],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const listening = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (parsed.msg === 'webhook listening') resolve(parsed.url as string);
      });
      void exited.then((code) => reject(new Error(`webhook exited (${code}) before listening: ${stderr}`)));
    });
    try {
      const url = await listening;
      assert.ok(lines.some((l) => l.level === 40 && /self-signed/.test(String(l.msg))), 'it logs that the certificate is self-signed');
      const review = loadReview();
      const answer = await postReview(url, review, { rejectUnauthorized: false, agent: false });
      assert.equal(answer.response.patchType, 'JSONPatch');

      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      const reviews = lines.filter((l) => l.msg === 'admission review');
      assert.equal(reviews.length, 1);
      assert.equal(reviews[0]?.uid, review.request.uid);
      assert.equal(reviews[0]?.decision, 'injected');
      assert.ok(lines.some((l) => l.msg === 'webhook stopped'));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Resolves every name to 127.0.0.1, so "localhost" is tested without trusting /etc/hosts. */
function loopbackLookup(
  _hostname: string,
  options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void,
): void {
  if (typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true) {
    callback(null, [{ address: '127.0.0.1', family: 4 }]);
  } else callback(null, '127.0.0.1', 4);
}
