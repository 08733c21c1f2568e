/**
 * The per-pod annotation table: one row per setting, key → parser. Everything that reads
 * a pod annotation goes through this table, and docs/annotations.md is generated from it
 * (scripts/gen-annotations-doc.ts; a unit test fails when the doc is out of date).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { ProblemList, type AnnotationProblem } from '../errors/index.js';
import type { InterceptionMode } from '../config/index.js';
import { parseImage, parseInterceptionMode, parseQuantity } from '../config/values.js';
import {
  displayValue,
  editDistance,
  MAX_VALUE_CHARS,
  parseBoolean,
  parseCidrList,
  parseCidrSelection,
  parseInterfaceList,
  parsePortList,
  parsePortSelection,
  STRICT,
  type Cidr,
  type CidrSelection,
  type Parsed,
  type PortRange,
  type PortSelection,
} from '../grammar/index.js';

/** The typed value of every per-pod setting. */
export interface AnnotationValues {
  inject: boolean;
  includeInboundPorts: PortSelection;
  excludeInboundPorts: PortRange[];
  includeOutboundPorts: PortRange[];
  excludeOutboundPorts: PortRange[];
  includeOutboundIPRanges: CidrSelection;
  excludeOutboundIPRanges: Cidr[];
  excludeInterfaces: string[];
  proxyImage: string;
  proxyCPU: string;
  proxyMemory: string;
  proxyCPULimit: string;
  proxyMemoryLimit: string;
  nativeSidecar: boolean;
  holdApplicationUntilProxyStarts: boolean;
  interceptionMode: InterceptionMode;
}

export type AnnotationField = keyof AnnotationValues;

export interface AnnotationSpec<K extends AnnotationField> {
  field: K;
  /** siding's key. */
  key: string;
  /** Istio's spellings, read when siding's key is absent. */
  aliases: readonly string[];
  /** Also read from pod labels (only the inject switch; labels win over annotations). */
  label: boolean;
  /** Accepted syntax, for the docs. */
  syntax: string;
  /** Where the value comes from when the annotation is absent, for the docs. */
  default: string;
  description: string;
  example: string;
  parse(raw: string): Parsed<AnnotationValues[K]>;
}

export type AnyAnnotationSpec = { [K in AnnotationField]: AnnotationSpec<K> }[AnnotationField];

/** Set by siding on every injected pod; a JSON record of what was injected. */
export const STATUS_ANNOTATION = 'siding.io/status';
/** Pod label that excludes a pod before the webhook is even called (the objectSelector). */
export const INJECT_KEY = 'siding.io/inject';

const SIDING_PREFIXES = ['siding.io/', 'traffic.siding.io/'];
const ISTIO_PREFIXES = ['sidecar.istio.io/', 'traffic.sidecar.istio.io/'];

const PORTS_RANGES = 'comma-separated ports 1-65535 or ranges `a-b`; empty for none';
const PORTS_ONLY = 'comma-separated ports 1-65535; empty for none';
/** Annotations are read in the strict syntax (src/grammar): one spelling per value. */
const SINGLE_PORTS = { syntax: STRICT, ranges: false } as const;
const PORT_RANGES = { syntax: STRICT, ranges: true } as const;

function traffic<K extends AnnotationField>(
  field: K,
  rest: Omit<AnnotationSpec<K>, 'field' | 'key' | 'aliases' | 'label'>,
): AnnotationSpec<K> {
  return { field, key: `traffic.siding.io/${field}`, aliases: [`traffic.sidecar.istio.io/${field}`], label: false, ...rest };
}

function proxy<K extends AnnotationField>(
  field: K,
  rest: Omit<AnnotationSpec<K>, 'field' | 'key' | 'aliases' | 'label'>,
  istio = true,
): AnnotationSpec<K> {
  return { field, key: `siding.io/${field}`, aliases: istio ? [`sidecar.istio.io/${field}`] : [], label: false, ...rest };
}

