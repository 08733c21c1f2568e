import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createProxyMetrics, OUTCOMES, type ByteTotals } from '../../src/proxy/metrics.js';

const bytes: ByteTotals = { outbound: { upstream: 10, downstream: 2000 }, inbound: { upstream: 30, downstream: 40 } };

describe('proxy metrics', () => {
  it('exports every series from the start, at zero, under the documented names', async () => {
    const m = createProxyMetrics({ active: () => 0, bytes: () => ({ outbound: { upstream: 0, downstream: 0 }, inbound: { upstream: 0, downstream: 0 } }) });
    const text = await m.registry.metrics();
    for (const direction of ['outbound', 'inbound']) {
      for (const outcome of OUTCOMES) assert.ok(text.includes(`siding_proxy_connections_total{direction="${direction}",outcome="${outcome}"} 0`), `${direction}/${outcome}`);
      assert.ok(text.includes(`siding_proxy_active_connections{direction="${direction}"} 0`));
      assert.ok(text.includes(`siding_proxy_connect_seconds_count{direction="${direction}"} 0`));
      for (const way of ['upstream', 'downstream']) assert.ok(text.includes(`siding_proxy_bytes_total{direction="${direction}",way="${way}"} 0`));
    }
    assert.ok(text.includes('siding_proxy_dns_queries_total{protocol="udp",outcome="ok"} 0'));
  });

  it('counts ended connections by direction and outcome, and connect times', async () => {
    const m = createProxyMetrics({ active: () => 0, bytes: () => bytes });
    m.ended('outbound', 'ok');
    m.ended('outbound', 'ok');
    m.ended('inbound', 'loop');
    m.connected('outbound', 0.0003);
    m.dns('tcp', 'ok');
    const text = await m.registry.metrics();
    assert.ok(text.includes('siding_proxy_connections_total{direction="outbound",outcome="ok"} 2'));
    assert.ok(text.includes('siding_proxy_connections_total{direction="inbound",outcome="loop"} 1'));
    assert.ok(text.includes('siding_proxy_connections_total{direction="inbound",outcome="ok"} 0'));
    assert.ok(text.includes('siding_proxy_connect_seconds_bucket{le="0.0005",direction="outbound"} 1'));
    assert.ok(text.includes('siding_proxy_connect_seconds_bucket{le="0.00025",direction="outbound"} 0'));
    assert.ok(text.includes('siding_proxy_dns_queries_total{protocol="tcp",outcome="ok"} 1'));
  });

  it('reads active connections and bytes from their sources when scraped, every time anew', async () => {
    let active = 3;
    let current = bytes;
    const m = createProxyMetrics({ active: (d) => (d === 'outbound' ? active : 1), bytes: () => current });
    let text = await m.registry.metrics();
    assert.ok(text.includes('siding_proxy_active_connections{direction="outbound"} 3'));
    assert.ok(text.includes('siding_proxy_active_connections{direction="inbound"} 1'));
    assert.ok(text.includes('siding_proxy_bytes_total{direction="outbound",way="downstream"} 2000'));
    active = 0;
    current = { ...bytes, outbound: { upstream: 10, downstream: 5000 } };
    text = await m.registry.metrics();
    assert.ok(text.includes('siding_proxy_active_connections{direction="outbound"} 0'));
    assert.ok(text.includes('siding_proxy_bytes_total{direction="outbound",way="downstream"} 5000'));
  });
});
