import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeRedirectMode } from '../../src/cni/status.js';

describe("what siding check says about the redirect mode", () => {
  it('names init mode and its privileges', () => {
    assert.match(describeRedirectMode('init', 'built-in config', { kind: 'unchecked' }), /^redirect mode init \(built-in config\): siding-init .*NET_ADMIN and NET_RAW$/);
  });

  it('in cni mode reports the node agent: ready everywhere, partly ready, missing, unknown, or not checked', () => {
    const d = (agent: Parameters<typeof describeRedirectMode>[2]) => describeRedirectMode('cni', 'ConfigMap siding-system/siding-config', agent);
    assert.match(d({ kind: 'status', namespace: 'siding-system', desired: 3, ready: 3 }), /node agent ready on all 3 nodes \(DaemonSet siding-system\/siding-cni\)$/);
    assert.match(d({ kind: 'status', namespace: 'siding-system', desired: 3, ready: 2 }), /node agent NOT READY: ready on 2 of 3 nodes/);
    assert.match(d({ kind: 'status', namespace: 'siding-system', desired: 0, ready: 0 }), /NOT READY: ready on 0 of 0 nodes/);
    assert.match(d({ kind: 'missing', namespace: 'siding-system' }), /NOT INSTALLED: DaemonSet siding-system\/siding-cni not found/);
    assert.match(d({ kind: 'error', message: 'forbidden' }), /node agent unknown: forbidden$/);
    assert.match(d({ kind: 'unchecked' }), /not checked \(pass --live\)$/);
  });
});