/** Every per-pod setting siding reads. Order is the order of the docs. */
export const ANNOTATIONS: readonly AnyAnnotationSpec[] = [
  {
    field: 'inject',
    key: INJECT_KEY,
    aliases: ['sidecar.istio.io/inject'],
    label: true,
    syntax: '`true` or `false`',
    default: 'config `policy`',
    description:
      '`false` opts the pod out; `true` opts it in when the config policy is `disabled` and overrides `neverInjectSelector`. As a label it also keeps the webhook from being called at all. Only these two exact words are read: the webhook\'s objectSelector skips only the exact label value `false`, so a pod labelled `False` (or `0`, `FALSE`...) still reaches siding, which refuses it with the word to write rather than guess.',
    example: 'false',
    parse: (s) => parseBoolean(s, STRICT),
  },
  traffic('includeInboundPorts', {
    syntax: `\`*\` for all, or ${PORTS_ONLY}`,
    default: 'config `redirect.includeInboundPorts` (`*`)',
    description: 'Inbound ports redirected to the proxy (`siding init -b`).',
    example: '8080,8443',
    parse: (s) => parsePortSelection(s, SINGLE_PORTS),
  }),
  traffic('excludeInboundPorts', {
    syntax: PORTS_RANGES,
    default: 'config `redirect.excludeInboundPorts` (empty)',
    description:
      "Inbound ports that bypass the proxy when all ports are captured (`siding init -d`). The proxy's metrics and health ports are always added.",
    example: '9000,9100-9110',
    parse: (s) => parsePortList(s, PORT_RANGES),
  }),
  traffic('includeOutboundPorts', {
    syntax: PORTS_ONLY,
    default: 'config `redirect.includeOutboundPorts` (empty)',
    description: 'Outbound ports redirected even to destinations the included ranges leave out; excluded ranges and ports still win (`siding init -q`).',
    example: '443',
    parse: (s) => parsePortList(s, SINGLE_PORTS),
  }),
  traffic('excludeOutboundPorts', {
    syntax: PORTS_RANGES,
    default: 'config `redirect.excludeOutboundPorts` (empty)',
    description: 'Outbound ports that bypass the proxy (`siding init -o`).',
    example: '5432,6379',
    parse: (s) => parsePortList(s, PORT_RANGES),
  }),
  traffic('includeOutboundIPRanges', {
    syntax: '`*` for all, or comma-separated IPv4/IPv6 CIDRs or addresses; empty for none',
    default: 'config `redirect.includeOutboundIPRanges` (`*`)',
    description: 'Outbound destinations redirected to the proxy (`siding init -i`).',
    example: '10.0.0.0/8,fd00::/8',
    parse: (s) => parseCidrSelection(s, STRICT),
  }),
  traffic('excludeOutboundIPRanges', {
    syntax: 'comma-separated IPv4/IPv6 CIDRs or addresses; empty for none',
    default: 'config `redirect.excludeOutboundIPRanges` (empty)',
    description: 'Outbound destinations that bypass the proxy (`siding init -x`).',
    example: '169.254.169.254/32',
    parse: (s) => parseCidrList(s, STRICT),
  }),
  traffic('excludeInterfaces', {
    syntax: "comma-separated interface names (1-15 of letters, digits, '_', '.', '-')",
    default: 'config `redirect.excludeInterfaces` (empty)',
    description: 'Interfaces whose traffic is never redirected (`siding init -c`).',
    example: 'eth1',
    parse: (s) => parseInterfaceList(s, STRICT),
  }),
  proxy('proxyImage', {
    syntax: 'image reference `[registry[:port]/]name[:tag][@digest]`, at most 512 characters',
    default: 'config `proxy.image`',
    description:
      "Image of the `siding-proxy` container. Refused unless the config allows it: `proxy.imageOverridePrefixes` is empty by default (no pod chooses the image that runs as the proxy's exempt UID before its app); `'*'` allows any image, other entries allow images that start with them. With the default `proxy.command` (`siding proxy`, from siding's own image) it must be a siding image, e.g. another version; a different proxy needs `proxy.command` in the config.",
    example: 'ghcr.io/siding-mesh/siding:0.1.0',
    parse: parseImage,
  }),
  proxy('proxyCPU', {
    syntax: 'Kubernetes CPU quantity',
    default: 'config `proxy.resources.requests.cpu`',
    description: 'CPU request of `siding-proxy`.',
    example: '200m',
    parse: (s) => parseQuantity(s, 'cpu'),
  }),
  proxy('proxyMemory', {
    syntax: 'Kubernetes memory quantity',
    default: 'config `proxy.resources.requests.memory`',
    description: 'Memory request of `siding-proxy`.',
    example: '256Mi',
    parse: (s) => parseQuantity(s, 'memory'),
  }),
  proxy('proxyCPULimit', {
    syntax: 'Kubernetes CPU quantity',
    default: 'config `proxy.resources.limits.cpu`',
    description: 'CPU limit of `siding-proxy`.',
    example: '1',
    parse: (s) => parseQuantity(s, 'cpu'),
  }),
  proxy('proxyMemoryLimit', {
    syntax: 'Kubernetes memory quantity',
    default: 'config `proxy.resources.limits.memory`',
    description: 'Memory limit of `siding-proxy`.',
    example: '512Mi',
    parse: (s) => parseQuantity(s, 'memory'),
  }),
  proxy('nativeSidecar', {
    syntax: '`true` or `false`',
    default: 'config `nativeSidecar` (`true`)',
    description:
      '`true`: the proxy is a native sidecar (an init container with `restartPolicy: Always`, Kubernetes 1.29+). `false`: the classic layout, the proxy in `containers`.',
    example: 'false',
    parse: (s) => parseBoolean(s, STRICT),
  }),
  proxy(
    'holdApplicationUntilProxyStarts',
    {
      syntax: '`true` or `false`',
      default: 'config `holdApplicationUntilProxyStarts` (`true`)',
      description:
        'Classic layout only: put the proxy first with a postStart hook that waits until it is ready, so app containers start after it. Native sidecars always start first.',
      example: 'true',
      parse: (s) => parseBoolean(s, STRICT),
    },
    false,
  ),
  proxy('interceptionMode', {
    syntax: '`REDIRECT`',
    default: 'config `redirect.interceptionMode` (`REDIRECT`)',
    description: 'How traffic is captured (`siding init -m`). Only REDIRECT: siding refuses TPROXY (its proxy cannot accept transparent connections).',
    example: 'REDIRECT',
    parse: parseInterceptionMode,
  }),
];

