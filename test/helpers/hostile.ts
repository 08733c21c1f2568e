/**
 * Hostile AdmissionReviews for the parsers' worst cases: every annotation siding reads (its
 * own key and each Istio alias, the inject switch also as a label, and the status record),
 * each with values at the size limit in the shapes that make a parser work hardest (long
 * runs of spaces, separators, digits, dots, colons, mixed), and "the largest allowed pod",
 * which carries every key at once at the limit. Used by test/unit/hardening-hostile-values
 * and by the benchmark (bench/hostile.ts), so both measure the same corpus.
 */
import { BODY_LIMIT_BYTES } from '../../src/admission/app.js';
import { MAX_VALUE_CHARS } from '../../src/grammar/index.js';
import { ANNOTATIONS, STATUS_ANNOTATION } from '../../src/inject/index.js';

/** A value of exactly `length` characters: `unit` repeated, cut to length. */
function repeat(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

/** Each shape makes a value of exactly the given length. */
export const SHAPES: Readonly<Record<string, (length: number) => string>> = {
  'a run of spaces inside one item': (n) => `x${' '.repeat(n - 2)}x`,
  'spaces around one item': (n) => `${' '.repeat(Math.floor((n - 2) / 2))}80${' '.repeat(Math.ceil((n - 2) / 2))}`,
  'spaces around every item': (n) => repeat(' 8080 ,', n - 4) + '8080',
  'commas only': (n) => ','.repeat(n),
  'commas and spaces': (n) => repeat(', ', n),
  'digits only': (n) => '1'.repeat(n),
  'a list of single digits': (n) => repeat('1,', n - 1) + '1',
  'a list of distinct ports': (n) => distinctPorts(n),
  'dots only': (n) => '.'.repeat(n),
  'digits and dots': (n) => repeat('1.', n),
  'colons only': (n) => ':'.repeat(n),
  'hex and colons': (n) => repeat('f:', n),
  'digits and dashes': (n) => repeat('1-', n),
  'digits and slashes': (n) => repeat('1/', n),
  'letters and dashes': (n) => repeat('a-', n),
  'letters and dots': (n) => repeat('a.', n),
  'letters and underscores': (n) => repeat('a__', n),
  'mixed separators': (n) => repeat('1.2:3-4/5, ', n),
  'look-alike and control characters': (n) => repeat('\u202e٨\u0000', n),
  'a JSON record with long name lists': (n) => statusRecord(n),
};

/** `1,2,3,...` up to the length: the longest valid list, to its item limit and past it. */
function distinctPorts(length: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let p = 1; size <= length; p = (p % 65535) + 1) {
    parts.push(String(p));
    size += String(p).length + 1;
  }
  return parts.join(',').slice(0, length).replace(/,$/, '9');
}

/** A forged `siding.io/status` record whose name lists fill the length. */
function statusRecord(length: number): string {
  const head = '{"version":"0.0.0","layout":"native","initContainers":["siding-init"],"containers":[],"annotations":[],"proxyImage":"x","volumes":[';
  const names: string[] = [];
  let size = head.length + 2;
  for (let i = 0; size + 12 < length; i++) {
    const name = `"siding-${i}"`;
    names.push(name);
    size += name.length + 1;
  }
  return `${head}${names.join(',')}]}`.padEnd(length, ' ');
}

/** Where a key is read from. */
export interface HostileKey {
  key: string;
  source: 'annotation' | 'label';
}

/** Every key siding reads from a pod: each row's key and aliases, labels where the row reads them, the status record. */
export function hostileKeys(): HostileKey[] {
  const out: HostileKey[] = [];
  for (const spec of ANNOTATIONS) {
    for (const key of [spec.key, ...spec.aliases]) {
      out.push({ key, source: 'annotation' });
      if (spec.label) out.push({ key, source: 'label' });
    }
  }
  out.push({ key: STATUS_ANNOTATION, source: 'annotation' });
  return out;
}

let uid = 0;

/** An AdmissionReview of a Pod CREATE with these labels and annotations. */
export function podReview(annotations: Record<string, string>, labels: Record<string, string> = {}): string {
  uid += 1;
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-4000-8000-${String(uid).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'attacker', uid: 'u', groups: ['system:authenticated'] },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { generateName: 'web-', namespace: 'shop', labels: { app: 'web', ...labels }, annotations },
        spec: {
          containers: [
            { name: 'web', image: 'registry.example.com/shop/web:1.0', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] },
            { name: 'cache', image: 'registry.example.com/shop/cache:1.0', ports: [{ name: 'redis', containerPort: 6379, protocol: 'TCP' }] },
          ],
        },
      },
      dryRun: false,
    },
  });
}

/** A typical review: what an unrelated pod created at the same time sends. */
export function typicalReview(): string {
  return podReview({ 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z' });
}

export interface HostileReview {
  /** "<key> (<source>): <shape>", or "every key: <shape>". */
  name: string;
  /** Keys the denial must name (all of them when the answer lists them; see the test). */
  keys: string[];
  body: string;
}

/** One review per key and shape at the size limit, then one per shape with every key at once. */
export function hostileCorpus(length: number = MAX_VALUE_CHARS): HostileReview[] {
  const keys = hostileKeys();
  const out: HostileReview[] = [];
  for (const [shape, make] of Object.entries(SHAPES)) {
    const value = make(length);
    for (const k of keys) {
      const body = k.source === 'label' ? podReview({}, { [k.key]: value }) : podReview({ [k.key]: value });
      out.push({ name: `${k.key} (${k.source}): ${shape}`, keys: [k.key], body });
    }
  }
  // The largest pod the webhook accepts: every key at the limit, unless the body would pass
  // the webhook's body limit (values whose characters JSON writes as several bytes).
  const annotationKeys = keys.filter((k) => k.source === 'annotation').length;
  const perKeyBytes = Math.floor((BODY_LIMIT_BYTES * 0.9) / annotationKeys);
  for (const [shape, make] of Object.entries(SHAPES)) {
    let value = make(length);
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > perKeyBytes) value = make(Math.floor((length * perKeyBytes) / bytes / 2) * 2);
    const annotations: Record<string, string> = {};
    for (const k of keys) if (k.source === 'annotation') annotations[k.key] = value;
    out.push({ name: `every key: ${shape}`, keys: Object.keys(annotations), body: podReview(annotations) });
  }
  return out;
}
