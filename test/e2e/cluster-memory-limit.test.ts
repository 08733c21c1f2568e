/**
 * One webhook replica as the Deployment runs it (`--manage-certs --config-map`, against the
 * testenv's API server, with the Deployment's node flags) inside a cgroup v1 memory cgroup
 * with the Deployment's memory limit, under the attacks a client that reaches port 9443 can
 * make (helpers/attacks.ts): 4,000 idle keep-alive connections, then, with those held, 16
 * concurrent 4 MiB bodies of empty objects, 16 of env entries, 16 of 1.5 MiB of env entries
 * (as large as a storable pod gets; these parse and inject), 16 sent slowly, and three of
 * those at once. All the while a prober plays the API server (a
 * review every 100 ms on a connection it opened before) and the kubelet (/healthz on fresh
 * connections). The replica must never be OOM-killed and must keep answering. It listens
 * on 127.0.0.1 only; the cgroup is made and removed by the test.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryCgroup, memoryCgroupPrerequisite } from '../helpers/cgroup.js';
import { skipUnless } from '../helpers/prereq.js';
import { attackLines, normalReview, PHASES, post, runAttacks, type Tally } from './helpers/attacks.js';
import { prereq, stateDir } from './helpers/cluster.js';
import { manifestMemoryLimit, startReplicaIn, type Replica } from './helpers/replica.js';

const cgroups = memoryCgroupPrerequisite();
const PHASE_MS = 12_000;

describe('a webhook replica in a cgroup with the Deployment’s memory limit, under attack', { timeout: 300_000, ...skipUnless(prereq), ...skipUnless(cgroups) }, () => {
  let cgroup: MemoryCgroup | undefined;
  let replica: Replica | undefined;

  before(async () => {
    cgroup = MemoryCgroup.create('siding-test-webhook', manifestMemoryLimit());
    replica = await startReplicaIn(cgroup, stateDir);
  });

  after(async () => {
    await replica?.stop();
    await cgroup?.remove();
  });

  it('is never OOM-killed and keeps answering the API server and the kubelet', async () => {
    const r = replica!;
    const report = await runAttacks(r.port, cgroup!, PHASE_MS);
    process.stderr.write(`${attackLines(report, cgroup!.limitBytes).join('\n')}\n`);

    assert.equal(report.final.oomKills, 0, 'the kernel OOM-killed a process in the replica’s cgroup');
    assert.equal(r.child.exitCode, null, 'the replica exited');
    assert.equal(r.child.signalCode, null, `the replica was killed by ${String(r.child.signalCode)}`);
    assert.deepEqual(report.prober.failures, [], 'reviews on the API server’s connection failed during the attacks');
    assert.ok(report.prober.reviews >= (5 * PHASE_MS) / 1000, `only ${report.prober.reviews} prober reviews were answered`);
    assert.equal(report.freshAfterIdle.status, 200, `a new connection after the idle-connection burst: ${JSON.stringify(report.freshAfterIdle)}`);
    // The body attacks really ran into the bounds, and the parseable bodies were really served.
    const tally = (name: string): Tally => report.phases.find((p) => p.name === name)?.tally ?? {};
    assert.ok((tally(PHASES.empty)['413'] ?? 0) > 0, 'no 4 MiB body of empty objects was refused as too costly');
    assert.ok((tally(PHASES.env4)['413'] ?? 0) > 0, 'no 4 MiB body of env entries was refused as too costly');
    assert.ok((tally(PHASES.env)['200'] ?? 0) > 0, 'no 1.5 MiB body of env entries was answered');
    assert.ok((tally(PHASES.env)['429'] ?? 0) > 0, 'no 1.5 MiB body of env entries was told to retry');
    // And it serves normally afterwards.
    assert.equal((await post(r.port, normalReview('after-attacks'), false)).status, 200);
  });
});