/** Every key siding knows in its own prefixes, including the ones it writes. */
const KNOWN_SIDING_KEYS = new Set<string>([STATUS_ANNOTATION, ...ANNOTATIONS.map((s) => s.key)]);
const KNOWN_ISTIO_KEYS = new Set<string>(ANNOTATIONS.flatMap((s) => s.aliases));

/** Every key (siding's and Istio's) of the rows readAnnotations reads, and those it also reads from labels. */
const SETTING_KEYS = new Set<string>(ANNOTATIONS.filter((s) => s.field !== 'inject').flatMap((s) => [s.key, ...s.aliases]));
const LABEL_SETTING_KEYS = new Set<string>(ANNOTATIONS.filter((s) => s.field !== 'inject' && s.label).flatMap((s) => [s.key, ...s.aliases]));

function hasAnyKey(map: Record<string, unknown>, keys: ReadonlySet<string>): boolean {
  if (keys.size === 0) return false;
  for (const k in map) if (keys.has(k) && Object.hasOwn(map, k)) return true;
  return false;
}

export interface FoundValue {
  /** The key the value was read from (siding's or an alias). */
  key: string;
  source: 'label' | 'annotation';
  raw: string;
  /** false when a manifest gave a number or boolean (YAML `false` unquoted); `raw` is then its JSON. */
  isString: boolean;
}

export interface ReadResult {
  values: Partial<AnnotationValues>;
  /** At most one per row of the table. */
  problems: AnnotationProblem[];
  /** Problems that are not about one value (unknown keys, non-string values), as full sentences; bounded. */
  errors: ProblemList;
  /** Bounded, like `errors`: a pod may carry any number of Istio keys siding ignores. */
  warnings: ProblemList;
}

/** Formats one problem with the value and key made safe to print. */
export function annotationProblem(key: string, raw: string, reason: string): AnnotationProblem {
  return { annotation: displayValue(key), value: displayValue(raw), reason };
}

