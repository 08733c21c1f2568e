/**
 * Race repair: which pods the agent deletes (a table), and that it acts once per pod, only
 * while ready, with an event and a log line, and tries again after a failed delete.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Repairer, repairDecision } from '../../src/cni/repair.js';
import type { PodApi, PodEvent, PodView } from '../../src/kube/pods.js';
import { podView } from '../../src/kube/pods.js';
import { KubeError } from '../../src/errors/index.js';

const CNI_RECORD = JSON.stringify({ version: '0.1.0', layout: 'native', initContainers: ['siding-validation', 'siding-proxy'], containers: [], volumes: [], annotations: [], proxyImage: 'x', cniRedirect: ['-p', '15001'] });

function pod(over: { exit?: number; node?: string; annotations?: Record<string, string>; owner?: boolean; deleting?: boolean; uid?: string; last?: boolean } = {}): PodView {
  const terminated = { exitCode: over.exit ?? 126, reason: 'Error' };
  return podView({
    metadata: {
      name: 'web-1',
      namespace: 'app',
      uid: over.uid ?? 'uid-1',
      annotations: over.annotations ?? { 'siding.io/status': CNI_RECORD },
      ...(over.owner === false ? {} : { ownerReferences: [{ kind: 'ReplicaSet', name: 'web-5d8', controller: true }] }),
      ...(over.deleting === true ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: over.node ?? 'node-a' },
    status: {
      initContainerStatuses: [
        over.last === true
          ? { name: 'siding-validation', state: {}, lastState: { terminated } }
          : { name: 'siding-validation', state: { terminated } },
      ],
    },
  });
}

const ctx = (programmed: string[] = []) => ({ nodeName: 'node-a', programmed: (uid: string) => programmed.includes(uid) });

describe('which pods repair deletes', () => {
  const cases: [string, PodView, string[], 'none' | 'delete' | 'report'][] = [
    ['a controller-owned pod whose siding-validation exited 126', pod(), [], 'delete'],
    ['the same, seen through lastState while the container waits to restart', pod({ last: true }), [], 'delete'],
    ['a pod on another node', pod({ node: 'node-b' }), [], 'none'],
    ['a pod whose validation exited with another code', pod({ exit: 1 }), [], 'none'],
    ['a pod injected with siding-init', pod({ annotations: { 'siding.io/status': JSON.stringify({ layout: 'native' }) } }), [], 'none'],
    ['a pod siding did not inject', pod({ annotations: {} }), [], 'none'],
    ['a pod already being deleted', pod({ deleting: true }), [], 'none'],
    ['a pod no controller would recreate (reported, kept)', pod({ owner: false }), [], 'report'],
    ['a pod whose redirect this agent programmed (reported, kept: a new one would loop)', pod(), ['uid-1'], 'report'],
  ];
  for (const [title, p, programmed, kind] of cases) {
    it(`${kind === 'delete' ? 'deletes' : kind === 'report' ? 'reports' : 'ignores'} ${title}`, () => {
      assert.equal(repairDecision(p, ctx(programmed)).kind, kind);
    });
  }
});

function fakeApi(failDeletes = 0) {
  const deleted: string[] = [];
  const events: PodEvent[] = [];
  let failures = failDeletes;
  const api: Pick<PodApi, 'deletePod' | 'createPodEvent'> = {
    deletePod: (ns, name, uid) => {
      if (failures-- > 0) return Promise.reject(new KubeError('delete pod: connection refused'));
      deleted.push(`${ns}/${name}/${uid}`);
      return Promise.resolve();
    },
    createPodEvent: (_p, e) => {
      events.push(e);
      return Promise.resolve();
    },
  };
  return { api, deleted, events };
}

const settle = () => new Promise((r) => setImmediate(r));
const log = () => {
  const lines: string[] = [];
  return { lines, info: (_o: object, m: string) => void lines.push(m), warn: (_o: object, m: string) => void lines.push(m), error: (_o: object, m: string) => void lines.push(m) };
};

describe('Repairer', () => {
  it('deletes a pod once, by UID, with a Warning event and a log line', async () => {
    const { api, deleted, events } = fakeApi();
    const l = log();
    const r = new Repairer({ api, ctx: ctx(), log: l, active: () => true });
    r.consider(pod());
    r.consider(pod());
    await settle();
    assert.deepEqual(deleted, ['app/web-1/uid-1']);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, 'Warning');
    assert.equal(events[0]?.reason, 'SidingRedirectMissing');
    assert.match(events[0]?.message ?? '', /started before siding's CNI agent was ready on node node-a.*ReplicaSet web-5d8 creates a new one/);
    assert.deepEqual(l.lines, ['repair: deleted a pod without its traffic redirect']);
  });

  it('does nothing while the agent is not ready (its plugin not chained)', async () => {
    const { api, deleted } = fakeApi();
    let ready = false;
    const r = new Repairer({ api, ctx: ctx(), log: log(), active: () => ready });
    r.consider(pod());
    await settle();
    assert.deepEqual(deleted, []);
    ready = true;
    r.consider(pod());
    await settle();
    assert.deepEqual(deleted, ['app/web-1/uid-1']);
  });

  it('tries again on the next change after a failed delete', async () => {
    const { api, deleted } = fakeApi(1);
    const l = log();
    const r = new Repairer({ api, ctx: ctx(), log: l, active: () => true });
    r.consider(pod());
    await settle();
    assert.deepEqual(deleted, []);
    assert.deepEqual(l.lines, ['repair failed']);
    r.consider(pod());
    await settle();
    assert.deepEqual(deleted, ['app/web-1/uid-1']);
  });
});
