/**
 * Strict parsers for the Kubernetes-shaped string values that reach siding from annotations
 * and config files: the interception mode, resource quantities, image references and names.
 * Booleans, ports, CIDRs and interfaces are src/grammar's. Each returns a typed value or a
 * reason; none throws, and every pattern here runs on a value already cut to a few hundred
 * characters, with no two quantifiers able to match the same characters.
 */
import { displayValue, fail, ok, type Parsed } from '../grammar/index.js';

// ---------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------

export function parseInterceptionMode(value: string): Parsed<'REDIRECT'> {
  if (value === 'REDIRECT') return ok('REDIRECT');
  if (value === 'TPROXY') return fail('TPROXY is not supported yet; the only mode is REDIRECT');
  return fail('must be REDIRECT');
}

// ---------------------------------------------------------------------------
// Kubernetes values
// ---------------------------------------------------------------------------

/** A Kubernetes resource quantity this long is already absurd; the cap keeps messages short. */
const MAX_QUANTITY_CHARS = 32;
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)([KMGTPE]i|[mkMGTPE]|[eE][0-9]{1,2})?$/;
const MULTIPLIER: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * A non-negative Kubernetes quantity (`100m`, `0.5`, `128Mi`, `1e3`). Memory in
 * thousandths of a byte (`128m`) is refused: it is always a typo for `128Mi`.
 */
export function parseQuantity(value: string, kind: 'cpu' | 'memory'): Parsed<string> {
  if (value.length > MAX_QUANTITY_CHARS) return fail(`a quantity is at most ${MAX_QUANTITY_CHARS} characters`);
  const m = QUANTITY.exec(value);
  if (!m) return fail(`'${displayValue(value)}' is not a Kubernetes quantity (examples: ${kind === 'cpu' ? '100m, 0.5, 2' : '128Mi, 1Gi, 500M'})`);
  const [, num = '', suffix = ''] = m;
  if (kind === 'memory' && suffix === 'm') return fail(`'m' means thousandths of a byte; did you mean '${num}Mi'?`);
  if (kind === 'cpu' && suffix === 'm' && num.includes('.')) return fail('CPU is measured to 1m at most; use a whole number of millicores');
  return ok(value);
}

/** The numeric value of a quantity already accepted by parseQuantity (for comparisons only). */
export function quantityValue(q: string): number {
  const m = QUANTITY.exec(q);
  if (!m) return Number.NaN;
  const [, num = '', suffix = ''] = m;
  if (suffix.startsWith('e') || suffix.startsWith('E')) return Number(num) * 10 ** Number(suffix.slice(1));
  return Number(num) * (MULTIPLIER[suffix] ?? Number.NaN);
}

/** Container image references: registry name (255) + tag (128) + a sha512 digest, rounded up. */
export const MAX_IMAGE_CHARS = 512;
// Each part: alphanumerics, with runs of '-' only between them. Written so that no two
// quantifiers can match the same character: linear, whatever the input.
const DOMAIN_PART = '[A-Za-z0-9](?:-*[A-Za-z0-9])*';
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]{1,5})?`;
const PATH_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,128}';
const IMAGE = new RegExp(`^(?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*(?::${TAG})?(?:@${DIGEST})?$`);

/** An OCI image reference in the distribution grammar: `[registry[:port]/]path[:tag][@digest]`. */
export function parseImage(value: string): Parsed<string> {
  if (value.length === 0) return fail('an image reference cannot be empty');
  if (value.length > MAX_IMAGE_CHARS) return fail(`an image reference is at most ${MAX_IMAGE_CHARS} characters`);
  if (!IMAGE.test(value)) return fail('not an image reference ([registry[:port]/]name[:tag][@digest], lower-case name)');
  return ok(value);
}

const ABSOLUTE_PATH = /^\/[A-Za-z0-9._\-/]*$/;
/** Longest absolute path accepted (an HTTP path or a mount path). */
export const MAX_PATH_CHARS = 256;

/**
 * An absolute path of letters, digits, '.', '_', '-' and '/' without '.' or '..' segments:
 * a mount path, or the readiness path (which ends up in an HTTP request line and a script).
 */
export function parseAbsolutePath(value: string): Parsed<string> {
  if (value.length > MAX_PATH_CHARS) return fail(`is longer than ${MAX_PATH_CHARS} characters`);
  if (!ABSOLUTE_PATH.test(value) || value.split('/').some((seg) => seg === '..' || seg === '.')) {
    return fail(`'${displayValue(value)}' must be an absolute path of letters, digits, '.', '_', '-' and '/' without '.' or '..' segments`);
  }
  return ok(value);
}

// Alphanumerics at both ends, separators only between them; as above, no two quantifiers
// can match the same character.
const DNS_LABEL = /^[a-z0-9](?:-*[a-z0-9])*$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:-*[a-z0-9])*(?:\.[a-z0-9](?:-*[a-z0-9])*)*$/;
const LABEL_NAME = /^[A-Za-z0-9](?:[-_.]*[A-Za-z0-9])*$/;

/** RFC 1123 label, as Kubernetes requires for namespace, container and volume names. */
export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS_LABEL.test(value);
}

/** A label key: optional DNS-subdomain prefix (253) and '/', then a name of at most 63 characters. */
export function isLabelKey(value: string): boolean {
  const slash = value.indexOf('/');
  const prefix = slash === -1 ? undefined : value.slice(0, slash);
  const name = slash === -1 ? value : value.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** A label value: empty, or at most 63 characters of letters, digits, '-', '_', '.'. */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && LABEL_NAME.test(value));
}

/**
 * Port names must be IANA service names: 1-15 characters, lower-case letters, digits and
 * '-', at least one letter, no leading, trailing or double '-'. The API server rejects
 * anything else with a 422.
 */
export function isPortName(value: string): boolean {
  return (
    value.length >= 1 &&
    value.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(value) &&
    /[a-z]/.test(value) &&
    !value.includes('--')
  );
}
