/**
 * `npm run bench`: builds, then measures the webhook (against a bare fastify baseline), the
 * engine, `siding init` (as root) and the webhook's memory; prints tables and writes
 * bench/results.json. BENCHMARKS.md explains the method.
 *
 * Settings (environment): BENCH_DURATION seconds per load run (default 4), BENCH_WARMUP
 * seconds of warm-up before each (default 1), BENCH_INIT_RUNS (default 20), BENCH_ENGINE_MS
 * per engine task (default 2000), BENCH_ONLY=http,engine,init,proxy,hostile,cluster,cni to run a subset (the
 * other parts' results already in bench/results.json are kept), BENCH_PROXY_BULK_MB of the
 * proxy's bulk transfer (default 1024), BENCH_PROXY_HELD idle connections for its memory
 * reading (default 1000), BENCH_PROXY_READY_RUNS starts timed (default 5), BENCH_HOSTILE_ROUNDS
 * times each review of the hostile-value corpus is sent (default 3),
 * BENCH_SETTLE seconds idle before the settled memory reading (default 30), BENCH_CNI_RUNS
 * ADDs per CNI plugin candidate (default 30), BENCH_CNI_PODS pods the CNI agent programs
 * for its memory reading (default 100),
 * BENCH_WEBHOOK_NODE_FLAGS extra node flags for the webhook process (space-separated, e.g.
 * `--max-semi-space-size=4`; default none). The webhook always runs with the heap flags the
 * Deployment uses (WEBHOOK_NODE_FLAGS, src/admission/node-flags.ts); these come after them,
 * so a flag given here overrides the default one. The cluster part (BENCH_ONLY=cluster; it
 * brings up scripts/kube-testenv.sh, so hold /run/siding-e2e.lock): BENCH_PODS pod
 * creations per run (default 1000), BENCH_POD_CONCURRENCY (16), BENCH_ATTACK_PHASE seconds
 * per attack phase (12).
 */
import os from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WEBHOOK_NODE_FLAGS } from '../src/admission/node-flags.js';
import { benchCluster, clusterPrerequisite, clusterTable, type ClusterOutcome } from './cluster.js';
import { benchEngine, type EngineResult } from './engine.js';
import type { Size } from './fixtures.js';
import { benchHostile, type HostileResults } from './hostile.js';
import { benchHttp, type HttpResults } from './http.js';
import { benchInit, type InitOutcome } from './init.js';
import { benchProxy, type ProxyOutcome } from './proxy.js';
import { benchCni, cniTable, cniTargets, type CniOutcome } from './cni.js';
import { proxyTable, proxyTargets } from './proxy-report.js';
import { engineTable, hostileTable, httpTable, initTable, machine, memoryLine, targets, targetsTable } from './report.js';

const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

