/**
 * Golden files under test/golden/<area>/, one helper for every area.
 *
 * - A test file declares up front every golden file its cases produce (`new GoldenSet(area,
 *   names)`); the set of expected files is that declaration, never "what this run happened
 *   to produce", so a run filtered with --test-name-pattern judges staleness the same way
 *   as a full run.
 * - `check(name, actual)` compares with the file and fails with a line diff;
 *   `UPDATE_GOLDEN=1` rewrites it instead. A name that was not declared fails.
 * - `assertNoStale()` fails for a file in the area that no declared case produces and for a
 *   declared file that is missing. Under `UPDATE_GOLDEN=1` it deletes stale files, but only
 *   when this run checked every declared name: a partial run deletes nothing.
 * - The siding version is written as `{{VERSION}}` in golden files, so a release does not
 *   rewrite them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/version.js';

const GOLDEN_ROOT = fileURLToPath(new URL('../golden/', import.meta.url));

export interface GoldenOptions {
  /** Folder holding the areas (default test/golden/). */
  root?: string;
  /** Rewrite instead of compare (default: UPDATE_GOLDEN=1). */
  update?: boolean;
  /** Where notices go (default: stderr). */
  notice?: (text: string) => void;
  /** The version to normalise (default: siding's). */
  version?: string;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replaces the siding version where siding writes it: the init image tag and the
 * `"version"` member of the status record (also inside a JSON string, with escaped quotes).
 * A version a fixture spells differently (as input) is left alone.
 */
export function normaliseVersion(text: string, version: string = VERSION): string {
  const v = escapeRegExp(version);
  return text
    .replace(new RegExp(`(ghcr\\.io/siding-mesh/siding:)${v}(?![0-9A-Za-z.+-])`, 'g'), '$1{{VERSION}}')
    .replace(new RegExp(`(\\\\?"version\\\\?":\\\\?")${v}(\\\\?")`, 'g'), '$1{{VERSION}}$2');
}

export class GoldenSet {
  private readonly declared: ReadonlySet<string>;
  private readonly checked = new Set<string>();
  private readonly dir: string;
  private readonly update: boolean;
  private readonly notice: (text: string) => void;
  private readonly version: string;

  constructor(
    readonly area: string,
    declared: Iterable<string>,
    options: GoldenOptions = {},
  ) {
    this.declared = new Set(declared);
    this.dir = join(options.root ?? GOLDEN_ROOT, area);
    this.update = options.update ?? process.env.UPDATE_GOLDEN === '1';
    this.notice = options.notice ?? ((t) => void process.stderr.write(`${t}\n`));
    this.version = options.version ?? VERSION;
  }

  /** Compares `actual` with test/golden/<area>/<name> (or rewrites it under UPDATE_GOLDEN=1). */
  check(name: string, actual: string): void {
    assert.ok(this.declared.has(name), `golden file ${name} is not declared in the GoldenSet of test/golden/${this.area}`);
    this.checked.add(name);
    const text = normaliseVersion(actual, this.version);
    const file = join(this.dir, name);
    if (this.update) {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(file, text);
      return;
    }
    if (!existsSync(file)) assert.fail(`golden file test/golden/${this.area}/${name} is missing; run with UPDATE_GOLDEN=1 to create it`);
    const expected = readFileSync(file, 'utf8');
    if (expected !== text) {
      assert.fail(`output differs from test/golden/${this.area}/${name} (UPDATE_GOLDEN=1 rewrites it):\n${lineDiff(expected, text)}`);
    }
  }

  /** Files in the area that no declared case produces. */
  stale(): string[] {
    return existsSync(this.dir) ? readdirSync(this.dir).filter((f) => !this.declared.has(f)).sort() : [];
  }

  /** Declared files that are not in the area. */
  missing(): string[] {
    return [...this.declared].filter((f) => !existsSync(join(this.dir, f))).sort();
  }

  /** Whether this run checked every declared golden file (an unfiltered run). */
  complete(): boolean {
    return [...this.declared].every((f) => this.checked.has(f));
  }

  /**
   * Fails for stale or missing files. Under UPDATE_GOLDEN=1, deletes stale files when this
   * run was complete and only reports them otherwise.
   */
  assertNoStale(): void {
    const stale = this.stale();
    if (this.update) {
      if (stale.length === 0) return;
      if (this.complete()) {
        for (const f of stale) rmSync(join(this.dir, f));
        this.notice(`deleted stale golden files in test/golden/${this.area}: ${stale.join(', ')}`);
      } else {
        this.notice(
          `kept stale golden files in test/golden/${this.area} (${stale.join(', ')}): this run did not check every declared case, so it deletes nothing`,
        );
      }
      return;
    }
    assert.deepEqual(stale, [], `stale golden files in test/golden/${this.area}: no declared case produces them (an unfiltered UPDATE_GOLDEN=1 run deletes them)`);
    assert.deepEqual(this.missing(), [], `declared golden files missing from test/golden/${this.area} (UPDATE_GOLDEN=1 creates them)`);
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
