/**
 * The JSON text of a JSON Patch, byte for byte what `JSON.stringify(patch)` writes, without
 * re-encoding the values the engine has already encoded: siding's own containers and
 * volumes are built once per config and annotation values (parts.ts, `injectionParts`),
 * frozen, and their JSON is remembered here. Encoding the patch was a tenth of a webhook
 * review's CPU before (BENCHMARKS.md, item 8).
 */
import type { Operation } from 'fast-json-patch';
import { deepFreeze } from '../freeze.js';

const encoded = new WeakMap<object, string>();

/**
 * Freezes `value` all the way down and remembers its JSON. Only frozen values are
 * remembered, so the text can never go stale.
 */
export function frozenWithJson<T extends object>(value: T): T {
  deepFreeze(value);
  encoded.set(value, JSON.stringify(value));
  return value;
}

// Strings the engine writes into many patches (the status record of each settings): their
// JSON, which escapes every quote of the record. Bounded: records come from parts, which
// are bounded too, but a Map must not grow with anything else.
const MAX_STRINGS = 256;
const encodedStrings = new Map<string, string>();

/** Remembers the JSON of a string the engine will put into many patches; returns it. */
export function stringWithJson(value: string): string {
  if (encodedStrings.size >= MAX_STRINGS) encodedStrings.clear();
  encodedStrings.set(value, JSON.stringify(value));
  return value;
}


/** `JSON.stringify(patch)`, using the remembered JSON of frozen values. */
export function serializePatch(patch: readonly Operation[]): string {
  let out = '[';
  for (let i = 0; i < patch.length; i++) {
    if (i > 0) out += ',';
    out += operationJson(patch[i]);
  }
  return `${out}]`;
}

function operationJson(op: Operation | undefined): string {
  // The engine and fast-json-patch's compare build {op, path} and {op, path, value}, in
  // that order; anything else is left to JSON.stringify.
  const keys = op === undefined ? [] : Object.keys(op);
  if (op === undefined || keys[0] !== 'op' || keys[1] !== 'path' || typeof op.path !== 'string') return JSON.stringify(op) ?? 'null';
  const head = `{"op":${JSON.stringify(op.op)},"path":${JSON.stringify(op.path)}`;
  if (keys.length === 2) return `${head}}`;
  if (keys.length !== 3 || keys[2] !== 'value') return JSON.stringify(op);
  const value = valueJson((op as { value?: unknown }).value);
  return value === undefined ? JSON.stringify(op) : `${head},"value":${value}}`;
}

/** The JSON of a value, or undefined where JSON.stringify alone must decide (it would drop the member). */
function valueJson(v: unknown): string | undefined {
  if (typeof v === 'string') return encodedStrings.get(v) ?? JSON.stringify(v);
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  // toJSON is called with the member's name; JSON.stringify of the whole operation does that.
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
  const known = encoded.get(v);
  if (known !== undefined) return known;
  // A list that holds remembered entries (siding's containers added to a pod that had none).
  if (Array.isArray(v) && (v as unknown[]).some((x) => typeof x === 'object' && x !== null && encoded.has(x))) {
    const parts: string[] = [];
    for (const x of v as unknown[]) {
      if (typeof x !== 'object' || x === null || typeof (x as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(v);
      parts.push(encoded.get(x) ?? JSON.stringify(x));
    }
    return `[${parts.join(',')}]`;
  }
  return JSON.stringify(v);
}
