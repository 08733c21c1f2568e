/**
 * src/kube against the real kube-apiserver of scripts/kube-testenv.sh
 * (SIDING_E2E_KUBECONFIG, set by scripts/e2e.sh). Everything runs in a namespace and a
 * MutatingWebhookConfiguration of its own, under a ServiceAccount with the same
 * least-privilege RBAC as the manifests (resourceNames-restricted), and is deleted after.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { X509Certificate, randomBytes } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { execa } from 'execa';
import { Registry } from 'prom-client';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { KubeError } from '../../src/errors/index.js';
import { decodeBundle } from '../../src/kube/cabundle.js';
import { CertManager, type CertManagerOptions } from '../../src/kube/certmanager.js';
import { isConflict, type KubeApi } from '../../src/kube/api.js';
import { createKubeApi, loadKubeConfig } from '../../src/kube/client.js';
import { systemClock } from '../../src/kube/clock.js';
import { silentLogger } from '../../src/logger.js';
import { ConfigWatch } from '../../src/kube/configwatch.js';
import { certsIssuer } from '../../src/kube/issuer.js';
import { SECRET_KEYS } from '../../src/kube/material.js';
import { DEFAULT_POLICY } from '../../src/kube/rotation.js';
import { prerequisite, skipUnless } from '../helpers/prereq.js';

const kubeconfig = process.env.SIDING_E2E_KUBECONFIG;
const prereq = prerequisite(() => {
  if (kubeconfig === undefined || kubeconfig === '') return 'SIDING_E2E_KUBECONFIG is not set (run through scripts/e2e.sh)';
  if (!existsSync(kubeconfig)) return `SIDING_E2E_KUBECONFIG ${kubeconfig} does not exist`;
  return undefined;
});

const suffix = randomBytes(3).toString('hex');
const NS = `siding-e2e-kube-${suffix}`;
const MWC = `siding-e2e-kube-${suffix}`;
const SERVICE = 'siding';
const SECRET = 'siding-webhook-certs';
const CONFIGMAP = 'siding-config';
const SA = 'siding';

/** Polls `fn` until it returns a value; the bound only stops a hung test, it asserts nothing about speed. */
async function eventually<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, boundMs = 60_000): Promise<T> {
  const end = Date.now() + boundMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Calls to createSecret held until `n` callers have arrived: n replicas racing for real. */
function racingCreates(api: KubeApi, n: number): { api: KubeApi; outcomes: string[] } {
  const outcomes: string[] = [];
  let arrived = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const wrapped: KubeApi = Object.create(api) as KubeApi;
  wrapped.createSecret = async (namespace, name, body) => {
    arrived += 1;
    if (arrived >= n) release();
    await gate;
    try {
      const s = await api.createSecret(namespace, name, body);
      outcomes.push('ok');
      return s;
    } catch (e) {
      outcomes.push(e instanceof KubeError ? (e.reason ?? String(e.statusCode)) : 'error');
      throw e;
    }
  };
  return { api: wrapped, outcomes };
}

describe('src/kube against a real kube-apiserver', skipUnless(prereq), () => {
  let admin: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let dir: string;
  /** The API as siding's ServiceAccount sees it. */
  let api: KubeApi;
  let saKubeconfig: string;

  before(async () => {
    admin = loadKubeConfig({ kubeconfigPath: kubeconfig });
    core = admin.makeApiClient(k8s.CoreV1Api);
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const adm = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    dir = mkdtempSync(join(tmpdir(), 'siding-e2e-kube-'));

    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: SA } } });
    // The same shape as manifests/: names pinned wherever RBAC allows it.
    await rbac.createNamespacedRole({
      namespace: NS,
      body: {
        metadata: { name: 'siding' },
        rules: [
          { apiGroups: [''], resources: ['secrets'], resourceNames: [SECRET], verbs: ['get', 'list', 'watch', 'update'] },
          { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
          { apiGroups: [''], resources: ['configmaps'], resourceNames: [CONFIGMAP], verbs: ['get', 'list', 'watch'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: 'siding' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'siding' },
        subjects: [{ kind: 'ServiceAccount', name: SA, namespace: NS }],
      },
    });
    await rbac.createClusterRole({
      body: {
        metadata: { name: MWC },
        rules: [
          { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [MWC], verbs: ['get', 'patch'] },
          { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: MWC },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: MWC },
        subjects: [{ kind: 'ServiceAccount', name: SA, namespace: NS }],
      },
    });
    // Matches nothing that exists: a resource of a group no one serves, in namespaces no one labels.
    const inert = {
      rules: [{ operations: ['CREATE'], apiGroups: ['siding-e2e.example.com'], apiVersions: ['v1'], resources: ['nothings'] }],
      namespaceSelector: { matchLabels: { [`siding-e2e-${suffix}`]: 'never' } },
      failurePolicy: 'Ignore',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    };
    await adm.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: MWC },
        webhooks: [
          { name: 'audit.example.com', clientConfig: { service: { namespace: NS, name: 'audit' }, caBundle: Buffer.from('not ours').toString('base64') }, ...inert },
          { name: 'inject.siding.io', clientConfig: { service: { namespace: NS, name: SERVICE, path: '/inject' } }, ...inert },
        ],
      },
    });

    const token = await core.createNamespacedServiceAccountToken({ namespace: NS, name: SA, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const cluster = admin.getCurrentCluster();
    assert.ok(cluster && token.status?.token);
    saKubeconfig = join(dir, 'siding.kubeconfig');
    const sa = new k8s.KubeConfig();
    sa.loadFromClusterAndUser(cluster, { name: 'siding', token: token.status.token });
    writeFileSync(saKubeconfig, sa.exportConfig(), { mode: 0o600 });
    api = createKubeApi({ kubeconfigPath: saKubeconfig });
  });

  after(async () => {
    if (admin === undefined) return;
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const adm = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    await Promise.allSettled([
      adm.deleteMutatingWebhookConfiguration({ name: MWC }),
      rbac.deleteClusterRoleBinding({ name: MWC }),
      rbac.deleteClusterRole({ name: MWC }),
      core.deleteNamespace({ name: NS }),
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  const managerFor = (kubeApi: KubeApi, over: Partial<CertManagerOptions> = {}): CertManager =>
    new CertManager({
      api: kubeApi,
      namespace: NS,
      secretName: SECRET,
      webhookConfigName: MWC,
      service: SERVICE,
      policy: DEFAULT_POLICY,
      issuer: certsIssuer({ service: SERVICE, namespace: NS, caValidityDays: DEFAULT_POLICY.caValidityDays, servingValidityDays: DEFAULT_POLICY.servingValidityDays }),
      clock: systemClock,
      log: silentLogger,
      watchSecret: false,
      ...over,
    });

  it('two cert managers racing to start create exactly one Secret and both serve its certificate', async () => {
    const race = racingCreates(api, 2);
    const a = managerFor(race.api);
    const b = managerFor(race.api);
    try {
      const [ta, tb] = await Promise.all([a.start(), b.start()]);
      assert.deepEqual([...race.outcomes].sort(), ['AlreadyExists', 'ok']);
      assert.equal(ta.cert, tb.cert);
      const stored = await core.readNamespacedSecret({ namespace: NS, name: SECRET });
      assert.equal(stored.type, 'kubernetes.io/tls');
      assert.equal(Buffer.from(stored.data?.[SECRET_KEYS.tlsCert] ?? '', 'base64').toString(), ta.cert);
      const secrets = await core.listNamespacedSecret({ namespace: NS });
      assert.equal(secrets.items.filter((s) => s.metadata?.name === SECRET).length, 1);
    } finally {
      a.stop();
      b.stop();
    }
  });

  it("patched our webhook's caBundle with the Secret's CA and left the other webhook's alone", async () => {
    const adm = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    const cfg = await adm.readMutatingWebhookConfiguration({ name: MWC });
    const [other, ours] = cfg.webhooks ?? [];
    assert.equal(Buffer.from(other?.clientConfig.caBundle ?? '', 'base64').toString(), 'not ours');
    const secret = await api.getSecret(NS, SECRET);
    assert.ok(secret);
    assert.deepEqual(decodeBundle(ours?.clientConfig.caBundle), [secret.data[SECRET_KEYS.caCert]!.trim()]);
    const serving = new X509Certificate(secret.data[SECRET_KEYS.tlsCert]!);
    assert.ok(serving.verify(new X509Certificate(secret.data[SECRET_KEYS.caCert]!).publicKey));
    assert.equal(serving.checkHost(`${SERVICE}.${NS}.svc`), `${SERVICE}.${NS}.svc`);
  });

  it('reports an update with a stale resourceVersion as a Conflict', async () => {
    const secret = await api.getSecret(NS, SECRET);
    assert.ok(secret);
    const body = { type: secret.type, data: secret.data, labels: secret.labels, annotations: { ...secret.annotations, 'siding.io/e2e': '1' } };
    const updated = await api.replaceSecret(NS, SECRET, secret.resourceVersion, body);
    assert.notEqual(updated.resourceVersion, secret.resourceVersion);
    await assert.rejects(api.replaceSecret(NS, SECRET, secret.resourceVersion, body), (e: unknown) => isConflict(e));
  });

  it('a second replica watching the Secret picks up material another replica wrote', async () => {
    const received: string[] = [];
    const watcher = managerFor(api, { watchSecret: true, onTls: (t) => received.push(t.cert) });
    try {
      await watcher.start();
      // Another replica re-issues the serving certificate (as a renewal would).
      const secret = await api.getSecret(NS, SECRET);
      assert.ok(secret);
      const issuer = certsIssuer({ service: SERVICE, namespace: NS, caValidityDays: 30, servingValidityDays: 10 });
      const fresh = await issuer.newServing({ cert: secret.data[SECRET_KEYS.caCert]!, key: secret.data[SECRET_KEYS.caKey]! }, Date.now());
      await api.replaceSecret(NS, SECRET, secret.resourceVersion, {
        type: secret.type,
        data: { ...secret.data, [SECRET_KEYS.tlsCert]: fresh.cert, [SECRET_KEYS.tlsKey]: fresh.key },
        labels: secret.labels,
        annotations: secret.annotations,
      });
      const got = await eventually('the watching replica to reload', () => received.find((c) => c === fresh.cert));
      assert.equal(got, fresh.cert);
    } finally {
      watcher.stop();
    }
  });

  it('the ConfigMap watcher sees a change, rejects an invalid one, and recovers', async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: CONFIGMAP }, data: { 'config.yaml': 'proxy:\n  image: example.com/proxy:1\n' } },
    });
    const watch = new ConfigWatch({
      api,
      namespace: NS,
      name: CONFIGMAP,
      initial: DEFAULT_CONFIG,
      initialSource: 'built-in default',
      clock: systemClock,
      log: silentLogger,
      registry: new Registry(),
    });
    try {
      assert.equal(await watch.start(), true, 'the ServiceAccount may list its ConfigMap by name');
      assert.equal(watch.current().proxy.image, 'example.com/proxy:1');

      const replace = async (text: string): Promise<void> => {
        await core.patchNamespacedConfigMap(
          { namespace: NS, name: CONFIGMAP, body: { data: { 'config.yaml': text } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      };
      await replace('proxy:\n  image: example.com/proxy:2\n');
      await eventually('the new image', () => (watch.current().proxy.image === 'example.com/proxy:2' ? true : undefined));

      await replace('proxy:\n  image: [not, a, string]\n');
      await eventually('the rejection', () => (watch.status().valid ? undefined : true));
      assert.equal(watch.current().proxy.image, 'example.com/proxy:2', 'the last good config keeps serving');
      assert.ok(watch.status().lastError);

      await replace('proxy:\n  image: example.com/proxy:3\n');
      await eventually('recovery', () => (watch.current().proxy.image === 'example.com/proxy:3' ? true : undefined));
      assert.equal(watch.status().valid, true);
    } finally {
      watch.stop();
    }
  });

  it('siding webhook --manage-certs serves the Secret certificate, shows the ConfigMap in /readyz, and reloads TLS when the Secret changes', async () => {
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    const child = execa(
      'node',
      [cli, 'webhook', '--listen', '127.0.0.1:0', '--manage-certs', '--kubeconfig', saKubeconfig, '--namespace', NS,
        '--service', SERVICE, '--webhook-config', MWC, '--cert-secret', SECRET, '--config-map', CONFIGMAP],
      // The drain after SIGTERM lasts at least 5 s; execa's default would SIGKILL at 5 s.
      { reject: false, buffer: false, forceKillAfterDelay: 30_000 },
    );
    try {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const url = await eventually('the webhook to listen', () => {
        for (const line of out.split('\n')) {
          if (!line.startsWith('{')) continue;
          const rec = JSON.parse(line) as { msg?: string; url?: string };
          if (rec.msg === 'webhook listening') return rec.url;
        }
        return undefined;
      });
      const { port } = new URL(url);
      const adm = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
      const bundle = decodeBundle((await adm.readMutatingWebhookConfiguration({ name: MWC })).webhooks?.[1]?.clientConfig.caBundle).join('\n');

      /** Connects as the API server would: trusting only the caBundle, by the Service name. */
      const handshake = (): Promise<{ authorized: boolean; fingerprint: string }> =>
        new Promise((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port: Number(port), servername: `${SERVICE}.${NS}.svc`, ca: bundle }, () => {
            resolve({ authorized: socket.authorized, fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '' });
            socket.end();
          });
          socket.on('error', reject);
        });

      const secret = await api.getSecret(NS, SECRET);
      assert.ok(secret);
      const first = await handshake();
      assert.equal(first.authorized, true);
      assert.equal(first.fingerprint, new X509Certificate(secret.data[SECRET_KEYS.tlsCert]!).fingerprint256);

      const readyz = await new Promise<{ config?: { ok?: boolean; source?: string; valid?: boolean } }>((resolve, reject) => {
        https
          .get(`${url}/readyz`, { ca: bundle, servername: `${SERVICE}.${NS}.svc` }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve(JSON.parse(body) as { config?: { ok?: boolean; source?: string; valid?: boolean } }));
          })
          .on('error', reject);
      });
      assert.equal(readyz.config?.ok, true);
      assert.equal(readyz.config?.source, `ConfigMap ${NS}/${CONFIGMAP} key config.yaml`);

      // Another replica (here: the test) renews the serving certificate in the Secret.
      const issuer = certsIssuer({ service: SERVICE, namespace: NS, caValidityDays: 30, servingValidityDays: 10 });
      const fresh = await issuer.newServing({ cert: secret.data[SECRET_KEYS.caCert]!, key: secret.data[SECRET_KEYS.caKey]! }, Date.now());
      await api.replaceSecret(NS, SECRET, secret.resourceVersion, {
        type: secret.type,
        data: { ...secret.data, [SECRET_KEYS.tlsCert]: fresh.cert, [SECRET_KEYS.tlsKey]: fresh.key },
        labels: secret.labels,
        annotations: secret.annotations,
      });
      const wanted = new X509Certificate(fresh.cert).fingerprint256;
      const after = await eventually('the new certificate on new connections', async () => {
        const h = await handshake();
        return h.fingerprint === wanted ? h : undefined;
      });
      assert.equal(after.authorized, true);
      assert.equal(child.exitCode, null, 'the same process, not a restart');
    } finally {
      child.kill('SIGTERM');
      const done = await child;
      assert.equal(done.exitCode, 0);
    }
  });

  it("the namespace cache, as siding's ServiceAccount, sees a namespace's Pod Security label and its change", async () => {
    const locked = `${NS}-psa`;
    const enforce = 'pod-security.kubernetes.io/enforce';
    const errors: unknown[] = [];
    const cache = api.watchNamespaces((e) => errors.push(e));
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(ok(), `${what} (errors: ${errors.map(String).join('; ')})`);
    };
    try {
      await core.createNamespace({ body: { metadata: { name: locked, labels: { [enforce]: 'baseline' } } } });
      await until('the new namespace is seen with its label', () => cache.labels(locked)?.[enforce] === 'baseline');
      await core.patchNamespace({ name: locked, body: [{ op: 'replace', path: '/metadata/labels/pod-security.kubernetes.io~1enforce', value: 'restricted' }] });
      await until('the label change is seen', () => cache.labels(locked)?.[enforce] === 'restricted');
      assert.deepEqual(errors, []);
    } finally {
      cache.stop();
      await core.deleteNamespace({ name: locked });
    }
  });

  it('siding check --kubeconfig reads namespace labels from the cluster', async () => {
    const labelled = `${NS}-on`;
    await core.createNamespace({ body: { metadata: { name: labelled, labels: { 'siding-injection': 'enabled' } } } });
    try {
      const manifest = join(dir, 'pods.yaml');
      const pod = (ns: string): string =>
        `apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: ${ns}}\nspec:\n  containers: [{name: app, image: example.com/app:1}]\n`;
      writeFileSync(manifest, `${pod(labelled)}---\n${pod(NS)}`);
      const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
      const r = await execa('node', [cli, 'check', '--kubeconfig', kubeconfig!, '-f', manifest], { reject: false });
      assert.equal(r.exitCode, 0, r.stderr);
      const lines = r.stdout.split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^Pod\/app: injected/);
      assert.match(lines[1]!, /^Pod\/app: skipped/);
    } finally {
      await core.deleteNamespace({ name: labelled });
    }
  });
});
