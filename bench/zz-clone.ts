import { Bench } from 'tinybench';
import { makeReview } from '/work/main/bench/fixtures.ts';
const cloneJson = (v: unknown): unknown => {
  if (Array.isArray(v)) { const out = new Array(v.length); for (let i = 0; i < v.length; i++) out[i] = cloneJson(v[i]); return out; }
  if (v !== null && typeof v === 'object') { const out: Record<string, unknown> = {}; for (const k in v as object) { const x = (v as Record<string, unknown>)[k]; if (x !== undefined) out[k] = cloneJson(x); } return out; }
  return v;
};
for (const size of ['typical', 'large'] as const) {
  const pod = makeReview(size).request.object;
  const b = new Bench({ time: 500 });
  b.add('stringify+parse', () => JSON.parse(JSON.stringify(pod)));
  b.add('structuredClone', () => structuredClone(pod));
  b.add('cloneJson', () => cloneJson(pod));
  b.add('without managedFields stringify+parse', () => { const { managedFields: _m, ...md } = pod.metadata ?? {}; return JSON.parse(JSON.stringify({ ...pod, metadata: md })); });
  await b.run();
  console.log(size); console.table(b.tasks.map((t) => ({ name: t.name, us: t.result.state === 'completed' ? (t.result.latency.p50 * 1000).toFixed(1) : '' })));
}
