/**
 * The README's "Install in a cluster" commands, run as written on the real node: read from
 * README.md, every line a kubectl command run from the repository's root, with only the
 * example namespace made unique. The image is the one the manifests name, which the node
 * holds under that name (tagged from the local build): nothing is pulled. The suite's own
 * install (test/e2e/overlay) is removed first and put back afterwards, with the uninstall
 * command docs/install.md gives.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { VERSION } from '../../../src/version.js';
import { SIDING, clients, eventually, injectionProblems, kubectl, kubectlApply, prereq, suffix, type Clients } from '../helpers/cluster.js';
import { ctr } from '../helpers/containerd.js';
import { IMAGE, INIT_CONTAINER, PROXY_CONTAINER, SERVER_SCRIPT, IDLE_SCRIPT, podReady, requests } from '../helpers/node.js';
import { skipUnless } from '../../helpers/prereq.js';

const repo = new URL('../../../', import.meta.url).pathname;
/** The image the manifests install and inject, as a user's cluster would pull it. */
const RELEASE_IMAGE = `ghcr.io/siding-mesh/siding:${VERSION}`;
const EXAMPLE_NAMESPACE = 'my-app';

/** The kubectl commands of the README's install section, one argv each, comments dropped. */
function readmeInstallCommands(): string[][] {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Install in a cluster'));
  const open = section.indexOf('```sh\n');
  const close = section.indexOf('\n```', open + 6);
  assert.ok(open !== -1 && close !== -1, 'the README has no sh block under "Install in a cluster"');
  return section
    .slice(open + 6, close)
    .split('\n')
    .map((l) => (l.includes('#') ? l.slice(0, l.indexOf('#')) : l).trim())
    .filter((l) => l !== '')
    .map((l) => l.split(/\s+/));
}

/** A container of the release image with the pull policy left to its default (IfNotPresent for a tag). */
function releaseContainer(name: string, script: string): k8s.V1Container {
  return { name, image: RELEASE_IMAGE, command: ['node', '-e', script] };
}

describe("the README's install section, run as written on the node", skipUnless(prereq), () => {
  let c: Clients;
  const ns = `${EXAMPLE_NAMESPACE}-${suffix()}`;

  before(async () => {
    c = clients();
    process.chdir(repo);
    ctr(['images', 'tag', '--force', IMAGE, RELEASE_IMAGE]);
    const removed = await kubectl(['delete', '-k', 'test/e2e/overlay', '--wait=true', '--timeout=120s']);
    assert.equal(removed.exitCode, 0, removed.stderr);
  });

  after(async () => {
    // docs/install.md's uninstall, then the suite's own install as scripts/kube-testenv.sh made it.
    const uninstall = await kubectl(['delete', '-k', 'manifests/', '--wait=true', '--timeout=120s', '--ignore-not-found']);
    assert.equal(uninstall.exitCode, 0, uninstall.stderr);
    const reinstall = await kubectl(['apply', '-k', 'test/e2e/overlay']);
    assert.equal(reinstall.exitCode, 0, reinstall.stderr);
    const rollout = await kubectl(['-n', SIDING.namespace, 'rollout', 'status', 'deployment/siding', '--timeout=120s']);
    assert.equal(rollout.exitCode, 0, rollout.stderr);
    // The next suites create pods at once: wait until the API server admits through the new install.
    await eventually('the reinstalled webhook to inject a pod (server-side dry run)', async () => {
      const p = await c.core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: 'probe' }, spec: { containers: [{ name: 'app', image: IMAGE }] } },
        dryRun: 'All',
      });
      return p.spec?.initContainers?.some((x) => x.name === PROXY_CONTAINER && x.image === IMAGE) ? true : undefined;
    });
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
    ctr(['images', 'rm', RELEASE_IMAGE]);
  });

  it('installs siding from the manifests, and the pods of the namespace it opts in are injected and talk through their proxies', { timeout: 300_000 }, async () => {
    const commands = readmeInstallCommands();
    assert.ok(commands.length >= 3, `too few commands: ${JSON.stringify(commands)}`);
    for (const argv of commands) {
      assert.equal(argv[0], 'kubectl', `not a kubectl command: ${argv.join(' ')}`);
      const args = argv.slice(1).map((a) => (a === EXAMPLE_NAMESPACE ? ns : a));
      // rollout status waits without end unless told: bound it, it is a test.
      if (args.includes('rollout')) args.push('--timeout=180s');
      const r = await kubectl(args);
      assert.equal(r.exitCode, 0, `${argv.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
    }

    // Right after the README's last command: created pods are injected, with the release image.
    const labels = { app: 'web' };
    const applied = await kubectlApply([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ ...releaseContainer('web', SERVER_SCRIPT), ports: [{ containerPort: 8080 }] }] } },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: ns }, spec: { containers: [releaseContainer('app', IDLE_SCRIPT)] } },
    ]);
    assert.equal(applied.exitCode, 0, applied.stderr);
    const rollout = await kubectl(['-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=120s']);
    assert.equal(rollout.exitCode, 0, rollout.stderr);
    const client = await podReady(c, ns, 'client');
    const web = await eventually('a Ready web pod', async () => {
      const list = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      return list.items.find((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
    });
    for (const p of [client, web]) {
      assert.deepEqual(injectionProblems(p), []);
      const injected = (p.spec?.initContainers ?? []).filter((x) => x.name === INIT_CONTAINER || x.name === PROXY_CONTAINER);
      assert.deepEqual(injected.map((x) => [x.name, x.image]), [[INIT_CONTAINER, RELEASE_IMAGE], [PROXY_CONTAINER, RELEASE_IMAGE]]);
    }
    const ip = (await c.core.readNamespacedService({ namespace: ns, name: 'web' })).spec?.clusterIP ?? '';
    const r = await requests(ns, 'client', `http://${ip}/`, 5);
    assert.equal(r.failed, 0, r.errors.join(', '));
    assert.deepEqual(Object.keys(r.peers).map((p) => p.replace(/^::ffff:/, '')), ['127.0.0.6']);
  });
});