function setting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name}=${raw}: expected a number from ${min} to ${max}`);
  return n;
}

const durationS = setting('BENCH_DURATION', 4, 1, 60);
const warmupS = setting('BENCH_WARMUP', 1, 0, 30);
const initRuns = setting('BENCH_INIT_RUNS', 20, 1, 500);
const engineMs = setting('BENCH_ENGINE_MS', 2000, 100, 60_000);
const settleS = setting('BENCH_SETTLE', 30, 0, 300);
const pods = setting('BENCH_PODS', 1000, 16, 100_000);
const podConcurrency = setting('BENCH_POD_CONCURRENCY', 16, 1, 256);
const attackPhaseS = setting('BENCH_ATTACK_PHASE', 12, 2, 600);
const proxyBulkMb = setting('BENCH_PROXY_BULK_MB', 1024, 1, 16384);
const proxyHeld = setting('BENCH_PROXY_HELD', 1000, 1, 20000);
const proxyReadyRuns = setting('BENCH_PROXY_READY_RUNS', 5, 1, 50);
const hostileRounds = setting('BENCH_HOSTILE_ROUNDS', 3, 1, 20);
const cniRuns = setting('BENCH_CNI_RUNS', 30, 1, 500);
const cniPods = setting('BENCH_CNI_PODS', 100, 1, 1000);
const PARTS = ['http', 'engine', 'init', 'proxy', 'hostile', 'cluster', 'cni'] as const;
const only = (process.env.BENCH_ONLY ?? '').split(',').filter((s) => s !== '');
for (const p of only) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_ONLY: unknown part ${p} (${PARTS.join(', ')})`);
const webhookNodeFlags = (process.env.BENCH_WEBHOOK_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
for (const f of webhookNodeFlags) if (!/^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/.test(f)) throw new Error(`BENCH_WEBHOOK_NODE_FLAGS: not a node flag: ${f}`);
const wants = (part: (typeof PARTS)[number]): boolean => only.length === 0 || only.includes(part);

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const started = Date.now();
const info = machine();
log(`${info.cpu}, ${info.cores} cores, node ${info.node}, load average ${info.loadavg_start.toFixed(2)}`);
if (info.loadavg_start > 1) log(`WARNING: the machine is busy (load average ${info.loadavg_start.toFixed(2)}); figures will be lower than on an idle machine`);

let engine: Record<Size, EngineResult> | undefined;
if (wants('engine')) {
  log('engine micro-benchmark...');
  engine = await benchEngine(engineMs);
}

let http: HttpResults | undefined;
if (wants('http')) {
  log(`webhook vs baseline: 3 sizes x 3 concurrencies x 2 servers, ${warmupS} s warm-up + ${durationS} s each...`);
  http = await benchHttp({ durationS, warmupS, webhookNodeFlags, settleS, log });
}

let init: InitOutcome | undefined;
if (wants('init')) {
  log(`siding init: ${initRuns} runs...`);
  init = await benchInit(initRuns, log);
  if ('skipped' in init) {
    process.stderr.write(`\n!!! SKIPPING the siding init benchmark: ${init.skipped}\n!!! run npm run bench as root to measure it\n\n`);
  }
}

let proxy: ProxyOutcome | undefined;
if (wants('proxy')) {
  log(`siding proxy: 4 paths x (2 request/response runs of ${warmupS} + ${durationS} s, ${proxyBulkMb} MiB bulk), new connections, memory, start...`);
  proxy = await benchProxy({ durationS, warmupS, bulkBytes: proxyBulkMb * 2 ** 20, held: proxyHeld, readyRuns: proxyReadyRuns, log });
  if ('skipped' in proxy) {
    process.stderr.write(`\n!!! SKIPPING the siding proxy benchmark: ${proxy.skipped}\n!!! run npm run bench as root to measure it\n\n`);
  }
}

let cluster: ClusterOutcome | undefined;
if (wants('cluster')) {
  const missing = clusterPrerequisite();
  if (missing !== undefined) {
    cluster = { skipped: missing };
    process.stderr.write(`\n!!! SKIPPING the cluster benchmark: ${missing}\n!!! run npm run bench as root after scripts/setup.sh to measure it\n\n`);
  } else {
    log(`cluster: ${pods} pod creations at concurrency ${podConcurrency} without, with, and across a rollout of the webhook; then a replica under attack...`);
    cluster = await benchCluster({ pods, concurrency: podConcurrency, attackPhaseS, log });
  }
}

let cni: CniOutcome | undefined;
if (wants('cni')) {
  log(`CNI mode: plugin ADD (Go and Node.js single executable, ${cniRuns} runs each), agent memory with ${cniPods} pods...`);
  cni = await benchCni({ runs: cniRuns, pods: cniPods, log });
  if ('skipped' in cni) {
    process.stderr.write(`\n!!! SKIPPING the CNI benchmark: ${cni.skipped}\n!!! run npm run bench as root, with Go, to measure it\n\n`);
  }
}

info.loadavg_end = os.loadavg()[0] ?? 0;
let hostile: HostileResults | undefined;
if (wants('hostile')) {
  log(`hostile values: the corpus of test/helpers/hostile.ts, ${hostileRounds} rounds...`);
  hostile = await benchHostile({ rounds: hostileRounds, log });
}

const ts = [
  ...(http === undefined && init === undefined ? [] : targets(http, init)),
  ...(proxy === undefined ? [] : proxyTargets(proxy)),
  ...(cni === undefined ? [] : cniTargets(cni)),
];
const sections = [
  ...(http === undefined ? [] : [httpTable(http, durationS), memoryLine(http)]),
  ...(engine === undefined ? [] : [engineTable(engine)]),
  ...(init === undefined ? [] : [initTable(init)]),
  ...(proxy === undefined ? [] : [proxyTable(proxy)]),
  ...(hostile === undefined ? [] : [hostileTable(hostile)]),
  ...(cluster === undefined || 'skipped' in cluster ? [] : [clusterTable(cluster)]),
  ...(cni === undefined ? [] : [cniTable(cni)]),
  targetsTable(ts),
  `Machine: ${info.cpu}, ${info.cores} cores, ${info.memory_gb} GB, ${info.kernel}, node ${info.node}; load average ${info.loadavg_start.toFixed(2)} at start, ${info.loadavg_end.toFixed(2)} at end; ${((Date.now() - started) / 1000).toFixed(0)} s`,
];
process.stdout.write(`\n${sections.join('\n\n')}\n`);

const initJson =
  init === undefined
    ? { skipped: 'not run (BENCH_ONLY)', median_ms: null, restore_median_ms: null, execs: null, istio_ratio_wall: null, istio_ratio_cpu: null, peak_mib: null }
    : 'skipped' in init
      ? { skipped: init.skipped, median_ms: null, restore_median_ms: null, execs: null, istio_ratio_wall: null, istio_ratio_cpu: null, peak_mib: null }
      : init;
const fresh: Record<string, unknown> = {
  machine: info,
  settings: {
    duration_s: durationS,
    warmup_s: warmupS,
    init_runs: initRuns,
    engine_ms: engineMs,
    settle_s: settleS,
    pods,
    pod_concurrency: podConcurrency,
    attack_phase_s: attackPhaseS,
    // Every flag the webhook ran with, the default ones included (older results list only the extra ones).
    webhook_node_flags: [...WEBHOOK_NODE_FLAGS, ...webhookNodeFlags],
    parts: only.length === 0 ? [...PARTS] : only,
  },
  body_bytes: http?.bodyBytes ?? null,
  webhook: http?.webhook ?? null,
  baseline: http?.baseline ?? null,
  engine: engine ?? null,
  init: initJson,
  cluster: cluster ?? null,
  memory: http?.memory ?? null,
  webhook_exit_code: http?.webhookExit ?? null,
  proxy: proxy ?? null,
  hostile: hostile ?? null,
  cni: cni ?? null,
  targets: ts,
  elapsed_s: Math.round((Date.now() - started) / 1000),
};
// A partial run (BENCH_ONLY) keeps the other parts' figures from the previous results.
const KEYS_OF: Record<(typeof PARTS)[number], string[]> = {
  http: ['body_bytes', 'webhook', 'baseline', 'memory', 'webhook_exit_code'],
  engine: ['engine'],
  init: ['init'],
  proxy: ['proxy'],
  cluster: ['cluster'],
  hostile: ['hostile'],
  cni: ['cni'],
};
const previous = only.length > 0 && existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
const results: Record<string, unknown> = { ...fresh };
for (const part of PARTS) {
  if (wants(part)) continue;
  for (const key of KEYS_OF[part]) if (key in previous) results[key] = previous[key];
}
if (only.length > 0 && Array.isArray(previous.targets)) {
  // Targets this run did not measure stay as they were last measured.
  const measured = ts.filter((t) => t.met !== undefined);
  const names = new Set(measured.map((t) => t.name));
  results.targets = [...(previous.targets as { name: string }[]).filter((t) => !names.has(t.name)), ...measured];
}
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
log(`wrote ${RESULTS}`);
if (http !== undefined && http.webhookExit !== 0) {
  log(`the webhook exited ${String(http.webhookExit)} after SIGTERM (expected 0)`);
  process.exitCode = 1;
}
