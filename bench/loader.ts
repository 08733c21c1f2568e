/**
 * The load generator, run as its own process by bench/http.ts:
 *   node --import tsx bench/loader.ts '{"url":...,"bodyFile":...,"connections":16,"durationS":4,"warmupS":1}'
 * autocannon over HTTPS with keep-alive (HTTP/1.1, one request in flight per connection),
 * a warm-up run first, then the measured run. Latency percentiles come from every response
 * time (float milliseconds), not autocannon's whole-millisecond histogram. Prints one JSON
 * line (LoadResult) on stdout.
 */
import { readFileSync } from 'node:fs';
import autocannon, { type Result } from 'autocannon';
import { percentile } from './procs.js';

export interface LoadSpec {
  url: string;
  bodyFile: string;
  connections: number;
  durationS: number;
  warmupS: number;
}

export interface LoadResult {
  /** 2xx answers per second over the measured run. */
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration_s: number;
}

function run(spec: LoadSpec, body: string, durationS: number, onResponse?: (status: number, ms: number) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections: spec.connections,
        pipelining: 1,
        duration: durationS,
        timeout: 10,
      },
      (error, result) => (error === null ? resolve(result) : reject(error)),
    );
    if (onResponse !== undefined) instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  const body = readFileSync(spec.bodyFile, 'utf8');
  if (spec.warmupS > 0) await run(spec, body, spec.warmupS);

  let times = new Float64Array(1 << 16);
  let n = 0;
  let ok = 0;
  const result = await run(spec, body, spec.durationS, (status, ms) => {
    if (status < 200 || status > 299) return;
    ok += 1;
    if (n === times.length) {
      const bigger = new Float64Array(times.length * 2);
      bigger.set(times);
      times = bigger;
    }
    times[n++] = ms;
  });
  const sorted = times.subarray(0, n).sort();
  const out: LoadResult = {
    rps: ok / result.duration,
    p50_ms: percentile(sorted, 50),
    p90_ms: percentile(sorted, 90),
    p99_ms: percentile(sorted, 99),
    max_ms: percentile(sorted, 100),
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    duration_s: result.duration,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
