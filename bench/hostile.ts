/**
 * The hostile-value corpus (test/helpers/hostile.ts) against the built webhook over HTTPS,
 * one review at a time, each followed at once by a typical review (an unrelated pod created
 * a moment later); then typical reviews alone, and one pod with 65,000 near-miss unknown
 * keys. Reports the slowest hostile review next to the typical one: what a hostile pod
 * author can make one review cost, and what that does to everyone else's.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { WEBHOOK_NODE_FLAGS } from '../src/admission/node-flags.js';
import { hostileCorpus, podReview, typicalReview } from '../test/helpers/hostile.js';
import { listeningUrl, post } from './http.js';
import { CLI, mustRun, percentile, startServer } from './procs.js';
import { machine, type Machine } from './report.js';

export interface Timing {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  n: number;
}

export interface HostileResults {
  /** This part's own machine reading (a BENCH_ONLY=hostile run keeps the other parts' results). */
  machine: Machine;
  /** Reviews in the corpus; each was sent `rounds` times and its median kept. */
  reviews: number;
  rounds: number;
  /** Median latency of each hostile review, summarised over the corpus. */
  hostile: Timing;
  slowest: { name: string; ms: number; body_bytes: number };
  /** The slowest review carrying one key. */
  slowest_one_key: { name: string; ms: number; body_bytes: number };
  /** The slowest review carrying every key at once (the largest pod the webhook accepts). */
  largest_pod: { name: string; ms: number; body_bytes: number };
  /** Typical reviews sent right behind a hostile one. */
  behind_hostile: Timing;
  /** Typical reviews alone. */
  typical: Timing;
  unknown_keys: { keys: number; ms: number; body_bytes: number; answer_bytes: number };
}

function timing(values: number[]): Timing {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99), max_ms: sorted[sorted.length - 1] ?? Number.NaN, n: sorted.length };
}

async function timed(url: string, body: string): Promise<{ ms: number; status: number; bytes: number }> {
  const start = process.hrtime.bigint();
  const a = await post(url, body);
  if (a.status !== 200) throw new Error(`the webhook answered ${a.status}: ${a.body.slice(0, 300)}`);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, status: a.status, bytes: Buffer.byteLength(a.body) };
}

export async function benchHostile(opts: { rounds: number; log: (line: string) => void }): Promise<HostileResults> {
  const info = machine();
  const dir = mkdtempSync(path.join(tmpdir(), 'siding-bench-hostile-'));
  try {
    const certDir = path.join(dir, 'certs');
    await mustRun(process.execPath, [CLI, 'certs', 'generate', '--service', 'siding', '--namespace', 'bench', '--out-dir', certDir, '--extra-san', '127.0.0.1']);
    const logFile = path.join(dir, 'webhook.log');
    const logFd = openSync(logFile, 'w');
    const webhook = await startServer(
      process.execPath,
      [...WEBHOOK_NODE_FLAGS, CLI, 'webhook', '--listen', '127.0.0.1:0', '--tls-cert-file', path.join(certDir, 'tls.crt'), '--tls-key-file', path.join(certDir, 'tls.key')],
      listeningUrl,
      { stdio: ['ignore', logFd, 'pipe'], readOutput: () => readFileSync(logFile, 'utf8') },
    );
    closeSync(logFd);
    try {
      const corpus = hostileCorpus();
      // Warm up: the first reviews pay for compiling the code paths.
      for (let i = 0; i < 200; i++) await timed(webhook.url, typicalReview());
      const medians: { name: string; ms: number; bytes: number }[] = [];
      const behind: number[] = [];
      for (const c of corpus) {
        const runs: number[] = [];
        for (let r = 0; r < opts.rounds; r++) {
          const [h, b] = await Promise.all([timed(webhook.url, c.body), timed(webhook.url, typicalReview())]);
          runs.push(h.ms);
          behind.push(b.ms);
        }
        medians.push({ name: c.name, ms: percentile([...runs].sort((x, y) => x - y), 50), bytes: Buffer.byteLength(c.body) });
      }
      const typical: number[] = [];
      for (let i = 0; i < 500; i++) typical.push((await timed(webhook.url, typicalReview())).ms);
      const unknownBody = podReview(Object.fromEntries(Array.from({ length: 65_000 }, (_, i) => [`siding.io/proxyImag${i.toString(36)}x`, 'x'])));
      const unknownRuns: { ms: number; bytes: number }[] = [];
      for (let r = 0; r < opts.rounds; r++) unknownRuns.push(await timed(webhook.url, unknownBody));
      unknownRuns.sort((a, b) => a.ms - b.ms);
      const unknown = unknownRuns[Math.floor(unknownRuns.length / 2)] ?? { ms: Number.NaN, bytes: 0 };

      const byTime = [...medians].sort((a, b) => b.ms - a.ms);
      const slowest = byTime[0] ?? { name: '', ms: Number.NaN, bytes: 0 };
      const largest = byTime.find((m) => m.name.startsWith('every key: ')) ?? { name: '', ms: Number.NaN, bytes: 0 };
      const oneKey = byTime.find((m) => !m.name.startsWith('every key: ')) ?? { name: '', ms: Number.NaN, bytes: 0 };
      info.loadavg_end = os.loadavg()[0] ?? 0;
      const result: HostileResults = {
        machine: info,
        reviews: corpus.length,
        rounds: opts.rounds,
        hostile: timing(medians.map((m) => m.ms)),
        slowest: { name: slowest.name, ms: slowest.ms, body_bytes: slowest.bytes },
        slowest_one_key: { name: oneKey.name, ms: oneKey.ms, body_bytes: oneKey.bytes },
        largest_pod: { name: largest.name, ms: largest.ms, body_bytes: largest.bytes },
        behind_hostile: timing(behind),
        typical: timing(typical),
        unknown_keys: { keys: 65_000, ms: unknown.ms, body_bytes: Buffer.byteLength(unknownBody), answer_bytes: unknown.bytes },
      };
      opts.log(
        `hostile: slowest ${result.slowest.ms.toFixed(2)} ms (${result.slowest.name}), largest pod ${result.largest_pod.ms.toFixed(2)} ms, ` +
          `typical p50 ${result.typical.p50_ms.toFixed(2)} ms, behind a hostile one p99 ${result.behind_hostile.p99_ms.toFixed(2)} ms`,
      );
      return result;
    } finally {
      await webhook.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
