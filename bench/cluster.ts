/**
 * The bench's cluster part, against the real API server of scripts/kube-testenv.sh (two
 * webhook replicas): pod creations at a fixed concurrency without the webhook (a namespace
 * it does not select), with it, and across a rolling restart of both replicas; then one
 * replica as the Deployment runs it, in a memory cgroup with the Deployment's limit, under
 * the connection and body attacks (test/e2e/helpers/attacks.ts). It brings the testenv up
 * and down itself: hold /run/siding-e2e.lock while it runs. The API server listens only in
 * the testenv's control-plane network namespace, so the measuring runs there, as a process
 * of its own (bench/cluster-inside.ts under `kube-testenv.sh exec`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { MemoryCgroup, memoryCgroupPrerequisite } from '../test/helpers/cgroup.js';
import { attackLines, runAttacks, type AttackReport } from '../test/e2e/helpers/attacks.js';
import { createPods, quantile, type LoadResult } from '../test/e2e/helpers/pod-load.js';
import { manifestMemoryLimit, startReplicaIn } from '../test/e2e/helpers/replica.js';
import { SIDING } from '../test/e2e/helpers/siding.js';
import { REPO, runProgram, tsNode } from './procs.js';
import { machine, type Machine } from './report.js';

const TESTENV = join(REPO, 'scripts/kube-testenv.sh');

export interface ClusterSettings {
  pods: number;
  concurrency: number;
  /** Seconds per attack phase. */
  attackPhaseS: number;
  log: (line: string) => void;
}

/** What bench/cluster-inside.ts is given on its command line (JSON). */
export type ClusterChildSettings = Omit<ClusterSettings, 'log'> & { kubeconfig: string; out: string };

export interface CreationFigures {
  created: number;
  failures: number;
  /** The first failure's message, when there was one. */
  first_failure: string | null;
  wrong_injection: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  creations_per_s: number;
}

export interface ClusterResults {
  /** This part's own machine reading (a BENCH_ONLY=cluster run keeps the other parts' results). */
  machine: Machine;
  pods: number;
  concurrency: number;
  replicas: number;
  without_webhook: CreationFigures;
  with_webhook: CreationFigures;
  across_rollout: CreationFigures & { rollout_s: number };
  attack_memory: {
    limit_mib: number;
    peak_mib: number;
    oom_kills: number;
    phases: { name: string; usage_mib: number; rss_mib: number; cache_mib: number; peak_mib: number; answers: Record<string, number> | null }[];
    prober_reviews: number;
    prober_failures: number;
    health_ok: number;
    health_failed: number;
  };
}

export type ClusterOutcome = { skipped: string } | ClusterResults;

export function clusterPrerequisite(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: the testenv needs network namespaces and cgroups';
  try {
    execFileSync('bash', [join(REPO, 'scripts/build-kube.sh'), '--check'], { stdio: 'ignore' });
  } catch {
    return 'the Kubernetes binaries are not built (scripts/setup.sh)';
  }
  return memoryCgroupPrerequisite().missing;
}

async function testenv(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runProgram('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', TESTENV, ...args], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`kube-testenv.sh ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-3000)}`);
  return r.stdout;
}

function figures(r: LoadResult): CreationFigures {
  const ms = r.samples.map((s) => s.ms);
  return {
    created: r.created,
    failures: r.failures.length,
    first_failure: r.failures[0]?.message ?? null,
    wrong_injection: r.wrongInjection.length,
    p50_ms: quantile(ms, 0.5),
    p90_ms: quantile(ms, 0.9),
    p99_ms: quantile(ms, 0.99),
    max_ms: ms.length === 0 ? Number.NaN : Math.max(...ms),
    creations_per_s: r.elapsedMs > 0 ? (r.created / r.elapsedMs) * 1000 : Number.NaN,
  };
}

async function namespace(core: k8s.CoreV1Api, name: string, labels: Record<string, string>): Promise<string> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
  for (let i = 0; i < 300; i++) {
    try {
      await core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return name;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`namespace ${name} got no default ServiceAccount`);
}

export async function benchCluster(s: ClusterSettings): Promise<ClusterResults> {
  s.log('bringing up the testenv with two webhook replicas...');
  const kubeconfig = (await testenv(['up'], { SIDING_TESTENV_WEBHOOK_REPLICAS: '2' })).trim().split('\n').at(-1) ?? '';
  const dir = mkdtempSync(join(os.tmpdir(), 'siding-bench-cluster-'));
  try {
    const settings: ClusterChildSettings = { pods: s.pods, concurrency: s.concurrency, attackPhaseS: s.attackPhaseS, kubeconfig, out: join(dir, 'results.json') };
    const child = tsNode('./cluster-inside.ts', [JSON.stringify(settings)]);
    // The child's log lines go straight to this process's stderr.
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn('bash', [TESTENV, 'exec', child.file, ...child.args], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SIDING_TESTENV_WEBHOOK_REPLICAS: '2' } });
      p.on('error', reject);
      p.on('exit', resolve);
    });
    if (code !== 0) throw new Error(`the cluster measurement (bench/cluster-inside.ts in the control plane's namespace) exited ${String(code)}`);
    return JSON.parse(readFileSync(settings.out, 'utf8')) as ClusterResults;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await testenv(['down']).catch((e: unknown) => s.log(`testenv down failed: ${String(e)}`));
  }
}

/**
 * The measuring itself, in the control plane's network namespace, against the testenv
 * that benchCluster brought up (kubeconfig).
 */
