import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { largeBodyCollector } from '../../src/admission/gc.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('largeBodyCollector', () => {
  it('schedules one collection per interval however many large bodies end in it', async () => {
    let t = 1000;
    let collections = 0;
    const done = largeBodyCollector(100, () => t, () => void (collections += 1));
    done();
    done();
    t += 99;
    done();
    await tick();
    assert.equal(collections, 1);
    t += 1;
    done();
    await tick();
    assert.equal(collections, 2);
  });

  it('collects after the caller returns, not during the request that ended', () => {
    let collections = 0;
    largeBodyCollector(100, () => 0, () => void (collections += 1))();
    assert.equal(collections, 0);
  });

  it('runs V8’s own minor collection without an error', async () => {
    largeBodyCollector()();
    await tick();
  });
});
