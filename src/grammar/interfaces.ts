/**
 * Network interface names. Linux allows 1-15 bytes (IFNAMSIZ 16 with the NUL), without '/'
 * or whitespace, not '.' or '..'. siding accepts a safe subset, so a name can never be
 * mistaken for another iptables argument: ASCII letters, digits, '_', '.', '-', not starting
 * with '.' or '-'; where the syntax allows, a trailing '+' (iptables' wildcard: `veth+`).
 */
import { displayValue, fail, ok, type Parsed } from './text.js';
import { parseList } from './list.js';
import type { Syntax } from './syntax.js';

const MAX_NAME_CHARS = 15;

function isNameChar(c: string, first: boolean): boolean {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '_') return true;
  return !first && (c === '.' || c === '-');
}

export function parseInterfaceName(value: string, syntax: Syntax): Parsed<string> {
  const wildcard = syntax.interfaceWildcards && value.endsWith('+');
  const name = wildcard ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > MAX_NAME_CHARS) {
    return fail(`interface name '${displayValue(value)}' must be 1 to ${MAX_NAME_CHARS} characters${syntax.interfaceWildcards ? " (plus an optional trailing '+')" : ''}`);
  }
  for (let i = 0; i < name.length; i++) {
    if (!isNameChar(name.charAt(i), i === 0)) {
      return fail(
        `interface name '${displayValue(value)}' may only contain letters, digits, '_', '.' and '-' (not first)${syntax.interfaceWildcards ? ", and end in '+'" : ''}`,
      );
    }
  }
  return ok(value);
}

/** A comma-separated list of interface names; duplicates dropped, order kept. */
export function parseInterfaceList(value: string, syntax: Syntax): Parsed<string[]> {
  return parseList(value, syntax, (item) => parseInterfaceName(item, syntax), (name) => name);
}
