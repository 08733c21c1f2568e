/**
 * Copies and depth checks of plain JSON values: the engine's diff base (a copy with JSON's
 * semantics, or the webhook's freshly parsed body checked in place), and the copy the
 * mutators change. Every value is bounded to MAX_DEPTH levels of nesting.
 */
import type { V1Pod } from '@kubernetes/client-node';

/** A JSON object (not null, not a list). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Deeper than any Pod: the API server decodes a pod into its Go types before admission, and
// their nesting is bounded (about 20 levels). A bound independent of the call stack keeps
// every later step (diff, JSON.stringify of the patch) from overflowing it.
const MAX_DEPTH = 1000;

/**
 * A deep copy with JSON's semantics (what `JSON.parse(JSON.stringify(v))` returns: toJSON
 * honoured, undefined/function/symbol members dropped, non-finite numbers null, BigInt and
 * cycles rejected), several times faster than that round trip (BENCHMARKS.md), which was the engine's
 * largest cost when it copied every pod twice. Throws a RangeError past MAX_DEPTH levels.
 */
export function toPlain<T>(v: T): T {
  return plainCopy(v, '', 0) as T;
}

/** The pod without metadata.managedFields, not copied (it can be half of a pod's bytes). */
export function withoutManagedFields(pod: V1Pod): V1Pod {
  const metadata: unknown = (pod as { metadata?: unknown } | null)?.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata) || !Object.hasOwn(metadata, 'managedFields')) return pod;
  const rest: Record<string, unknown> = { ...metadata };
  delete rest.managedFields;
  return { ...pod, metadata: rest };
}

/**
 * `v` itself, for a value that is already plain JSON (a JSON.parse result): only the
 * nesting bound of toPlain is checked (RangeError past MAX_DEPTH levels), without a copy.
 */
export function withinDepth<T>(v: T): T {
  checkDepth(v, 0);
  return v;
}

function checkDepth(v: unknown, depth: number): void {
  if (typeof v === 'object' && v !== null) checkObjectDepth(v, depth);
}

/**
 * `v` sits at `depth`, so its members sit at depth + 1, which must not pass MAX_DEPTH (as
 * in plainCopy). Only objects and arrays are descended into: about half the calls of
 * visiting every value.
 */
function checkObjectDepth(v: object, depth: number): void {
  const deeper = depth + 1;
  if (Array.isArray(v)) {
    if (v.length > 0 && deeper > MAX_DEPTH) throw tooDeep();
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'object' && x !== null) checkObjectDepth(x, deeper);
    }
    return;
  }
  for (const k in v) {
    const x: unknown = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null) {
      if (Object.hasOwn(v, k)) {
        if (deeper > MAX_DEPTH) throw tooDeep();
        checkObjectDepth(x, deeper);
      }
    } else if (deeper > MAX_DEPTH && Object.hasOwn(v, k)) throw tooDeep();
  }
}

function tooDeep(): RangeError {
  return new RangeError(`nested deeper than ${MAX_DEPTH} levels`);
}

/**
 * The copy the mutators change, for a pod without a previous injection: only the objects
 * they change are copied (the pod, metadata, its annotations, spec); everything else is
 * shared with `base`, which is the engine's own copy and is never changed. addContainers
 * and addVolumes assign new lists, addDefaultContainer and markInjected change metadata and
 * its annotations, and the checks only read. A pod with a previous injection is copied
 * whole (clonePlain): stripInjection edits lists and containers in place.
 */
export function shallowWork(base: V1Pod): V1Pod {
  const work: V1Pod = { ...base };
  if (base.metadata !== undefined) {
    work.metadata = { ...base.metadata };
    const annotations = base.metadata.annotations;
    if (annotations !== undefined && annotations !== null) work.metadata.annotations = { ...annotations };
  }
  if (base.spec !== undefined) work.spec = { ...base.spec };
  return work;
}

/**
 * A deep copy of data that is already plain JSON (a `toPlain` result: only plain objects,
 * arrays, strings, finite numbers, booleans and null, nested at most MAX_DEPTH levels), so
 * none of plainCopy's checks are needed. The engine's second copy, the one it mutates.
 */
export function clonePlain<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = clonePlain(v[i] as unknown);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = clonePlain((v as Record<string, unknown>)[k]);
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out as T;
}

function plainCopy(v: unknown, key: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new RangeError(`nested deeper than ${MAX_DEPTH} levels`);
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: (k: string) => unknown }).toJSON(key);
  }
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : null;
    case 'bigint':
      throw new TypeError('a BigInt is not JSON');
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) out[i] = plainCopy(v[i], String(i), depth + 1) ?? null;
        return out;
      }
      if (v instanceof Boolean || v instanceof Number || v instanceof String) return plainCopy(v.valueOf(), key, depth);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = plainCopy((v as Record<string, unknown>)[k], k, depth + 1);
        if (x === undefined) continue;
        // An own "__proto__" key (JSON.parse makes one) stays data instead of setting the prototype.
        if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
        else out[k] = x;
      }
      return out;
    }
    default:
      return undefined;
  }
}
