/**
 * The string values a config holds beyond JSON's types (names, images, quantities, paths,
 * ports, CIDRs, interfaces), each read by one of the parsers annotations use too. The
 * schema (schema.ts) names a kind with the `x-siding-value` keyword; validation (validate.ts)
 * runs that kind's parser on the value and puts the typed result in its place, or reports
 * the parser's reason. So every string is parsed once, by the grammar that owns it.
 */
import {
  displayValue,
  fail,
  ok,
  parseCidrList,
  parseCidrSelection,
  parseInterfaceList,
  parsePortList,
  parsePortSelection,
  STRICT,
  type Parsed,
} from '../grammar/index.js';
import { XTABLES_LOCK_VOLUME } from './defaults.js';
import { isDnsLabel, isLabelKey, isLabelValue, parseAbsolutePath, parseImage, parseInterceptionMode, parseQuantity } from './values.js';

/** The same port syntax as the annotations (src/inject/annotations.ts). */
const SINGLE_PORTS = { syntax: STRICT, ranges: false } as const;
const PORT_RANGES = { syntax: STRICT, ranges: true } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CONFIGMAP_NAME = /^[a-z0-9](?:[-.]*[a-z0-9])*$/;

const named = (test: (s: string) => boolean, what: string) => (s: string): Parsed<string> =>
  test(s) ? ok(s) : fail(`'${displayValue(s)}' ${what}`);

/**
 * Redirect lists are written either in annotation syntax (`"80,443"`, `"*"`) or as a list
 * (`[80, 443]`); both go through the annotation parser so they mean the same thing. The
 * schema has checked the types (a string, or a list of strings and numbers).
 */
function viaList<T>(parse: (s: string) => Parsed<T>) {
  return (v: unknown): Parsed<T> => {
    if (typeof v === 'string') return parse(v);
    const items = v as (string | number)[];
    const bad = items.find((x) => String(x).includes(','));
    if (bad !== undefined) return fail(`'${displayValue(String(bad))}' must be a single value, without ','`);
    return parse(items.join(','));
  };
}

/** Kind → parser. Text parsers get a string (the schema says so); list kinds a string or a list. */
export const KINDS = {
  namespace: named(isDnsLabel, 'is not a namespace name'),
  image: (s: string) => {
    const r = parseImage(s);
    return r.ok ? r : fail<string>(`'${displayValue(s)}': ${r.reason}`);
  },
  cpu: (s: string) => parseQuantity(s, 'cpu'),
  memory: (s: string) => parseQuantity(s, 'memory'),
  path: parseAbsolutePath,
  envName: named((s) => ENV_NAME.test(s), 'is not an environment variable name'),
  volumeName: (s: string): Parsed<string> => {
    if (!isDnsLabel(s) || !s.startsWith('siding-')) {
      return fail(`'${displayValue(s)}' must be a DNS label starting with 'siding-' (so it cannot collide with the pod's own volumes)`);
    }
    return s === XTABLES_LOCK_VOLUME ? fail(`${s} is added by siding itself`) : ok(s);
  },
  configMapName: named((s) => s.length <= 253 && CONFIGMAP_NAME.test(s), 'is not a ConfigMap name'),
  labelKey: named(isLabelKey, 'is not a valid label key'),
  labelValue: named(isLabelValue, 'is not a label value'),
  interceptionMode: parseInterceptionMode,
  includeInboundPorts: viaList((s) => parsePortSelection(s, SINGLE_PORTS)),
  portRanges: viaList((s) => parsePortList(s, PORT_RANGES)),
  singlePorts: viaList((s) => parsePortList(s, SINGLE_PORTS)),
  cidrSelection: viaList((s) => parseCidrSelection(s, STRICT)),
  cidrList: viaList((s) => parseCidrList(s, STRICT)),
  interfaceList: viaList((s) => parseInterfaceList(s, STRICT)),
} as const satisfies Record<string, (v: never) => Parsed<unknown>>;

export type Kind = keyof typeof KINDS;

const LIST_KINDS: ReadonlySet<Kind> = new Set(['includeInboundPorts', 'portRanges', 'singlePorts', 'cidrSelection', 'cidrList', 'interfaceList']);

/**
 * Parses `v` as `kind`, or undefined when `v` is not of the JSON type the kind reads (a
 * string; for list kinds a string or a list of strings and numbers): the schema's `type`
 * reports that, and validation goes on collecting every error.
 */
export function parseKind(kind: Kind, v: unknown): Parsed<unknown> | undefined {
  const fits =
    typeof v === 'string' ||
    (LIST_KINDS.has(kind) && Array.isArray(v) && v.every((x) => typeof x === 'string' || (typeof x === 'number' && Number.isInteger(x))));
  return fits ? (KINDS[kind] as (x: unknown) => Parsed<unknown>)(v) : undefined;
}
