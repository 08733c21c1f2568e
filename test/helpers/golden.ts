/**
 * Golden files under test/golden/<area>/. `UPDATE_GOLDEN=1` rewrites them; a mismatch
 * fails with a line diff; `assertNoStaleGolden` fails for a file no test produced (with
 * UPDATE_GOLDEN=1 it deletes it instead).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GOLDEN_ROOT = fileURLToPath(new URL('../golden/', import.meta.url));
const updating = (): boolean => process.env.UPDATE_GOLDEN === '1';

/** Remembers which golden files a test run produced, per area. */
export class GoldenSet {
  private readonly used = new Set<string>();
  constructor(readonly area: string) {}

  /** Compares `actual` with test/golden/<area>/<name> (or rewrites it under UPDATE_GOLDEN=1). */
  check(name: string, actual: string): void {
    this.used.add(name);
    const dir = join(GOLDEN_ROOT, this.area);
    const file = join(dir, name);
    if (updating()) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, actual);
      return;
    }
    if (!existsSync(file)) assert.fail(`golden file test/golden/${this.area}/${name} is missing; run with UPDATE_GOLDEN=1 to create it`);
    const expected = readFileSync(file, 'utf8');
    if (expected !== actual) {
      assert.fail(`output differs from test/golden/${this.area}/${name} (UPDATE_GOLDEN=1 rewrites it):\n${lineDiff(expected, actual)}`);
    }
  }

  /** Fails for golden files in the area that no check() produced. */
  assertNoStale(): void {
    const dir = join(GOLDEN_ROOT, this.area);
    if (!existsSync(dir)) return;
    const stale = readdirSync(dir).filter((f) => !this.used.has(f));
    if (updating()) {
      for (const f of stale) rmSync(join(dir, f));
      return;
    }
    assert.deepEqual(stale, [], `stale golden files in test/golden/${this.area} (no test produces them; UPDATE_GOLDEN=1 deletes them)`);
  }
}

/** A unified-style line diff (LCS); enough for golden files of a few hundred lines. */
export function lineDiff(expected: string, actual: string, context = 3): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the LCS of a[i..] and b[j..]
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] ?? [];
    const next = lcs[i + 1] ?? [];
    for (let j = m - 1; j >= 0; j--) {
      row[j] = a[i] === b[j] ? (next[j + 1] ?? 0) + 1 : Math.max(next[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const ops: { tag: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ tag: ' ', line: a[i] ?? '' });
      i++;
      j++;
    } else if (j < m && (i === n || (lcs[i]?.[j + 1] ?? 0) >= (lcs[i + 1]?.[j] ?? 0))) {
      ops.push({ tag: '+', line: b[j] ?? '' });
      j++;
    } else {
      ops.push({ tag: '-', line: a[i] ?? '' });
      i++;
    }
  }
  const show = ops.map((op, k) => op.tag !== ' ' || ops.slice(Math.max(0, k - context), k + context + 1).some((o) => o.tag !== ' '));
  const out: string[] = [];
  let skipped = false;
  ops.forEach((op, k) => {
    if (show[k]) {
      out.push(`${op.tag} ${op.line}`);
      skipped = false;
    } else if (!skipped) {
      out.push('  ...');
      skipped = true;
    }
  });
  return out.join('\n');
}
