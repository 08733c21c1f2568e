/**
 * The proxy benchmark's table and its targets: per proxy hop at most 1 ms of added p99 at
 * c=16, at least 0.8 of the bare pipe's requests/s and throughput, 5,000 new connections/s,
 * RSS at most 50 MB idle and 100 MB with 1,000 idle connections, ready within 300 ms.
 */
import type { ProxyOutcome, ProxyResults, Scenario } from './proxy.js';
import { SCENARIOS } from './proxy.js';
import { fmt, table, type Target } from './report.js';

const LABEL: Record<Scenario, string> = {
  direct: 'direct (no redirect)',
  pipe: 'bare Node.js pipe',
  outbound: 'siding proxy, outbound only',
  both: 'siding proxy, outbound + inbound',
};

export function proxyTable(p: ProxyOutcome): string {
  if ('skipped' in p) return `siding proxy: SKIPPED (${p.skipped})`;
  const rows = SCENARIOS.map((sc) => [
    LABEL[sc],
    fmt(p.rr[sc].c1.rps),
    fmt(p.rr[sc].c1.p50_ms, 3),
    fmt(p.rr[sc].c1.p99_ms, 3),
    fmt(p.rr[sc].c16.rps),
    fmt(p.rr[sc].c16.p50_ms, 3),
    fmt(p.rr[sc].c16.p99_ms, 3),
    fmt(p.bulk[sc].mb_per_s),
    fmt(p.bulk[sc].mb_per_s / p.bulk.direct.mb_per_s, 2),
  ]);
  return [
    `siding proxy between two network namespaces (1 KiB request/response, ${p.settings.duration_s} s per run; bulk ${(p.settings.bulk_bytes / 2 ** 20).toFixed(0)} MiB one way)`,
    table(['path', 'c=1 req/s', 'p50 ms', 'p99 ms', 'c=16 req/s', 'p50 ms', 'p99 ms', 'bulk MB/s', 'bulk/direct'], rows),
    `new connections/s at c=16: direct ${fmt(p.conns.direct.conns_per_s)}, through outbound ${fmt(p.conns.outbound.conns_per_s)} (${p.conns.outbound.errors} errors)`,
    `proxy CPU per request (outbound, c=16): ${fmt(p.proxy_cpu_us_per_request, 1)} µs; getsockopt(SO_ORIGINAL_DST) through koffi: ${fmt(p.sockopt.ns_per_call)} ns per call`,
    `proxy RSS: idle ${fmt(p.rss_mb.idle, 1)} MB (anonymous ${fmt(p.rss_mb.idle_anon, 1)}), with ${p.settings.held_connections} open idle connections ` +
      `${fmt(p.rss_mb.held, 1)} MB (anonymous ${fmt(p.rss_mb.held_anon, 1)}); ` +
      `ready ${fmt(p.ready_ms.median)} ms after spawn (median of ${p.settings.ready_runs}), ${fmt(p.ready_ms.self_reported_median)} ms after its process started`,
  ].join('\n');
}

export function proxyTargets(p: ProxyOutcome | undefined): Target[] {
  const r: ProxyResults | undefined = p === undefined || 'skipped' in p ? undefined : p;
  const hop1 = r === undefined ? undefined : r.rr.outbound.c16.p99_ms - r.rr.direct.c16.p99_ms;
  const hop2 = r === undefined ? undefined : (r.rr.both.c16.p99_ms - r.rr.direct.c16.p99_ms) / 2;
  const rps = r === undefined ? undefined : r.rr.outbound.c16.rps / r.rr.pipe.c16.rps;
  const bulk = r === undefined ? undefined : r.bulk.outbound.mb_per_s / r.bulk.pipe.mb_per_s;
  return [
    { name: 'proxy: added p99 per hop, c=16 (outbound)', target: '<= 1 ms', measured: `${fmt(hop1, 3)} ms`, met: hop1 === undefined ? undefined : hop1 <= 1 },
    { name: 'proxy: added p99 per hop, c=16 (both, /2)', target: '<= 1 ms', measured: `${fmt(hop2, 3)} ms`, met: hop2 === undefined ? undefined : hop2 <= 1 },
    { name: 'proxy: req/s c=16, outbound / bare pipe', target: '>= 0.80', measured: fmt(rps, 2), met: rps === undefined ? undefined : rps >= 0.8 },
    { name: 'proxy: bulk, outbound / bare pipe', target: '>= 0.80', measured: fmt(bulk, 2), met: bulk === undefined ? undefined : bulk >= 0.8 },
    {
      name: 'proxy: new connections/s, outbound c=16',
      target: '>= 5000',
      measured: fmt(r?.conns.outbound.conns_per_s),
      met: r === undefined ? undefined : r.conns.outbound.conns_per_s >= 5000,
    },
    { name: 'proxy: RSS idle', target: '<= 50 MB', measured: `${fmt(r?.rss_mb.idle, 1)} MB`, met: r === undefined ? undefined : r.rss_mb.idle <= 50 },
    {
      name: `proxy: RSS with ${r?.settings.held_connections ?? 1000} idle connections`,
      target: '<= 100 MB',
      measured: `${fmt(r?.rss_mb.held, 1)} MB`,
      met: r === undefined ? undefined : r.rss_mb.held <= 100,
    },
    { name: 'proxy: ready after start', target: '<= 300 ms', measured: `${fmt(r?.ready_ms.median)} ms`, met: r === undefined ? undefined : r.ready_ms.median <= 300 },
  ];
}
