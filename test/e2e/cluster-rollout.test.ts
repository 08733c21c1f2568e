/**
 * Rolling restarts of the webhook through the real API server, under a steady stream of pod
 * creations (16 at a time) in a labelled namespace, with failurePolicy Fail: no creation
 * may fail, and every created pod is injected. The testenv runs two replicas behind the
 * Service's EndpointSlice for this suite and restarts them one by one
 * (`kube-testenv.sh webhook-rollout`), as a Deployment rollout does: out of the endpoints,
 * pre-stop wait, SIGTERM, drain, new process, back in once it serves.
 *
 * The second test keeps the endpoint ready for 3 s after SIGTERM: what an API server that
 * calls the Service's ClusterIP sees, whose pooled connections keep reaching a terminating
 * pod. The draining replica must serve those reviews (with Connection: close) and keep
 * accepting connections until the clients have moved on.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnless } from '../helpers/prereq.js';
import { createPods, quantile, type LoadResult } from './helpers/pod-load.js';
import { SIDING, clients, kubeconfig, Namespaces, prereq, replicaLog, sleep, testenv, webhookPid, type Clients } from './helpers/cluster.js';

// Enough for a CI run; the creations go on until the rollout is over (and 2 s more), so
// they cross the restart of each replica whatever the rate. The bench runs 1,000.
const MIN_CREATIONS = 150;
const CONCURRENCY = 16;

interface Restart {
  replica: 1 | 2;
  oldPid: number;
  newPid: number;
  /** When the old process logged its SIGTERM, and when the new one was listening. */
  sigtermAt: number;
  listeningAt: number;
  /** Reviews the old process answered after its SIGTERM. */
  answeredWhileDraining: number;
  oldStoppedCleanly: boolean;
}

function restartOf(replica: 1 | 2, oldPid: number, newPid: number): Restart {
  const log = replicaLog(replica);
  const old = log.filter((l) => l.pid === oldPid);
  const sigtermAt = old.find((l) => l.msg === 'shutting down: draining, then stopping')?.time;
  const listeningAt = log.find((l) => l.pid === newPid && l.msg === 'webhook listening')?.time;
  assert.ok(sigtermAt !== undefined, `replica ${replica}'s old process ${oldPid} logged no SIGTERM`);
  assert.ok(listeningAt !== undefined, `replica ${replica}'s new process ${newPid} logged no "webhook listening"`);
  return {
    replica,
    oldPid,
    newPid,
    sigtermAt,
    listeningAt,
    answeredWhileDraining: old.filter((l) => l.msg === 'admission review' && l.time > sigtermAt).length,
    oldStoppedCleanly: old.some((l) => l.msg === 'webhook stopped'),
  };
}

describe('rolling restarts of two webhook replicas under pod creations', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  let ns: string;
  let scaled = false;

  before(async () => {
    c = clients();
    namespaces = new Namespaces(c.core);
    ns = await namespaces.create('e2e-rollout', SIDING.injectionLabel);
    const config = await c.admission.readMutatingWebhookConfiguration({ name: SIDING.webhookConfig });
    assert.equal(config.webhooks?.[0]?.failurePolicy, 'Fail', 'the manifests install failurePolicy Fail');
    scaled = true;
    await testenv('webhook-scale', ['2']);
  });

  after(async () => {
    // Later suites expect the single replica of `up`.
    if (scaled) await testenv('webhook-scale', ['1']);
    await namespaces?.cleanup();
  });

  const rolloutUnderLoad = async (prefix: string, env: Record<string, string>): Promise<{ load: LoadResult; restarts: Restart[] }> => {
    const before: [number, number] = [webhookPid(1), webhookPid(2)];
    const rollout = testenv('webhook-rollout', [], env);
    const load = await createPods({
      kubeconfig,
      namespace: ns,
      concurrency: CONCURRENCY,
      count: MIN_CREATIONS,
      until: rollout.then(() => sleep(2000)).catch(() => undefined),
      prefix,
      expectInjected: true,
    });
    await rollout;
    const restarts = [restartOf(1, before[0], webhookPid(1)), restartOf(2, before[1], webhookPid(2))];
    const ms = load.samples.map((s) => s.ms);
    process.stderr.write(
      `rollout ${prefix}: ${load.created} pods created in ${(load.elapsedMs / 1000).toFixed(1)} s, ${load.failures.length} failed; ` +
        `p50 ${quantile(ms, 0.5).toFixed(1)} ms, p99 ${quantile(ms, 0.99).toFixed(1)} ms; ` +
        restarts.map((r) => `replica ${r.replica}: ${r.answeredWhileDraining} reviews answered while draining`).join(', ') +
        '\n',
    );
    return { load, restarts };
  };

  const checkCrossed = (load: LoadResult, restarts: Restart[]): void => {
    for (const r of restarts) {
      assert.notEqual(r.newPid, r.oldPid, `replica ${r.replica} was not restarted`);
      assert.ok(r.oldStoppedCleanly, `replica ${r.replica}'s old process ${r.oldPid} did not stop cleanly (killed at the grace period?)`);
      assert.ok(
        load.samples.some((s) => s.at < r.sigtermAt),
        `no pod was created before replica ${r.replica}'s SIGTERM`,
      );
      assert.ok(
        load.samples.some((s) => s.at > r.listeningAt + 1000),
        `no pod was created after replica ${r.replica}'s new process was serving`,
      );
    }
  };

  it('restarts both replicas as a Deployment rollout does, and no pod creation fails', async () => {
    const { load, restarts } = await rolloutUnderLoad('rollout', {});
    assert.deepEqual(load.failures, [], 'pod creations failed during the rollout');
    assert.deepEqual(load.wrongInjection, [], 'created pods without siding’s containers');
    assert.ok(load.created >= MIN_CREATIONS);
    checkCrossed(load, restarts);
  });

  it('restarts both replicas while each stays a ready endpoint for 3 s after its SIGTERM, and no pod creation fails', async () => {
    const { load, restarts } = await rolloutUnderLoad('lagging', { SIDING_TESTENV_ENDPOINT_LAG: '3' });
    assert.deepEqual(load.failures, [], 'pod creations failed during the rollout');
    assert.deepEqual(load.wrongInjection, [], 'created pods without siding’s containers');
    checkCrossed(load, restarts);
    // The API server really called the draining replicas, and they answered.
    for (const r of restarts) {
      assert.ok(r.answeredWhileDraining > 0, `replica ${r.replica} answered no review after its SIGTERM`);
    }
  });
});
