/**
 * Machine facts, the performance targets (BENCHMARKS.md), and the readable tables `npm run bench` prints.
 */
import os from 'node:os';
import type { EngineResult } from './engine.js';
import type { Size } from './fixtures.js';
import { SIZES } from './fixtures.js';
import type { HostileResults } from './hostile.js';
import { CONCURRENCY, type HttpResults } from './http.js';
import type { InitOutcome } from './init.js';

export interface Machine {
  cpu: string;
  cores: number;
  memory_gb: number;
  node: string;
  kernel: string;
  date: string;
  /** 1-minute load average when the bench started and ended: other work on the machine skews everything. */
  loadavg_start: number;
  loadavg_end?: number;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    loadavg_start: os.loadavg()[0] ?? 0,
  };
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  /** undefined: not measured in this run. */
  met: boolean | undefined;
}

export const fmt = (n: number | undefined, digits = 0): string => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));

/** The performance targets (BENCHMARKS.md), evaluated on this run. The typical pod's are taken at c=16, as they are set. */
export function targets(http: HttpResults | undefined, init: InitOutcome | undefined): Target[] {
  const out: Target[] = [];
  const typical = http?.webhook.typical.c16;
  const typicalBase = http?.baseline.typical.c16;
  const large = http?.webhook.large.c16;
  const large1 = http?.webhook.large.c1;
  out.push({ name: 'typical pod, c=16: reviews/s', target: '>= 3000', measured: fmt(typical?.rps), met: typical === undefined ? undefined : typical.rps >= 3000 });
  out.push({ name: 'typical pod, c=16: p99', target: '<= 10 ms', measured: `${fmt(typical?.p99_ms, 2)} ms`, met: typical === undefined ? undefined : typical.p99_ms <= 10 });
  const ratio = typical !== undefined && typicalBase !== undefined ? typical.rps / typicalBase.rps : undefined;
  out.push({ name: 'typical pod, c=16: siding / baseline', target: '>= 0.50', measured: fmt(ratio, 2), met: ratio === undefined ? undefined : ratio >= 0.5 });
  // The targets name no concurrency for the large pod: one review at a time is its own
  // latency; at c=16 sixteen 64 KB reviews queue on one event loop (see BENCHMARKS.md).
  out.push({ name: 'large pod, c=1: p99', target: '<= 25 ms', measured: `${fmt(large1?.p99_ms, 2)} ms`, met: large1 === undefined ? undefined : large1.p99_ms <= 25 });
  out.push({ name: 'large pod, c=16: p99', target: '<= 25 ms', measured: `${fmt(large?.p99_ms, 2)} ms`, met: large === undefined ? undefined : large.p99_ms <= 25 });
  const ran = init !== undefined && !('skipped' in init) ? init : undefined;
  out.push({ name: 'siding init: median wall time', target: '<= 150 ms', measured: `${fmt(ran?.median_ms, 1)} ms`, met: ran === undefined ? undefined : ran.median_ms <= 150 });
  const perFamily = ran === undefined ? undefined : Math.max(ran.execs_per_family.ipv4, ran.execs_per_family.ipv6);
  out.push({
    name: 'siding init: programs per IP family',
    target: '<= 3',
    measured: ran === undefined ? 'n/a' : `IPv4 ${ran.execs_per_family.ipv4}, IPv6 ${ran.execs_per_family.ipv6}`,
    met: perFamily === undefined ? undefined : perFamily <= 3,
  });
  const wall = ran?.istio_ratio_wall ?? undefined;
  const cpu = ran?.istio_ratio_cpu ?? undefined;
  out.push({ name: 'siding init ÷ istio-iptables: wall', target: '<= 1.5', measured: fmt(wall, 2), met: wall === undefined ? undefined : wall <= 1.5 });
  out.push({ name: 'siding init ÷ istio-iptables: CPU', target: '<= 1.5', measured: fmt(cpu, 2), met: cpu === undefined ? undefined : cpu <= 1.5 });
  out.push({ name: 'siding init: peak memory', target: '<= 45 MiB', measured: `${fmt(ran?.peak_mib, 1)} MiB`, met: ran === undefined ? undefined : ran.peak_mib <= 45 });
  out.push({
    name: 'webhook RSS after c=64',
    target: '< 120 MB',
    measured: `${fmt(http?.memory.loaded_mb, 1)} MB`,
    met: http === undefined ? undefined : http.memory.loaded_mb < 120,
  });
  return out;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function httpTable(http: HttpResults, durationS: number): string {
  const rows: string[][] = [];
  for (const size of SIZES) {
    for (const c of CONCURRENCY) {
      const w = http.webhook[size][`c${c}`];
      const b = http.baseline[size][`c${c}`];
      if (w === undefined || b === undefined) continue;
      const failures = w.non2xx + w.errors + w.timeouts;
      rows.push([
        `${size} (${(http.bodyBytes[size] / 1024).toFixed(1)} KB)`,
        String(c),
        fmt(w.rps),
        fmt(w.p50_ms, 2),
        fmt(w.p99_ms, 2),
        fmt(b.rps),
        fmt(b.p50_ms, 2),
        fmt(b.p99_ms, 2),
        fmt(w.rps / b.rps, 2),
        fmt(w.server_cpu_us),
        fmt(b.server_cpu_us),
        String(failures),
      ]);
    }
  }
  return (
    `Webhook over HTTPS, keep-alive, ${durationS} s per run (autocannon in its own process)\n` +
    table(['review', 'conns', 'siding rps', 'p50 ms', 'p99 ms', 'baseline rps', 'p50 ms', 'p99 ms', 'siding/base', 'siding cpu µs', 'base cpu µs', 'failed'], rows) +
    '\n(cpu µs: the server process\'s CPU time per answered review)'
  );
}

export function engineTable(engine: Record<Size, EngineResult>): string {
  return (
    'Injection engine alone (tinybench, in process)\n' +
    table(
      ['pod', 'pods/s (median)', 'median µs', 'p99 µs'],
      SIZES.map((s) => [s, fmt(engine[s].pods_per_s), fmt(engine[s].median_us, 1), fmt(engine[s].p99_us, 1)]),
    )
  );
}

export function initTable(init: InitOutcome): string {
  if ('skipped' in init) return `siding init: SKIPPED (${init.skipped})`;
  const r = init.rules;
  const row = (what: string, st: { median_ms: number; min_ms: number; max_ms: number; cpu_median_ms: number; peak_mib: number }): string[] => [
    what,
    fmt(st.median_ms, 1),
    fmt(st.min_ms, 1),
    fmt(st.max_ms, 1),
    fmt(st.cpu_median_ms, 1),
    fmt(st.peak_mib, 1),
  ];
  return [
    `siding init in a fresh network namespace with a pod address, Istio's default flags, ${init.runs} runs each, interleaved (backend ${init.backend})`,
    table(
      ['what', 'median ms', 'min ms', 'max ms', 'CPU ms (median)', 'peak MiB (max)'],
      [
        row('siding init (node dist/siding.cjs init, inside the namespace)', init),
        ...(init.istio === null ? [] : [row(`istio-iptables ${init.istio.version}, the same flags`, init.istio)]),
        row('node -e 0 (floor of any Node.js program)', init.node_floor),
        [`iptables-${init.backend}-restore of siding's payload`, fmt(init.restore_median_ms, 1), fmt(init.restore_min_ms, 1), fmt(init.restore_max_ms, 1), '', ''],
      ],
    ),
    init.istio === null
      ? 'siding ÷ istio-iptables: not measured (istio-iptables is not built)'
      : `siding ÷ istio-iptables: wall ${fmt(init.istio_ratio_wall ?? undefined, 2)}, CPU ${fmt(init.istio_ratio_cpu ?? undefined, 2)}`,
    `siding ÷ restore: ${fmt(init.ratio, 1)}x`,
    init.execve === undefined
      ? 'execve calls (strace): strace not installed'
      : `execve calls in the process tree of one run (strace -f): siding ${init.execve} (${(init.execve_programs ?? []).join(', ')})` +
        (init.istio?.execve === undefined ? '' : `; istio-iptables ${init.istio.execve} (${(init.istio.execve_programs ?? []).join(', ')})`),
    `programs siding init runs with --netns (CNI mode): ${init.execs} (IPv4 ${init.execs_per_family.ipv4}, IPv6 ${init.execs_per_family.ipv6}): ${init.programs.join(', ')}`,
    `rules for ${r.excluded_ports} excluded ports + ${r.excluded_cidrs} excluded CIDRs: ${r.rules} rules, ${(r.payload_bytes / 1024).toFixed(0)} KB payload;` +
      ` parse ${fmt(r.parse_median_ms, 2)} ms, buildRules ${fmt(r.build_median_ms, 2)} ms, render ${fmt(r.render_median_ms, 2)} ms (medians)`,
  ].join('\n');
}

export function memoryLine(http: HttpResults): string {
  const after = SIZES.map((s) => `${s} ${fmt(http.memory.after_c64_mb[s], 1)}`).join(', ');
  return (
    `Webhook resident memory (VmRSS): idle ${fmt(http.memory.idle_mb, 1)} MB; after c=64: ${after} MB; peak (VmHWM) ${fmt(http.memory.peak_mb, 1)} MB; ` +
    `${http.memory.settle_s} s after the load ${fmt(http.memory.settled_mb, 1)} MB`
  );
}

export function targetsTable(ts: Target[]): string {
  return (
    'Targets\n' +
    table(
      ['target', 'wanted', 'measured', ''],
      ts.map((t) => [t.name, t.target, t.measured, t.met === undefined ? 'not run' : t.met ? 'met' : 'MISSED']),
    )
  );
}

export function hostileTable(h: HostileResults): string {
  return (
    `Hostile values (${h.reviews} reviews at the size limit, median of ${h.rounds} each), over HTTPS, one at a time\n` +
    table(
      ['review', 'ms', 'body KB'],
      [
        ['typical review alone (p50 / p99)', `${fmt(h.typical.p50_ms, 2)} / ${fmt(h.typical.p99_ms, 2)}`, ''],
        ['hostile reviews (p50 / p99)', `${fmt(h.hostile.p50_ms, 2)} / ${fmt(h.hostile.p99_ms, 2)}`, ''],
        [`slowest hostile: ${h.slowest.name}`, fmt(h.slowest.ms, 2), fmt(h.slowest.body_bytes / 1024)],
        [`slowest with one key: ${h.slowest_one_key.name}`, fmt(h.slowest_one_key.ms, 2), fmt(h.slowest_one_key.body_bytes / 1024)],
        [`largest pod: ${h.largest_pod.name}`, fmt(h.largest_pod.ms, 2), fmt(h.largest_pod.body_bytes / 1024)],
        ['typical review sent behind a hostile one (p50 / p99 / max)', `${fmt(h.behind_hostile.p50_ms, 2)} / ${fmt(h.behind_hostile.p99_ms, 2)} / ${fmt(h.behind_hostile.max_ms, 2)}`, ''],
        [`${h.unknown_keys.keys} near-miss unknown keys (answer ${fmt(h.unknown_keys.answer_bytes / 1024, 1)} KB)`, fmt(h.unknown_keys.ms, 2), fmt(h.unknown_keys.body_bytes / 1024)],
      ],
    )
  );
}