function stringMap(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * Where a setting's value comes from: labels first (when the row reads labels), siding's
 * key before Istio's, so siding's own key wins. Returns every candidate in that order.
 */
export function candidates(pod: V1Pod, spec: AnyAnnotationSpec): FoundValue[] {
  return candidatesIn(stringMap(pod.metadata?.labels), stringMap(pod.metadata?.annotations), spec);
}

function candidatesIn(labels: Record<string, unknown>, annotations: Record<string, unknown>, spec: AnyAnnotationSpec): FoundValue[] {
  const out: FoundValue[] = [];
  const take = (map: Record<string, unknown>, key: string, source: FoundValue['source']): void => {
    if (Object.hasOwn(map, key)) {
      const v = map[key];
      if (typeof v === 'string') out.push({ key, source, raw: v, isString: true });
      else out.push({ key, source, raw: JSON.stringify(v) ?? String(v), isString: false });
    }
  };
  take0(spec.key);
  for (const key of spec.aliases) take0(key);
  return out;

  function take0(key: string): void {
    if (spec.label) take(labels, key, 'label');
    take(annotations, key, 'annotation');
  }
}

function parseOne<K extends AnnotationField>(spec: AnnotationSpec<K>, found: FoundValue, out: ReadResult): void {
  if (!found.isString) {
    out.problems.push(annotationProblem(found.key, found.raw, `${found.source} values must be strings (quote it: "${displayValue(found.raw)}")`));
    return;
  }
  if (found.raw.length > MAX_VALUE_CHARS) {
    out.problems.push(annotationProblem(found.key, found.raw, `longer than ${MAX_VALUE_CHARS} characters`));
    return;
  }
  const r = spec.parse(found.raw);
  if (r.ok) out.values[spec.field] = r.value;
  else out.problems.push(annotationProblem(found.key, found.raw, r.reason));
}

/** The winning value of one setting, parsed; problems and override warnings are appended to `out`. */
function readSetting(labels: Record<string, unknown>, annotations: Record<string, unknown>, spec: AnyAnnotationSpec, out: ReadResult): void {
  const found = candidatesIn(labels, annotations, spec);
  const [winner, ...losers] = found;
  if (winner === undefined) return;
  for (const l of losers) {
    if (l.raw !== winner.raw) {
      out.warnings.add(() => `${l.source} ${displayValue(l.key)} is ignored: ${winner.source} ${displayValue(winner.key)} is set and takes precedence`);
    }
  }
  parseOne(spec as AnnotationSpec<AnnotationField>, winner, out);
}

function nearest(key: string): string | undefined {
  const lower = key.toLowerCase();
  return [...KNOWN_SIDING_KEYS].find((k) => editDistance(k.toLowerCase(), lower) <= 2);
}

/**
 * Reads every per-pod setting except the inject switch (policy reads that). Unknown keys
 * in siding's prefixes are errors (a typo must not silently change nothing); Istio keys
 * siding does not implement are warnings. Both lists are bounded (ProblemList), and a
 * "did you mean" is worked out only for the keys that are shown, so the cost is linear in
 * the number of keys.
 */
export function readAnnotations(pod: V1Pod): ReadResult {
  const out: ReadResult = { values: {}, problems: [], errors: new ProblemList(), warnings: new ProblemList() };
  const annotations = stringMap(pod.metadata?.annotations);
  for (const key in annotations) {
    if (!Object.hasOwn(annotations, key)) continue;
    const v = annotations[key];
    if (typeof v !== 'string' && !KNOWN_SIDING_KEYS.has(key) && !KNOWN_ISTIO_KEYS.has(key)) {
      out.errors.add(() => `annotation '${displayValue(key)}' must have a string value`);
      continue;
    }
    if (SIDING_PREFIXES.some((p) => key.startsWith(p)) && !KNOWN_SIDING_KEYS.has(key)) {
      out.errors.add(() => {
        const near = nearest(key);
        return `unknown annotation '${displayValue(key)}'${near === undefined ? '' : ` (did you mean '${near}'?)`}; docs/annotations.md lists siding's annotations`;
      });
    } else if (ISTIO_PREFIXES.some((p) => key.startsWith(p)) && !KNOWN_ISTIO_KEYS.has(key) && key !== 'sidecar.istio.io/status') {
      out.warnings.add(() => `annotation '${displayValue(key)}' is not supported by siding and is ignored`);
    }
  }
  const labels = stringMap(pod.metadata?.labels);
  // Most pods set none of these: then no row needs to look (16 rows, up to four keys each).
  if (!hasAnyKey(annotations, SETTING_KEYS) && !hasAnyKey(labels, LABEL_SETTING_KEYS)) return out;
  for (const spec of ANNOTATIONS) {
    if (spec.field !== 'inject') readSetting(labels, annotations, spec, out);
  }
  return out;
}

/** The inject switch row (policy reads it). */
export const INJECT_SPEC = ANNOTATIONS[0] as AnnotationSpec<'inject'>;
