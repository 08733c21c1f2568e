import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const source = readFileSync(new URL('../../src/errors/index.ts', import.meta.url), 'utf8');
const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('every error code declared in src/errors is documented in docs/errors.md', () => {
  const union = /export type SidingErrorCode =([^;]+);/.exec(source);
  assert.ok(union, 'SidingErrorCode union not found');
  const codes = [...union[1]!.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]!);
  assert.ok(codes.length > 0);
  for (const code of codes) assert.match(docs, new RegExp('`' + code + '`'), `${code} is not documented`);
});

test('docs/errors.md documents no code that the source does not declare', () => {
  const documented = [...docs.matchAll(/`(ERR_[A-Z_]+)`/g)].map((m) => m[1]!);
  for (const code of documented) assert.ok(source.includes(`'${code}'`), `${code} is documented but not declared`);
});
