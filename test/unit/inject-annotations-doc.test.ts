import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderAnnotationsDoc } from '../../src/inject/annotations-doc.js';
import { ANNOTATIONS } from '../../src/inject/index.js';
import { lineDiff } from '../helpers/golden.js';

test('docs/annotations.md is up to date with the annotation table', () => {
  const committed = readFileSync(new URL('../../docs/annotations.md', import.meta.url), 'utf8');
  const rendered = renderAnnotationsDoc();
  assert.ok(
    committed === rendered,
    `docs/annotations.md is out of date; run: node --import tsx scripts/gen-annotations-doc.ts\n${lineDiff(committed, rendered)}`,
  );
});

test('every annotation in the table has a section, its aliases and an example that its own parser accepts', () => {
  const doc = renderAnnotationsDoc();
  for (const spec of ANNOTATIONS) {
    assert.ok(doc.includes(`## \`${spec.key}\``), spec.key);
    for (const alias of spec.aliases) assert.ok(doc.includes(alias), alias);
    assert.equal(spec.parse(spec.example).ok, true, `example of ${spec.key} is valid`);
  }
});

test('the table covers every per-pod setting siding documents and its keys are unique', () => {
  const keys = ANNOTATIONS.map((s) => s.key);
  assert.equal(new Set(keys).size, keys.length);
  for (const k of [
    'traffic.siding.io/includeInboundPorts',
    'traffic.siding.io/excludeInboundPorts',
    'traffic.siding.io/includeOutboundPorts',
    'traffic.siding.io/excludeOutboundPorts',
    'traffic.siding.io/includeOutboundIPRanges',
    'traffic.siding.io/excludeOutboundIPRanges',
    'traffic.siding.io/excludeInterfaces',
    'siding.io/proxyImage',
    'siding.io/proxyCPU',
    'siding.io/proxyMemory',
    'siding.io/proxyCPULimit',
    'siding.io/proxyMemoryLimit',
    'siding.io/nativeSidecar',
    'siding.io/holdApplicationUntilProxyStarts',
    'siding.io/interceptionMode',
    'siding.io/inject',
  ]) {
    assert.ok(keys.includes(k), k);
  }
});
