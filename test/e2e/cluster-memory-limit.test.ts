/**
 * One webhook replica as the Deployment runs it (`--manage-certs --config-map`, against the
 * testenv's API server, with the Deployment's node flags) inside a cgroup v1 memory cgroup
 * with the Deployment's memory limit, under the attacks a client that reaches port 9443 can
 * make: 4,000 idle keep-alive connections, then, with those held, 16 concurrent 4 MiB bodies
 * of empty objects, 16 of env entries (which parse and inject), and 16 sent slowly. All the
 * while a prober plays the API server (a review every 100 ms on a connection it opened
 * before) and the kubelet (/healthz on fresh connections). The replica must never be
 * OOM-killed and must keep answering. It listens on 127.0.0.1 only; the cgroup is made and
 * removed by the test.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { WEBHOOK_NODE_FLAGS } from '../../src/admission/node-flags.js';
import { MemoryCgroup, memoryCgroupPrerequisite, quantityBytes, type MemoryFigures } from '../helpers/cgroup.js';
import { skipUnless } from '../helpers/prereq.js';
import { bigReview, bodyFlood, idleConnections, normalReview, post, slowBodies, startProber, type IdleConnections, type Tally } from './helpers/attacks.js';
import { CLI, SIDING, prereq, sleep, stateDir } from './helpers/cluster.js';

const cgroups = memoryCgroupPrerequisite();

/** resources.limits.memory of the webhook container in manifests/install.yaml. */
function manifestMemoryLimit(): number {
  const text = readFileSync(new URL('../../manifests/install.yaml', import.meta.url), 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: { name: string; resources?: { limits?: { memory?: string } } }[] } } } };
    if (o?.kind !== 'Deployment' || o.metadata?.name !== 'siding') continue;
    const memory = o.spec?.template?.spec?.containers?.find((c) => c.name === 'webhook')?.resources?.limits?.memory;
    if (memory !== undefined) return quantityBytes(memory);
  }
  throw new Error('manifests/install.yaml has no memory limit for the webhook container');
}

const PHASE_MS = 12_000;
const MiB = 1024 * 1024;
const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