export async function measureCluster(s: ClusterSettings, kubeconfig: string): Promise<ClusterResults> {
  const info = machine();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const stamp = Date.now().toString(36);
  const plain = await namespace(core, `bench-plain-${stamp}`, {});
  const labelled = await namespace(core, `bench-inject-${stamp}`, SIDING.injectionLabel);
  const run = (ns: string, prefix: string, injected: boolean, until?: Promise<unknown>): Promise<LoadResult> =>
    createPods({ kubeconfig, namespace: ns, concurrency: s.concurrency, count: s.pods, prefix, expectInjected: injected, ...(until === undefined ? {} : { until }) });

  // Warm both paths (API server caches, connections to the webhook) before measuring.
  await run(plain, 'warm', false).then((r) => (r.failures.length > 0 ? Promise.reject(new Error(`warm-up failed: ${r.failures[0]?.message}`)) : r));
  await run(labelled, 'warm', true);
  const without = figures(await run(plain, 'plain', false));
  s.log(`without the webhook: p50 ${without.p50_ms.toFixed(1)} ms, p99 ${without.p99_ms.toFixed(1)} ms, ${without.failures} failed`);
  const withHook = figures(await run(labelled, 'steady', true));
  s.log(`with the webhook: p50 ${withHook.p50_ms.toFixed(1)} ms, p99 ${withHook.p99_ms.toFixed(1)} ms, ${withHook.failures} failed`);

  // The rollout starts after about a tenth of the creations (at the steady rate just
  // measured); creations go on, past the count if need be, until it is over, so they
  // always cross the restart of both replicas.
  const delayMs = (s.pods / 10 / Math.max(withHook.creations_per_s, 1)) * 1000;
  let rolloutS = Number.NaN;
  const rollout = new Promise((r) => setTimeout(r, delayMs)).then(async () => {
    const t0 = Date.now();
    await testenv(['webhook-rollout'], { SIDING_TESTENV_WEBHOOK_REPLICAS: '2' });
    rolloutS = (Date.now() - t0) / 1000;
  });
  const across = await run(labelled, 'rollout', true, rollout.catch(() => undefined));
  await rollout;
  const acrossFigures = { ...figures(across), rollout_s: rolloutS };
  s.log(
    `across a rollout of both replicas (${rolloutS.toFixed(1)} s): ${across.created} created, ${across.failures.length} failed, ` +
      `p50 ${acrossFigures.p50_ms.toFixed(1)} ms, p99 ${acrossFigures.p99_ms.toFixed(1)} ms`,
  );
  await Promise.allSettled([core.deleteNamespace({ name: plain }), core.deleteNamespace({ name: labelled })]);

  s.log(`one replica in a memory cgroup under attack (${s.attackPhaseS} s per phase)...`);
  const attack = await attackOneReplica(dirname(kubeconfig), s.attackPhaseS * 1000, s.log);
  info.loadavg_end = os.loadavg()[0] ?? 0;
  return {
    machine: info,
    pods: s.pods,
    concurrency: s.concurrency,
    replicas: 2,
    without_webhook: without,
    with_webhook: withHook,
    across_rollout: acrossFigures,
    attack_memory: attack,
  };
}

async function attackOneReplica(stateDir: string, phaseMs: number, log: (line: string) => void): Promise<ClusterResults['attack_memory']> {
  const limit = manifestMemoryLimit();
  const cgroup = MemoryCgroup.create('siding-bench-webhook', limit);
  let report: AttackReport;
  try {
    const replica = await startReplicaIn(cgroup, stateDir);
    try {
      report = await runAttacks(replica.port, cgroup, phaseMs);
    } finally {
      await replica.stop();
    }
  } finally {
    await cgroup.remove();
  }
  for (const line of attackLines(report, limit)) log(line);
  const mib = (n: number): number => Math.round((n / 2 ** 20) * 10) / 10;
  return {
    limit_mib: mib(limit),
    peak_mib: mib(report.final.peak),
    oom_kills: report.final.oomKills,
    phases: report.phases.map((p) => ({
      name: p.name,
      usage_mib: mib(p.figures.usage),
      rss_mib: mib(p.figures.rss),
      cache_mib: mib(p.figures.cache),
      peak_mib: mib(p.figures.peak),
      answers: p.tally ?? null,
    })),
    prober_reviews: report.prober.reviews,
    prober_failures: report.prober.failures.length,
    health_ok: report.prober.healthOk,
    health_failed: report.prober.healthFailed,
  };
}

/** The readable summary `npm run bench` prints. */
export function clusterTable(r: ClusterResults): string {
  const row = (name: string, f: CreationFigures): string =>
    `| ${name} | ${f.created} | ${f.failures} | ${f.p50_ms.toFixed(1)} | ${f.p90_ms.toFixed(1)} | ${f.p99_ms.toFixed(1)} | ${f.creations_per_s.toFixed(0)} |`;
  const a = r.attack_memory;
  return [
    `Pod creations through the API server, ${r.pods} at concurrency ${r.concurrency}, ${r.replicas} webhook replicas`,
    '| run | created | failed | p50 ms | p90 ms | p99 ms | pods/s |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('without the webhook', r.without_webhook),
    row('with the webhook', r.with_webhook),
    row(`with the webhook, across a rollout (${r.across_rollout.rollout_s.toFixed(1)} s)`, r.across_rollout),
    '',
    `One replica in a memory cgroup of ${a.limit_mib} MiB under attack: peak ${a.peak_mib} MiB, OOM kills ${a.oom_kills}; ` +
      `prober ${a.prober_reviews} reviews, ${a.prober_failures} failed; /healthz ${a.health_ok} ok, ${a.health_failed} failed`,
    ...a.phases.map(
      (p) =>
        `  ${p.name}: ${p.usage_mib} MiB (rss ${p.rss_mib}, cache ${p.cache_mib}; peak so far ${p.peak_mib} MiB)` +
        `${p.answers === null ? '' : ` ${JSON.stringify(p.answers)}`}`,
    ),
  ].join('\n');
}
