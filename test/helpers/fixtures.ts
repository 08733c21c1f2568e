/**
 * Fixtures are files under test/fixtures/<area>/, parsed afresh on every call so no test
 * can change what another one sees.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export function fixturePath(area: string, name: string): string {
  return fileURLToPath(new URL(`../fixtures/${area}/${name}`, import.meta.url));
}

export function fixtureText(area: string, name: string): string {
  return readFileSync(fixturePath(area, name), 'utf8');
}

/** A fresh copy of a YAML or JSON fixture (one document). */
export function loadFixture<T = unknown>(area: string, name: string): T {
  return parse(fixtureText(area, name)) as T;
}
