/**
 * Webhook over HTTPS against the baseline, side by side in one run, plus the webhook's
 * resident memory. Three processes at a time: the server under test (`node dist/cli.js
 * webhook` with the heap flags the Deployment uses, or bench/baseline.ts), and the load
 * generator (bench/loader.ts). Both servers use the same certificate, written by `siding
 * certs generate`.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WEBHOOK_NODE_FLAGS } from '../src/admission/node-flags.js';
import { makeReview, reviewBody, SIZES, type Size } from './fixtures.js';
import type { LoadResult, LoadSpec } from './loader.js';
import { clockTicks, CLI, cpuSeconds, mustRun, residentMemory, runProgram, startServer, tsNode, type Server } from './procs.js';

export const CONCURRENCY = [1, 16, 64] as const;

export interface HttpSettings {
  durationS: number;
  warmupS: number;
  /**
   * Extra node flags for the webhook process (BENCH_WEBHOOK_NODE_FLAGS), after
   * WEBHOOK_NODE_FLAGS: V8 takes the last value of a flag, so these override them.
   */
  webhookNodeFlags: string[];
  /** Seconds to wait idle after the last run before reading the settled memory. */
  settleS: number;
  log: (line: string) => void;
}

/** A load run's figures, plus the server's own CPU time per answered request. */
export interface RunResult extends LoadResult {
  /** Server CPU (user + system) per 2xx answer, microseconds: how much work one review costs it. */
  server_cpu_us: number;
}

export type PerConcurrency = Record<`c${number}`, RunResult>;

export interface HttpResults {
  bodyBytes: Record<Size, number>;
  webhook: Record<Size, PerConcurrency>;
  baseline: Record<Size, PerConcurrency>;
  memory: {
    idle_mb: number;
    /** The largest VmRSS read right after a c=64 run. */
    loaded_mb: number;
    /** VmRSS after each c=64 run, by size. */
    after_c64_mb: Record<Size, number>;
    /** VmHWM at the end: the peak resident size over the whole run. */
    peak_mb: number;
    /** VmRSS after `settle_s` seconds without load (V8 shrinks its heap when idle). */
    settled_mb: number;
    settle_s: number;
  };
  /** The webhook's exit code after SIGTERM at the end. */
  webhookExit: number | null;
}

export interface Answer {
  status: number;
  body: string;
}

