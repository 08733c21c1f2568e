/**
 * The JSON Patch from the pod the engine was given to the pod it made: fast-json-patch
 * `compare`, with siding's container and volume list entries as `add`/`remove` operations
 * at their indexes, and a first injection's patch written without the general diff.
 */
import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch, { escapePathComponent, type Operation } from 'fast-json-patch';
import { isObject } from './copy.js';

const NAMED_LISTS = ['initContainers', 'containers', 'volumes'] as const;

/**
 * JSON Patch from `base` to `result`: fast-json-patch `compare`, except for a container or
 * volume list whose sequence of names changed. Index-by-index diffs of an insertion would
 * rewrite every later element in place (the app container "becomes" the proxy), which is
 * correct but unreadable and grows with the pod. Such a list gets `listOps` instead: the
 * entries siding removes and adds, at their indexes, leaving the pod's own entries alone.
 */
export function diffPods(base: V1Pod, result: V1Pod): Operation[] {
  const lists: Operation[] = [];
  const b = { ...base, spec: base.spec === undefined ? undefined : { ...base.spec } };
  const r = { ...result, spec: result.spec === undefined ? undefined : { ...result.spec } };
  for (const field of NAMED_LISTS) {
    if (!namedListOps(field, b.spec?.[field], r.spec?.[field], lists)) continue;
    if (b.spec !== undefined) delete b.spec[field];
    if (r.spec !== undefined) delete r.spec[field];
  }
  return [...jsonpatch.compare(b, r), ...lists];
}

/** Appends the operations for one container or volume list; false when its names did not change (compare handles it). */
function namedListOps(field: (typeof NAMED_LISTS)[number], before: unknown, after: unknown, out: Operation[]): boolean {
  if (sameNames(before, after)) return false;
  const path = `/spec/${field}`;
  if (before === undefined) out.push({ op: 'add', path, value: after });
  else if (after === undefined) out.push({ op: 'remove', path });
  else out.push(...listOps(path, before as unknown[], after as unknown[]));
  return true;
}

/**
 * `diffPods(base, result)` for a first injection, without the general diff: `result` is
 * `base` (shallowWork) after the mutators, so it differs only in its container and volume
 * lists and in annotations added to an annotation map the pod already had. The operations
 * are the ones compare would give for those annotations (`add`, in the result map's key
 * order), then the list operations. Returns undefined (use diffPods) for any other shape:
 * no annotation map, a changed or removed annotation, a value that is not a string.
 * A property test checks it against diffPods.
 */
export function firstInjectionPatch(base: V1Pod, result: V1Pod): Operation[] | undefined {
  const before: unknown = base.metadata?.annotations;
  const after: unknown = result.metadata?.annotations;
  if (!isObject(before) || !isObject(after)) return undefined;
  const ops: Operation[] = [];
  let kept = 0;
  for (const key in after) {
    if (!Object.hasOwn(after, key)) continue;
    const v = after[key];
    if (typeof v !== 'string') return undefined;
    if (Object.hasOwn(before, key)) {
      if (before[key] !== v) return undefined;
      kept++;
    } else {
      ops.push({ op: 'add', path: `/metadata/annotations/${escapePathComponent(key)}`, value: v });
    }
  }
  if (kept !== Object.keys(before).length) return undefined;
  for (const field of NAMED_LISTS) {
    const b: unknown = base.spec?.[field];
    const a: unknown = result.spec?.[field];
    // A list with the same names is one the mutators did not touch: the same list.
    if (!namedListOps(field, b, a, ops) && b !== a) return undefined;
  }
  return ops;
}

/** Both undefined, or both lists with the same names in the same order (what JSON.stringify of their names would compare). */
function sameNames(before: unknown, after: unknown): boolean {
  if (!Array.isArray(before) || !Array.isArray(after)) return before === after || (!Array.isArray(before) && !Array.isArray(after));
  if (before.length !== after.length) return false;
  for (let i = 0; i < before.length; i++) {
    const x = (before[i] as { name?: unknown } | null | undefined)?.name;
    const y = (after[i] as { name?: unknown } | null | undefined)?.name;
    if (x !== y && !(nameJson(x) === nameJson(y))) return false;
  }
  return true;
}

