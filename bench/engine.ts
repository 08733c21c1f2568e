/**
 * The injection engine alone (tinybench): `injectPod` on the three review sizes with the
 * built-in config, in this process, the way the webhook calls it: each call gets a freshly
 * parsed pod (parsed before the call, not timed) and reads it in place (`parsedJson`). So
 * this measures policy, annotations, checks, mutators and the diff; not JSON parsing, the
 * copy the CLI makes, or HTTP.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { Bench } from 'tinybench';
import { DEFAULT_CONFIG } from '../src/config/index.js';
import { injectPod } from '../src/inject/index.js';
import { makeReview, NAMESPACE, SIZES, type Size } from './fixtures.js';

export interface EngineResult {
  /** Median of the per-sample throughput. */
  pods_per_s: number;
  /** Median time of one injection, microseconds. */
  median_us: number;
  p99_us: number;
  samples: number;
}

export async function benchEngine(timeMs: number): Promise<Record<Size, EngineResult>> {
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(500, timeMs / 2) });
  for (const size of SIZES) {
    const text = JSON.stringify(makeReview(size).request.object);
    const check = injectPod(JSON.parse(text) as V1Pod, { namespace: NAMESPACE, parsedJson: true }, DEFAULT_CONFIG);
    if (check.kind !== 'injected' || check.patch.length === 0) throw new Error(`the ${size} pod was not injected: ${check.kind}`);
    let pod = JSON.parse(text) as V1Pod;
    bench.add(
      size,
      () => {
        injectPod(pod, { namespace: NAMESPACE, parsedJson: true }, DEFAULT_CONFIG);
      },
      {
        beforeEach() {
          pod = JSON.parse(text) as V1Pod;
        },
      },
    );
  }
  await bench.run();
  const out = {} as Record<Size, EngineResult>;
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`engine bench ${task.name}: ${r.state}`);
    out[task.name as Size] = {
      pods_per_s: r.throughput.p50,
      median_us: r.latency.p50 * 1000,
      p99_us: r.latency.p99 * 1000,
      samples: r.latency.samplesCount,
    };
  }
  return out;
}