export function post(url: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The bench only talks to its own servers on loopback; the certificate is checked by
    // the webhook's own tests, here it is the load that matters.
    const req = https.request(`${url}/inject`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One review per size before the load: siding must answer 200 with a patch for every fixture. */
async function checkAnswers(name: string, url: string, expectPatch: boolean): Promise<void> {
  for (const size of SIZES) {
    const review = makeReview(size);
    const a = await post(url, JSON.stringify(review));
    const parsed = JSON.parse(a.body) as { response?: { uid?: string; allowed?: boolean; patch?: string } };
    if (a.status !== 200 || parsed.response?.uid !== review.request.uid || parsed.response.allowed !== true) {
      throw new Error(`${name} did not accept the ${size} review: ${a.status} ${a.body.slice(0, 500)}`);
    }
    if (expectPatch && (parsed.response.patch ?? '') === '') throw new Error(`${name} answered the ${size} review without a patch`);
  }
}

async function load(spec: LoadSpec): Promise<LoadResult> {
  const { file, args } = tsNode('./loader.ts', [JSON.stringify(spec)]);
  const r = await runProgram(file, args, { timeoutMs: (spec.durationS + spec.warmupS + 60) * 1000 });
  if (r.code !== 0) throw new Error(`load generator failed (${r.code}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as LoadResult;
}

/**
 * One load run against a server, with the server's CPU time over the run. The warm-up's
 * requests are in that time too, so it is divided by every answered request, warm-up
 * included (estimated from the measured rate).
 */
async function measured(server: Server, spec: LoadSpec, ticks: number): Promise<RunResult> {
  const before = cpuSeconds(server.pid, ticks);
  const r = await load(spec);
  const cpu = cpuSeconds(server.pid, ticks) - before;
  const answered = r.ok + r.rps * spec.warmupS;
  return { ...r, server_cpu_us: answered > 0 ? (cpu / answered) * 1e6 : Number.NaN };
}

export function listeningUrl(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (!line.includes('webhook listening')) continue;
    try {
      const url = (JSON.parse(line) as { url?: unknown }).url;
      if (typeof url === 'string') return url;
    } catch {
      // a partial line: wait for the rest
    }
  }
  return undefined;
}

export async function benchHttp(s: HttpSettings): Promise<HttpResults> {
  const dir = mkdtempSync(path.join(tmpdir(), 'siding-bench-'));
  const servers: Server[] = [];
  try {
    const certDir = path.join(dir, 'certs');
    await mustRun(process.execPath, [CLI, 'certs', 'generate', '--service', 'siding', '--namespace', 'bench', '--out-dir', certDir, '--extra-san', '127.0.0.1']);
    const cert = path.join(certDir, 'tls.crt');
    const key = path.join(certDir, 'tls.key');
    const bodyFiles = {} as Record<Size, string>;
    const bodyBytes = {} as Record<Size, number>;
    for (const size of SIZES) {
      const body = reviewBody(size);
      bodyFiles[size] = path.join(dir, `${size}.json`);
      bodyBytes[size] = Buffer.byteLength(body);
      writeFileSync(bodyFiles[size], body);
    }

    // The webhook logs one JSON line per review to stdout, as in a cluster; a file takes it
    // here so that no bench process spends CPU reading it.
    const logFile = path.join(dir, 'webhook.log');
    const logFd = openSync(logFile, 'w');
    const webhook = await startServer(
      process.execPath,
      [...WEBHOOK_NODE_FLAGS, ...s.webhookNodeFlags, CLI, 'webhook', '--listen', '127.0.0.1:0', '--tls-cert-file', cert, '--tls-key-file', key],
      listeningUrl,
      { stdio: ['ignore', logFd, 'pipe'], readOutput: () => readFileSync(logFile, 'utf8') },
    );
    closeSync(logFd);
    servers.push(webhook);
    const { file, args } = tsNode('./baseline.ts', [cert, key]);
    const baseline = await startServer(file, args, (t) => /listening (https:\/\/\S+)/.exec(t)?.[1]);
    servers.push(baseline);

    // Idle: started, nothing served yet, a moment to settle.
    await new Promise((r) => setTimeout(r, 1000));
    const idle = residentMemory(webhook.pid).rssMb;
    s.log(`webhook pid ${webhook.pid} at ${webhook.url}, idle RSS ${idle.toFixed(1)} MB; baseline at ${baseline.url}`);

    await checkAnswers('siding', webhook.url, true);
    await checkAnswers('baseline', baseline.url, false);

    const ticks = await clockTicks();
    const webhookResults = {} as Record<Size, PerConcurrency>;
    const baselineResults = {} as Record<Size, PerConcurrency>;
    const afterC64 = {} as Record<Size, number>;
    for (const size of SIZES) {
      webhookResults[size] = {};
      baselineResults[size] = {};
      for (const c of CONCURRENCY) {
        const spec = { bodyFile: bodyFiles[size], connections: c, durationS: s.durationS, warmupS: s.warmupS };
        const w = await measured(webhook, { ...spec, url: webhook.url + '/inject' }, ticks);
        if (c === 64) afterC64[size] = residentMemory(webhook.pid).rssMb;
        const b = await measured(baseline, { ...spec, url: baseline.url + '/inject' }, ticks);
        webhookResults[size][`c${c}`] = w;
        baselineResults[size][`c${c}`] = b;
        s.log(
          `${size.padEnd(7)} c=${String(c).padEnd(2)}  siding ${w.rps.toFixed(0).padStart(6)} rps p99 ${w.p99_ms.toFixed(2)} ms` +
            `  baseline ${b.rps.toFixed(0).padStart(6)} rps p99 ${b.p99_ms.toFixed(2)} ms` +
            (w.non2xx + w.errors + w.timeouts > 0 ? `  !! siding non2xx=${w.non2xx} errors=${w.errors} timeouts=${w.timeouts}` : ''),
        );
      }
    }
    const peak = residentMemory(webhook.pid).peakMb;
    if (s.settleS > 0) s.log(`waiting ${s.settleS} s idle for the settled memory reading...`);
    await new Promise((r) => setTimeout(r, s.settleS * 1000));
    const settled = residentMemory(webhook.pid).rssMb;
    const webhookExit = await webhook.stop();
    await baseline.stop();
    servers.length = 0;
    return {
      bodyBytes,
      webhook: webhookResults,
      baseline: baselineResults,
      memory: {
        idle_mb: idle,
        loaded_mb: Math.max(...Object.values(afterC64)),
        after_c64_mb: afterC64,
        peak_mb: peak,
        settled_mb: settled,
        settle_s: s.settleS,
      },
      webhookExit,
    };
  } finally {
    for (const srv of servers) await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
