import assert from 'node:assert/strict';
import type { Parsed } from '../../src/grammar/index.js';

/** The value of a parse that must succeed. */
export function okValue<T>(r: Parsed<T>): T {
  if (!r.ok) assert.fail(`expected ok, got: ${r.reason}`);
  return r.value;
}

/** The reason of a parse that must fail. */
export function reason<T>(r: Parsed<T>): string {
  if (r.ok) assert.fail(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r.reason;
}
