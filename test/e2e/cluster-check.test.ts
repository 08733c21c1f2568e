/**
 * `siding check --kubeconfig` (namespace labels read from the cluster) must predict what
 * the API server does with each pod: the same manifests go to both, and the check's
 * verdict per pod must match the outcome (stored injected, stored untouched, refused).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { skipUnless } from '../helpers/prereq.js';
import {
  SIDING,
  clients,
  injectionProblems,
  kubeconfig,
  kubectl,
  kubectlApply,
  Namespaces,
  podFixture,
  prereq,
  siding,
  untouched,
  type Clients,
} from './helpers/cluster.js';

type Verdict = 'injected' | 'skipped' | 'denied';

describe('siding check against the live cluster', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let dir: string;

  before(() => {
    c = clients();
    namespaces = new Namespaces(c.core);
    dir = mkdtempSync(join(tmpdir(), 'siding-e2e-check-'));
  });

  after(async () => {
    await namespaces?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** What the API server did with a pod: applied alone, so one refusal does not hide another outcome. */
  const outcome = async (pod: k8s.V1Pod): Promise<{ verdict: Verdict | 'other'; detail: string }> => {
    const applied = await kubectlApply([pod]);
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    if (applied.exitCode !== 0) {
      const bySiding = /admission webhook "inject\.siding\.io" denied the request/.test(applied.stderr);
      return { verdict: bySiding ? 'denied' : 'other', detail: applied.stderr };
    }
    const stored = await c.core.readNamespacedPod({ namespace: ns, name });
    if (injectionProblems(stored).length === 0) return { verdict: 'injected', detail: '' };
    if (untouched(stored)) return { verdict: 'skipped', detail: '' };
    return { verdict: 'other', detail: injectionProblems(stored).join('; ') };
  };

  it("agrees with the API server on injected, skipped and denied pods across labelled and unlabelled namespaces", async () => {
    const labelled = await namespaces.create('e2e-check', SIDING.injectionLabel);
    const plain = await namespaces.create('e2e-check-plain');

    const optedOut = podFixture(labelled, 'opted-out');
    optedOut.metadata!.labels = { 'siding.io/inject': 'false' };
    const optedOutByAnnotation = podFixture(labelled, 'annotated-out');
    optedOutByAnnotation.metadata!.annotations = { 'siding.io/inject': 'false' };
    const hostNet = podFixture(labelled, 'host-net');
    hostNet.spec!.hostNetwork = true;
    const badPorts = podFixture(labelled, 'bad-ports');
    badPorts.metadata!.annotations = { 'traffic.siding.io/excludeOutboundPorts': '80;rm -rf /' };
    const proxyUid = podFixture(labelled, 'proxy-uid');
    proxyUid.spec!.containers[0]!.securityContext = { runAsUser: 1337 };
    const goodPorts = podFixture(labelled, 'good-ports');
    goodPorts.metadata!.annotations = { 'traffic.siding.io/excludeOutboundPorts': '5432,6379' };
    // Unlabelled: nothing happens, whatever the pod says.
    const plainBad = podFixture(plain, 'plain-bad-ports');
    plainBad.metadata!.annotations = { 'traffic.siding.io/excludeOutboundPorts': '80;rm -rf /' };

    const pods: k8s.V1Pod[] = [
      podFixture(labelled, 'plain-app'),
      goodPorts,
      optedOut,
      optedOutByAnnotation,
      hostNet,
      badPorts,
      proxyUid,
      podFixture(plain, 'plain-app'),
      plainBad,
    ];
    const manifest = join(dir, 'pods.yaml');
    writeFileSync(manifest, pods.map((p) => stringify(p)).join('---\n'));

    const check = await siding(['check', '--kubeconfig', kubeconfig, '-f', manifest]);
    assert.equal(check.exitCode, 1, `exit 1: some pods would be denied\n${check.stderr}`);
    const lines = check.stdout.trimEnd().split('\n');
    assert.equal(lines.length, pods.length, check.stdout);
    const predicted = lines.map((l) => /^Pod\/[a-z0-9-]+: (injected|skipped|denied)/.exec(l)?.[1]);

    const actual: Array<{ verdict: string; detail: string }> = [];
    for (const pod of pods) actual.push(await outcome(pod));

    const table = pods.map((p, i) => `${p.metadata!.namespace}/${p.metadata!.name}: check says "${lines[i]}", API server: ${actual[i]!.verdict} ${actual[i]!.detail}`);
    assert.deepEqual(predicted, actual.map((a) => a.verdict), table.join('\n'));
    // The set covers every kind of outcome, so agreement is not trivially "all injected".
    assert.deepEqual([...new Set(predicted)].sort(), ['denied', 'injected', 'skipped']);
    // The denial's reason is the same text the API server relayed.
    const denied = lines.find((l) => l.startsWith('Pod/bad-ports: denied'));
    assert.match(denied ?? '', /invalid value '80;rm -rf \/' for annotation 'traffic\.siding\.io\/excludeOutboundPorts'/);
  });

  it('reports a namespace that does not exist and treats it as unlabelled, as the API server would not inject there', async () => {
    const manifest = join(dir, 'missing.yaml');
    writeFileSync(manifest, stringify(podFixture('e2e-check-no-such-namespace', 'app')));
    const check = await siding(['check', '--kubeconfig', kubeconfig, '-f', manifest]);
    assert.equal(check.exitCode, 0, check.stderr);
    assert.match(check.stdout, /^Pod\/app: skipped/);
    assert.match(check.stderr, /namespace e2e-check-no-such-namespace does not exist in the cluster/);
    const get = await kubectl(['get', 'namespace', 'e2e-check-no-such-namespace']);
    assert.match(get.stderr, /NotFound/);
  });
});