describe('a webhook replica in a cgroup with the Deployment’s memory limit, under attack', { timeout: 300_000, ...skipUnless(prereq), ...skipUnless(cgroups) }, () => {
  let cgroup: MemoryCgroup | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> | undefined;
  let port = 0;
  const logFile = join(tmpdir(), `siding-e2e-memory-${process.pid}.log`);

  before(async () => {
    const limit = manifestMemoryLimit();
    cgroup = MemoryCgroup.create('siding-test-webhook', limit);
    const log = openSync(logFile, 'w');
    child = cgroup.spawn(
      'node',
      [
        ...WEBHOOK_NODE_FLAGS,
        CLI,
        'webhook',
        '--listen',
        '127.0.0.1:0',
        '--kubeconfig',
        join(stateDir, 'webhook.kubeconfig'),
        '--namespace',
        SIDING.namespace,
        '--config-map',
        SIDING.configMap,
        '--manage-certs',
        '--service',
        SIDING.service,
        '--webhook-config',
        SIDING.webhookConfig,
        '--cert-secret',
        SIDING.certSecret,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const c = child;
    exited = new Promise((resolve) => c.once('exit', (code) => resolve(code)));
    for (let i = 0; port === 0; i++) {
      assert.ok(i < 600, `the replica did not start: ${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
      assert.equal(child.exitCode, null, `the replica exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      const m = /"url":"https:\/\/127\.0\.0\.1:(\d+)"[^\n]*"msg":"webhook listening"/.exec(readFileSync(logFile, 'utf8'));
      if (m !== null) port = Number(m[1]);
      else await sleep(100);
    }
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
    }
    await cgroup?.remove();
    rmSync(logFile, { force: true });
  });

  it('is never OOM-killed and keeps answering the API server and the kubelet', async () => {
    const cg = cgroup!;
    const limit = cg.limitBytes;
    const phases: { name: string; figures: MemoryFigures; tally?: Tally }[] = [];
    const record = (name: string, tally?: Tally): void => {
      phases.push({ name, figures: cg.figures(), ...(tally === undefined ? {} : { tally }) });
    };

    // Warm: the API server's usual traffic for a few seconds (16 at a time).
    const warm = await Promise.all(Array.from({ length: 400 }, (_, i) => post(port, normalReview(`warm-${i}`), false)));
    assert.deepEqual(warm.filter((a) => a.status !== 200), []);
    record('warm (400 reviews)');

    const prober = await startProber(port, 100);
    let idle: IdleConnections | undefined;
    try {
      idle = await idleConnections(port, 4000, 64);
      record(`4,000 idle keep-alive connections (${idle.held()} held, ${idle.dropped()} closed by the replica)`);
      await sleep(2000);
      // Once the burst is over, a new connection finds room (an idle one makes way).
      const fresh = await post(port, normalReview('fresh-after-idle'), false);
      assert.equal(fresh.status, 200, `a new connection after the idle-connection burst: ${JSON.stringify(fresh)}`);

      const empty = bigReview('emptyObjects', 'big-empty');
      const emptyTally = await bodyFlood(port, 16, () => empty, sleep(PHASE_MS));
      record('16 concurrent 4 MiB bodies of empty objects', emptyTally);

      const env = bigReview('envEntries', 'big-env');
      const envTally = await bodyFlood(port, 16, () => env, sleep(PHASE_MS));
      record('16 concurrent 4 MiB bodies of env entries', envTally);

      const slowTally = await slowBodies(port, 16, 256 * 1024, sleep(PHASE_MS));
      record('16 concurrent 4 MiB bodies at 256 KiB/s', slowTally);

      const allTally = await Promise.all([
        bodyFlood(port, 8, () => empty, sleep(PHASE_MS)),
        bodyFlood(port, 8, () => env, sleep(PHASE_MS)),
        slowBodies(port, 8, 256 * 1024, sleep(PHASE_MS)),
      ]);
      const combined: Tally = {};
      allTally.forEach((t, i) => {
        for (const [k, v] of Object.entries(t)) combined[`${['empty', 'env', 'slow'][i] ?? i}:${k}`] = v;
      });
      record('all three at once, 8 clients each', combined);
    } finally {
      await prober.stop();
      idle?.close();
    }

    const final = cg.figures();
    process.stderr.write(
      `memory limit ${mib(limit)}; peak ${mib(final.peak)} (${((final.peak / limit) * 100).toFixed(0)} %), limit hits ${final.limitHits}, OOM kills ${final.oomKills}\n` +
        phases.map((p) => `  ${p.name}: usage ${mib(p.figures.usage)}, peak so far ${mib(p.figures.peak)}${p.tally === undefined ? '' : ` ${JSON.stringify(p.tally)}`}\n`).join('') +
        `  prober: ${prober.reviews} reviews, ${prober.reviewFailures.length} failed; /healthz on new connections ${prober.healthOk} ok, ${prober.healthFailed} failed\n`,
    );

    assert.equal(final.oomKills, 0, 'the kernel OOM-killed a process in the replica’s cgroup');
    assert.equal(child!.exitCode, null, 'the replica exited');
    assert.equal(child!.signalCode, null, `the replica was killed by ${String(child!.signalCode)}`);
    assert.deepEqual(prober.reviewFailures, [], 'reviews on the API server’s connection failed during the attacks');
    assert.ok(prober.reviews >= (5 * PHASE_MS) / 1000, `only ${prober.reviews} prober reviews were answered`);
    // The body attacks really ran into the bounds, and the parseable bodies were really served.
    const tally = (name: string): Tally => phases.find((p) => p.name === name)?.tally ?? {};
    assert.ok((tally('16 concurrent 4 MiB bodies of empty objects')['413'] ?? 0) > 0, 'no 4 MiB body of empty objects was refused as too costly');
    assert.ok((tally('16 concurrent 4 MiB bodies of env entries')['200'] ?? 0) > 0, 'no 4 MiB body of env entries was answered');
    assert.ok((tally('16 concurrent 4 MiB bodies of env entries')['429'] ?? 0) > 0, 'no 4 MiB body of env entries was told to retry');
    // And it still serves normally afterwards.
    const after = await post(port, normalReview('after-attacks'), false);
    assert.equal(after.status, 200);
  });
});