/** How JSON.stringify writes a name inside a list (undefined, functions and symbols as null). */
function nameJson(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

// Lists longer than any pod's (tens of containers and volumes) are replaced whole rather
// than matched: the matching table has before.length x after.length cells.
const MAX_LIST_CELLS = 250_000;
// Entries with one name but different values are compared with at most this many others;
// a pod has one entry per name, so this only bounds the work a hostile list can cause.
const MAX_SAME_NAME = 4;

/**
 * The operations that turn list `before` into `after` when `after` keeps some of `before`'s
 * entries, unchanged and in order: `remove` at each dropped index, highest first (so every
 * index is still the one in `before`), then `add` at each new entry's final index, lowest
 * first (so every entry before it is already in place; `-` when it goes at the end).
 *
 * The kept entries are a longest common subsequence of equal entries (same name, same
 * value), found with the classic table. When no entry is kept, or the lists are too long
 * for the table, the list is replaced whole.
 */
function listOps(path: string, before: unknown[], after: unknown[]): Operation[] {
  const n = before.length;
  const m = after.length;
  const replace: Operation[] = [{ op: 'replace', path, value: after }];
  // The usual case, a first injection: `after` is `before` (the same objects, shared by the
  // engine) with siding's entries inserted. Each entry of `after` that is not the next one
  // of `before` is an insertion.
  let k = 0;
  for (let j = 0; j < m && k < n; j++) if (after[j] === before[k]) k++;
  if (n > 0 && k === n) {
    const adds: Operation[] = [];
    for (let j = 0, i = 0; j < m; j++) {
      if (i < n && after[j] === before[i]) i++;
      else adds.push({ op: 'add', path: `${path}/${j === n + adds.length ? '-' : j}`, value: after[j] });
    }
    return adds;
  }
  if (n * m > MAX_LIST_CELLS) return replace;
  const [idB, idA] = entryClasses(before, after);
  const same = (i: number, j: number): boolean => idB[i] === idA[j];
  // lcs[i * w + j]: length of the longest common subsequence of before[i..] and after[j..].
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  const at = (i: number, j: number): number => lcs[i * w + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i * w + j] = same(i, j) ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  }
  if (at(0, 0) === 0) return replace;
  const keptBefore = new Uint8Array(n);
  const keptAfter = new Uint8Array(m);
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (same(i, j) && at(i, j) === at(i + 1, j + 1) + 1) {
      keptBefore[i++] = 1;
      keptAfter[j++] = 1;
    } else if (at(i + 1, j) === at(i, j)) i++;
    else j++;
  }
  const ops: Operation[] = [];
  let length = n;
  for (let i = n - 1; i >= 0; i--) {
    if (keptBefore[i] === 1) continue;
    ops.push({ op: 'remove', path: `${path}/${i}` });
    length--;
  }
  for (let j = 0; j < m; j++) {
    if (keptAfter[j] === 1) continue;
    ops.push({ op: 'add', path: `${path}/${j === length ? '-' : j}`, value: after[j] });
    length++;
  }
  return ops;
}

/**
 * A number per entry of both lists such that equal numbers mean equal entries (same name,
 * same JSON value). Each entry is compared only with the first few distinct entries of its
 * name (MAX_SAME_NAME); past those it gets a number of its own, which can only make the
 * patch longer, never wrong.
 */
function entryClasses(before: unknown[], after: unknown[]): [Int32Array, Int32Array] {
  const byName = new Map<unknown, { value: unknown; id: number }[]>();
  let next = 0;
  const classify = (list: unknown[]): Int32Array => {
    const ids = new Int32Array(list.length);
    list.forEach((value, k) => {
      const name = (value as { name?: unknown }).name;
      const reps = byName.get(name) ?? [];
      if (reps.length === 0) byName.set(name, reps);
      const found = reps.find((r) => jsonEqual(r.value, value));
      if (found !== undefined) ids[k] = found.id;
      else {
        const id = next++;
        ids[k] = id;
        if (reps.length < MAX_SAME_NAME) reps.push({ value, id });
      }
    });
    return ids;
  };
  return [classify(before), classify(after)];
}

/** Deep equality of plain JSON values (what JSON.stringify would write the same way, key order aside). */
function jsonEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!jsonEqual(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y)) return false;
  const xo = x as Record<string, unknown>;
  const yo = y as Record<string, unknown>;
  const keys = Object.keys(xo);
  if (keys.length !== Object.keys(yo).length) return false;
  for (const k of keys) if (!Object.hasOwn(yo, k) || !jsonEqual(xo[k], yo[k])) return false;
  return true;
}
