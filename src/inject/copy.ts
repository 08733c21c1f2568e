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
 * A deep copy with JSON's semantics, by the JSON round trip itself (toJSON honoured,
 * undefined/function/symbol members dropped, non-finite numbers null, BigInt and cycles
 * rejected), then the same nesting bound as a value read in place (RangeError past
 * MAX_DEPTH levels). The webhook never pays for it: it reads its parsed body in place.
 */
export function toPlain<T>(v: T): T {
  const text = JSON.stringify(v) as string | undefined;
  return text === undefined ? v : withinDepth(JSON.parse(text) as T);
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
 * nesting bound is checked (RangeError past MAX_DEPTH levels), without a copy.
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

/** A deep copy of data that is already plain JSON (a `toPlain` result): the copy the mutators change when a previous injection is stripped. */
export function clonePlain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
