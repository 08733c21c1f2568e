/**
 * The result type every parser returns, and showing untrusted text in its messages.
 */

/** A typed value, or why the text is not one. Parsers never throw. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** Longest value shown in a message; the rest is summarised so one bad value cannot flood a log. */
export const MAX_DISPLAY_CHARS = 100;

/**
 * Renders untrusted text for a message inside single quotes: printable ASCII as is,
 * `\` and `'` escaped, everything else (control characters, newlines, NUL, bidi controls,
 * look-alike letters) as an escape sequence, so a value can neither forge a message line
 * nor pretend to be another value. Overlong values are cut and say so. Linear in the input.
 */
export function displayValue(value: string): string {
  let out = '';
  let shown = 0;
  let total = 0;
  for (const ch of value) {
    total += 1;
    if (shown < MAX_DISPLAY_CHARS) {
      out += escapeChar(ch);
      shown += 1;
    }
  }
  if (total > shown) out += `... (${total} characters, truncated)`;
  return out;
}

function escapeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (ch === '\\') return '\\\\';
  if (ch === "'") return "\\'";
  if (cp >= 0x20 && cp < 0x7f) return ch;
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/**
 * Levenshtein distance, for "did you mean" on misspelt keys. Keys are short: anything
 * longer than 64 characters, or whose lengths differ by more than 2, is reported as 3
 * ("not near") without computing, so one call costs at most 64 × 64 steps.
 */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** Whether every character of `text` is an ASCII digit (and there is at least one). */
export function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
