import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { step, type LifeEvent } from '../../src/proxy/lifecycle.js';

const drain = { drainMs: 5000, exitWhenIdle: false };
const idleExit = { drainMs: 5000, exitWhenIdle: true };
const kinds = (s: { actions: readonly { kind: string }[] }): string[] => s.actions.map((a) => a.kind);
const ev = (kind: LifeEvent['kind']): LifeEvent => ({ kind });

describe('the proxy lifecycle', () => {
  it('becomes ready once every listener is bound, and only then', () => {
    assert.deepEqual(step('starting', ev('listening'), 0, drain), { phase: 'ready', actions: [] });
    assert.equal(step('starting', ev('idle'), 0, drain).phase, 'starting');
    assert.equal(step('starting', ev('deadline'), 0, drain).phase, 'starting');
  });

  it('on SIGTERM turns not ready, closes inbound and arms the drain timer, keeping outbound', () => {
    const s = step('ready', ev('terminate'), 3, drain);
    assert.equal(s.phase, 'draining');
    assert.deepEqual(s.actions, [{ kind: 'not-ready' }, { kind: 'stop-inbound' }, { kind: 'start-timer', ms: 5000 }]);
  });

  it('waits out the drain even when idle, unless told to exit when idle', () => {
    assert.deepEqual(step('draining', ev('idle'), 0, drain), { phase: 'draining', actions: [] });
    assert.deepEqual(step('draining', ev('idle'), 0, idleExit), { phase: 'stopped', actions: [{ kind: 'stop' }] });
  });

  it('with exitWhenIdle and nothing open, stops at once on SIGTERM', () => {
    assert.deepEqual(kinds(step('ready', ev('terminate'), 0, idleExit)), ['not-ready', 'stop-inbound', 'stop']);
    assert.deepEqual(kinds(step('ready', ev('terminate'), 2, idleExit)), ['not-ready', 'stop-inbound', 'start-timer']);
  });

  it('with no drain time, resets what is open and stops at once', () => {
    assert.deepEqual(kinds(step('ready', ev('terminate'), 2, { drainMs: 0, exitWhenIdle: false })), ['not-ready', 'stop-inbound', 'close-connections', 'stop']);
    assert.deepEqual(kinds(step('ready', ev('terminate'), 0, { drainMs: 0, exitWhenIdle: false })), ['not-ready', 'stop-inbound', 'stop']);
  });

  it('when the drain ends, resets what is still open and stops', () => {
    assert.deepEqual(step('draining', ev('deadline'), 4, drain), { phase: 'stopped', actions: [{ kind: 'close-connections' }, { kind: 'stop' }] });
    assert.deepEqual(step('draining', ev('deadline'), 0, drain), { phase: 'stopped', actions: [{ kind: 'stop' }] });
  });

  it('stops at once on a second signal', () => {
    assert.deepEqual(kinds(step('draining', ev('terminate'), 1, drain)), ['close-connections', 'stop']);
  });

  it('does nothing more once stopped, whatever happens', () => {
    for (const kind of ['listening', 'terminate', 'idle', 'deadline'] as const) {
      assert.deepEqual(step('stopped', ev(kind), 1, drain), { phase: 'stopped', actions: [] });
    }
  });

  it('a SIGTERM before the listeners are bound drains the same way', () => {
    assert.equal(step('starting', ev('terminate'), 0, drain).phase, 'draining');
    assert.equal(step('draining', ev('listening'), 0, drain).phase, 'draining');
  });
});
