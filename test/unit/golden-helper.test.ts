import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoldenSet, normaliseVersion } from '../helpers/golden.js';

/** A golden root in a temporary folder with area "a" holding `files`. */
function root(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'siding golden '));
  mkdirSync(join(dir, 'a'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'a', name), text);
  return dir;
}

describe('the golden file helper', () => {
  it('deletes nothing under UPDATE_GOLDEN=1 when the run checked only some declared cases', () => {
    const dir = root({ 'one.txt': '1', 'two.txt': '2', 'old.txt': 'x' });
    const notices: string[] = [];
    const set = new GoldenSet('a', ['one.txt', 'two.txt'], { root: dir, update: true, notice: (t) => notices.push(t) });
    set.check('one.txt', '1');
    set.assertNoStale();
    assert.ok(existsSync(join(dir, 'a', 'old.txt')), 'a partial run kept the stale file');
    assert.ok(existsSync(join(dir, 'a', 'two.txt')), 'a partial run kept the unchecked file');
    assert.match(notices.join('\n'), /kept stale golden files .*old\.txt/);
    rmSync(dir, { recursive: true });
  });

  it('deletes stale files under UPDATE_GOLDEN=1 only when every declared case was checked', () => {
    const dir = root({ 'one.txt': '1', 'old.txt': 'x' });
    const set = new GoldenSet('a', ['one.txt', 'two.txt'], { root: dir, update: true, notice: () => undefined });
    set.check('one.txt', '1');
    set.check('two.txt', '2');
    set.assertNoStale();
    assert.equal(existsSync(join(dir, 'a', 'old.txt')), false);
    assert.equal(readFileSync(join(dir, 'a', 'two.txt'), 'utf8'), '2');
    rmSync(dir, { recursive: true });
  });

  it('fails for a stale file and for a missing declared file even when no case ran', () => {
    const dir = root({ 'one.txt': '1', 'old.txt': 'x' });
    assert.throws(() => new GoldenSet('a', ['one.txt'], { root: dir, update: false }).assertNoStale(), /stale golden files.*\n[\s\S]*old\.txt/);
    rmSync(join(dir, 'a', 'old.txt'));
    assert.throws(() => new GoldenSet('a', ['one.txt', 'two.txt'], { root: dir, update: false }).assertNoStale(), /missing[\s\S]*two\.txt/);
    new GoldenSet('a', ['one.txt'], { root: dir, update: false }).assertNoStale();
    rmSync(dir, { recursive: true });
  });

  it('fails for a golden file a test checks without declaring it', () => {
    const dir = root({ 'one.txt': '1' });
    assert.throws(() => new GoldenSet('a', ['one.txt'], { root: dir, update: false }).check('other.txt', '1'), /not declared/);
    rmSync(dir, { recursive: true });
  });

  it('shows a line diff when the output differs', () => {
    const dir = root({ 'one.txt': 'a\nb\nc\n' });
    assert.throws(() => new GoldenSet('a', ['one.txt'], { root: dir, update: false }).check('one.txt', 'a\nB\nc\n'), /\+ B\n- b/);
    rmSync(dir, { recursive: true });
  });

  it('writes the siding version as {{VERSION}}, so a release leaves golden files alone', () => {
    const text = [
      'image: ghcr.io/siding-mesh/siding:7.8.9',
      `status: '{"version":"7.8.9","layout":"native"}'`,
      '"status": "{\\"version\\":\\"7.8.9\\",\\"layout\\":\\"classic\\"}"',
      'input: \'{"version": "7.8.9"}\'',
      'cidr: 17.8.9.0/24',
      'other: ghcr.io/siding-mesh/siding:7.8.90',
    ].join('\n');
    assert.equal(
      normaliseVersion(text, '7.8.9'),
      [
        'image: ghcr.io/siding-mesh/siding:{{VERSION}}',
        `status: '{"version":"{{VERSION}}","layout":"native"}'`,
        '"status": "{\\"version\\":\\"{{VERSION}}\\",\\"layout\\":\\"classic\\"}"',
        'input: \'{"version": "7.8.9"}\'',
        'cidr: 17.8.9.0/24',
        'other: ghcr.io/siding-mesh/siding:7.8.90',
      ].join('\n'),
    );
    const dir = root({ 'one.txt': 'image: ghcr.io/siding-mesh/siding:{{VERSION}}\n' });
    new GoldenSet('a', ['one.txt'], { root: dir, update: false, version: '2.0.0' }).check('one.txt', 'image: ghcr.io/siding-mesh/siding:2.0.0\n');
    rmSync(dir, { recursive: true });
  });
});
