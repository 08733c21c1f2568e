import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTestFlags } from '../helpers/init-flags.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import { buildRules } from '../../src/redirect/rules.js';
import { payloadTables, render, renderCleanup, renderCleanupForRules, renderRestore } from '../../src/redirect/render.js';
import { hasRules, normaliseSave, parseSave, sidingState } from '../../src/redirect/save.js';

/** A fresh copy of a fixture: iptables-save output captured after `siding init --redirect-dns`
 * over someone else's rules (a FOREIGN chain, a jump to it, commented rules in nat and raw). */
function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/redirect/${name}`, import.meta.url), 'utf8');
}

const ISTIO_INIT_ARGS: RawInitFlags = { istioServiceCidr: '*', istioInboundPorts: '*', istioLocalExcludePorts: '15090,15021,15020' };
const rulesFor = (extra: RawInitFlags = {}) => buildRules(parseTestFlags({ ...ISTIO_INIT_ARGS, ...extra }).redirect, 'ipv4');

for (const backend of ['legacy', 'nft']) {
  describe(`reading ${backend} iptables-save output`, () => {
    const text = fixture(`${backend}-istio-dns-foreign.save`);

    it("finds siding's chains by prefix and its built-in rules by comment", () => {
      const state = sidingState(parseSave(text));
      assert.deepEqual([...(state.nat?.chains ?? [])].sort(), ['SIDING_DNS', 'SIDING_INBOUND', 'SIDING_IN_REDIRECT', 'SIDING_OUTPUT', 'SIDING_REDIRECT']);
      assert.deepEqual([...(state.raw?.chains ?? [])].sort(), ['SIDING_DNS_ZONE_IN', 'SIDING_DNS_ZONE_OUT']);
      assert.equal(state.nat?.jumps.length, 3);
      assert.equal(state.raw?.jumps.length, 2);
      for (const j of [...(state.nat?.jumps ?? []), ...(state.raw?.jumps ?? [])]) assert.match(j, /siding\//);
    });

    it("never counts someone else's rules or chains as siding's", () => {
      const state = sidingState(parseSave(text));
      const all = [...(state.nat?.jumps ?? []), ...(state.nat?.rules ?? []), ...(state.raw?.jumps ?? [])].join('\n');
      assert.doesNotMatch(all, /foreign|FOREIGN|5555|5557|5558/);
    });

    it('deletes the saved jumps and flushes the chains when applying over them', () => {
      const state = sidingState(parseSave(text));
      const payload = render(rulesFor({ redirectDns: true }), state);
      const deletes = payload.split('\n').filter((l) => l.startsWith('-D '));
      assert.equal(deletes.length, 5);
      for (const d of deletes) assert.ok(text.includes(`-A ${d.slice(3)}`), `deletes exactly a saved line: ${d}`);
      assert.doesNotMatch(payload, /-X /, 'no chain becomes stale when the flags are unchanged');
      assert.doesNotMatch(payload, /FOREIGN|foreign/);
    });

    it('deletes chains the new flags no longer need', () => {
      const payload = render(rulesFor(), sidingState(parseSave(text)));
      assert.match(payload, /^\*raw\n:SIDING_DNS_ZONE_IN - \[0:0\]\n:SIDING_DNS_ZONE_OUT - \[0:0\]\n-D PREROUTING .*\n-D OUTPUT .*\n-X SIDING_DNS_ZONE_IN\n-X SIDING_DNS_ZONE_OUT\nCOMMIT\n/);
      assert.match(payload, /-X SIDING_DNS\n/);
    });

    it("removes exactly siding's chains and jumps on cleanup", () => {
      const payload = renderCleanup(sidingState(parseSave(text)));
      assert.equal(payload.split('\n').filter((l) => l.startsWith('-X ')).length, 7);
      assert.equal(payload.split('\n').filter((l) => l.startsWith('-D ')).length, 5);
      assert.ok(!payload.includes('-A '));
      assert.doesNotMatch(payload, /FOREIGN|foreign/);
    });
  });
}

describe('render', () => {
  it('creates the chains before filling them and ends every table with COMMIT', () => {
    const payload = render(rulesFor({ redirectDns: true }));
    assert.deepEqual(payloadTables(payload), [
      { table: 'raw', line: 1 },
      { table: 'nat', line: 13 },
    ]);
    for (const section of payload.split(/^\*/m).slice(1)) {
      const ls = section.trim().split('\n');
      assert.equal(ls.at(-1), 'COMMIT');
      const firstRule = ls.findIndex((l) => l.startsWith('-A'));
      assert.ok(ls.slice(firstRule).every((l) => !l.startsWith(':')));
    }
  });

  it('gives the same payload for the same rules', () => {
    assert.equal(render(rulesFor()), render(rulesFor()));
  });

  it('derives a dry-run cleanup from the rule list alone', () => {
    const payload = renderCleanupForRules(rulesFor());
    assert.match(payload, /-D PREROUTING -p tcp -m comment --comment siding\/inbound-jump -j SIDING_INBOUND/);
    assert.match(payload, /-X SIDING_REDIRECT/);
  });

  it('puts a table back as it was before a failed payload', () => {
    const before = sidingState(parseSave(fixture('nft-istio-dns-foreign.save')));
    const payload = renderRestore('raw', rulesFor({ redirectDns: true }), before.raw);
    assert.match(payload, /-D OUTPUT -p udp -m comment --comment siding\/dns-zone-output-jump -j SIDING_DNS_ZONE_OUT/);
    for (const line of [...(before.raw?.rules ?? []), ...(before.raw?.jumps ?? [])]) assert.ok(payload.includes(line));
    assert.doesNotMatch(payload, /-X /);
    const fresh = renderRestore('raw', rulesFor({ redirectDns: true }), undefined);
    assert.match(fresh, /-X SIDING_DNS_ZONE_OUT/);
  });
});

describe('normaliseSave', () => {
  it('drops counters, comments and tables that hold nothing', () => {
    const text = '# Generated\n*raw\n:PREROUTING ACCEPT [5:300]\n:OUTPUT ACCEPT [1:2]\nCOMMIT\n*nat\n:OUTPUT ACCEPT [9:9]\n-A OUTPUT -j RETURN\nCOMMIT\n# Completed\n';
    assert.equal(normaliseSave(text), '*nat\n:OUTPUT ACCEPT\n-A OUTPUT -j RETURN\nCOMMIT\n');
    assert.equal(normaliseSave('*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'), '');
  });

  it('keeps a table whose policy someone changed', () => {
    assert.equal(hasRules(parseSave('*filter\n:INPUT DROP [0:0]\nCOMMIT\n')), true);
    assert.equal(normaliseSave('*filter\n:INPUT DROP [0:0]\nCOMMIT\n'), '*filter\n:INPUT DROP\nCOMMIT\n');
  });
});
