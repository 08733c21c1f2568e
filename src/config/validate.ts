/**
 * A parsed config file (any JSON value) → `InjectionConfig`, or ConfigError with every
 * problem. Two passes:
 * 1. The schema (schema.ts), compiled once by ajv with every error collected: JSON types,
 *    enums, bounds, unknown keys; missing keys get their defaults; strings with a grammar
 *    are parsed by their kind (kinds.ts) and replaced by the typed value.
 * 2. The rules across fields, on the merged result: ports used twice, requests above
 *    limits, names listed twice, a volume's one source, selectors that match everything.
 *
 * Each ajv error becomes a line in siding's format, `SOURCE: PATH: message` (`proxy.env[1].name`),
 * with an unknown key's "did you mean" worked out only for the problems shown (ProblemList).
 */
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError, ProblemList } from '../errors/index.js';
import { displayValue, editDistance } from '../grammar/index.js';
import { parseKind, type Kind } from './kinds.js';
import { CONFIG_SCHEMA } from './schema.js';
import type { InjectionConfig, ProxyVolume, Resources } from './types.js';
import { quantityValue } from './values.js';

/** Env names siding sets itself on the proxy. */
export const RESERVED_PROXY_ENV = ['POD_NAME', 'POD_NAMESPACE', 'INSTANCE_IP'] as const;

/** The keyword ajv runs for `x-siding-value`: parse, then put the typed value in place. */
function parseValue(kind: Kind, data: unknown, _schema: unknown, cxt?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number }): boolean {
  const r = parseKind(kind, data);
  if (r === undefined) return true;
  if (!r.ok) {
    parseValue.errors = [{ keyword: 'x-siding-value', message: r.reason, params: {} }];
    return false;
  }
  if (cxt !== undefined && r.value !== data) cxt.parentData[cxt.parentDataProperty] = r.value;
  return true;
}
parseValue.errors = [] as Partial<ErrorObject>[];

/** The keyword for `x-siding-check`: the same parser, nothing replaced (map keys cannot be). */
function checkValue(kind: Kind, data: unknown): boolean {
  const r = parseKind(kind, data);
  if (r === undefined || r.ok) return true;
  checkValue.errors = [{ keyword: 'x-siding-check', message: r.reason, params: {} }];
  return false;
}
checkValue.errors = [] as Partial<ErrorObject>[];

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, allowUnionTypes: true, strict: true });
ajv.addVocabulary(['errorMessage']);
ajv.addKeyword({ keyword: 'x-siding-value', schemaType: 'string', modifying: true, errors: true, post: true, validate: parseValue });
ajv.addKeyword({ keyword: 'x-siding-check', schemaType: 'string', errors: true, validate: checkValue });
const check = ajv.compile(CONFIG_SCHEMA);

/** Every problem of one file, bounded (ProblemList); a message function runs only when shown. */
class Problems {
  readonly list = new ProblemList();
  constructor(private readonly source: string) {}
  add(path: string, message: string | (() => string)): void {
    this.list.add(() => `${this.source}: ${path === '' ? '(top level)' : path}: ${typeof message === 'string' ? message : message()}`);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/** `/proxy/env/0/name` → `proxy.env[0].name`, reading the data to tell list indexes from keys. */
function dottedPath(pointer: string, root: unknown): string {
  if (pointer === '') return '';
  let out = '';
  let at: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(at)) out += `[${key}]`;
    else out += out === '' ? displayValue(key) : `.${displayValue(key)}`;
    at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  }
  return out;
}

const WORDS: Record<string, string> = { string: 'a string', object: 'a mapping', array: 'a list', boolean: 'true or false', integer: 'an integer' };

/** One ajv error in siding's words; undefined for errors another error already explains. */
function message(e: ErrorObject): string | (() => string) | undefined {
  const s = (e.parentSchema ?? {}) as Record<string, unknown>;
  const custom = (s.errorMessage as Record<string, string> | undefined)?.[e.keyword];
  if (custom !== undefined) return custom;
  const got = (v: unknown): string => (typeof v === 'string' ? `'${displayValue(v)}'` : typeof v === 'number' ? String(v) : typeName(v));
  switch (e.keyword) {
    case 'type':
    case 'minimum':
    case 'maximum': {
      if (s.type === 'integer' && typeof s.minimum === 'number' && typeof s.maximum === 'number') {
        return `must be an integer from ${s.minimum} to ${s.maximum}, got ${typeof e.data === 'number' ? String(e.data) : typeName(e.data)}`;
      }
      const types = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
      return `must be ${types.map((t) => WORDS[t] ?? t).join(' or ')}, got ${typeName(e.data)}`;
    }
    case 'enum':
      return `must be one of ${(s.enum as string[]).join(', ')}, got ${got(e.data)}`;
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((s.properties as object | undefined) ?? {});
      return () => {
        const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
        return `unknown key${near === undefined ? '' : ` (did you mean '${near}'?)`}; known keys: ${known.join(', ')}`;
      };
    }
    case 'required':
      return `needs a ${String((e.params as { missingProperty: string }).missingProperty)}`;
    case 'maxItems':
      return `has ${Array.isArray(e.data) ? e.data.length : '?'} items; at most ${String(s.maxItems)} are allowed`;
    case 'minItems':
      return `needs at least ${String(s.minItems)} items`;
    case 'maxLength':
      return `is longer than ${String(s.maxLength)} characters`;
    case 'propertyNames':
      // The name's own error (x-siding-value) says what is wrong with it.
      return undefined;
    default:
      return e.message ?? e.keyword;
  }
}

function pathOf(e: ErrorObject, root: unknown): string {
  const base = dottedPath(e.instancePath, root);
  if (e.keyword !== 'additionalProperties') return base;
  const key = displayValue(String((e.params as { additionalProperty: string }).additionalProperty));
  return base === '' ? key : `${base}.${key}`;
}

/** Validates a parsed YAML/JSON value and merges it over the default. Throws ConfigError. */
export function configFromValue(raw: unknown, source: string): InjectionConfig {
  const p = new Problems(source);
  // The value is the caller's fresh parse result: validation fills in defaults and typed values in place.
  const data = raw === null || raw === undefined ? {} : raw;
  const valid = check(data);
  const errors = valid ? [] : (check.errors ?? []);
  for (const e of errors) {
    const m = message(e);
    if (m !== undefined) p.add(pathOf(e, data), m);
  }
  // The rules across fields run on every part the schema found valid, so that one run
  // reports every problem; a part with a schema error is left to that error.
  if (isRecord(data)) crossFieldProblems(data as InjectionConfig, p, cleanCheck(errors));
  if (p.list.count > 0) throw new ConfigError(p.list);
  const cfg = data as InjectionConfig;
  cfg.excludedNamespaces = [...new Set(cfg.excludedNamespaces)];
  return cfg;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `/a/b/c` → `/a/b`, `/a`, `` (the root). */
function ancestors(pointer: string): string[] {
  const out: string[] = [];
  for (let i = pointer.lastIndexOf('/'); i > 0; i = pointer.lastIndexOf('/', i - 1)) out.push(pointer.slice(0, i));
  if (pointer !== '') out.push('');
  return out;
}

/** "No schema error at, above or (unless `below: false`) below this JSON pointer". */
type Clean = (pointer: string, options?: { below?: boolean }) => boolean;

function cleanCheck(errors: readonly ErrorObject[]): Clean {
  const at = new Set<string>();
  const below = new Set<string>();
  for (const e of errors) {
    // An unknown or missing key is a problem of that key alone, not of its mapping.
    const key = (e.params as { additionalProperty?: string; missingProperty?: string }).additionalProperty ?? (e.params as { missingProperty?: string }).missingProperty;
    const path = key === undefined ? e.instancePath : `${e.instancePath}/${key}`;
    at.add(path);
    for (const prefix of ancestors(path)) below.add(prefix);
  }
  return (pointer, { below: orBelow = true } = {}) =>
    !(orBelow && below.has(pointer)) && !at.has(pointer) && !ancestors(pointer).some((a) => at.has(a));
}

/** Problems when a request exceeds its limit: the API server would reject every injected pod. */
export function requestLimitProblems(r: Resources): string[] {
  const out: string[] = [];
  for (const k of ['cpu', 'memory'] as const) {
    const req = r.requests[k];
    const lim = r.limits[k];
    if (req !== undefined && lim !== undefined && quantityValue(req) > quantityValue(lim)) {
      out.push(`${k} request ${req} is above its limit ${lim}`);
    }
  }
  return out;
}

function crossFieldProblems(cfg: InjectionConfig, p: Problems, clean: Clean): void {
  const ports: [string, number][] = [];
  for (const name of ['outboundPort', 'inboundPort', 'metricsPort', 'healthPort'] as const) {
    if (clean(`/proxy/${name}`)) ports.push([`proxy.${name}`, cfg.proxy[name]]);
  }
  if (clean('/redirect/redirectDNS') && clean('/redirect/dnsPort') && cfg.redirect.redirectDNS) ports.push(['redirect.dnsPort', cfg.redirect.dnsPort]);
  ports.forEach(([name, port], j) => {
    const first = ports.findIndex(([, other]) => other === port);
    if (first !== j) p.add(name, `port ${port} is already used by ${ports[first]?.[0] ?? ''}`);
  });
  for (const where of ['proxy', 'init'] as const) {
    if (!clean(`/${where}/resources`)) continue;
    for (const msg of requestLimitProblems(cfg[where].resources)) p.add(`${where}.resources`, msg);
  }
  if (clean('/proxy/env', { below: false })) {
    const envNames = new Set<string>();
    cfg.proxy.env.forEach((e, i) => {
      if (!clean(`/proxy/env/${i}`)) return;
      if ((RESERVED_PROXY_ENV as readonly string[]).includes(e.name)) p.add(`proxy.env[${i}]`, `${e.name} is set by siding itself (from the downward API)`);
      else if (envNames.has(e.name)) p.add(`proxy.env[${i}]`, `${e.name} is listed twice`);
      envNames.add(e.name);
    });
  }
  if (clean('/proxy/volumes', { below: false })) volumeProblems(cfg.proxy.volumes, p, clean);
  for (const field of ['neverInjectSelector', 'alwaysInjectSelector'] as const) {
    if (!clean(`/${field}`, { below: false })) continue;
    cfg[field].forEach((sel, i) => {
      if (!clean(`/${field}/${i}`)) return;
      const at = `${field}[${i}]`;
      if (Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0) {
        p.add(at, 'an empty selector would match every pod; use policy instead');
      }
      sel.matchExpressions.forEach((x, j) => {
        const takesValues = x.operator === 'In' || x.operator === 'NotIn';
        if (takesValues && x.values.length === 0) p.add(`${at}.matchExpressions[${j}]`, `operator ${x.operator} needs at least one value`);
        if (!takesValues && x.values.length > 0) p.add(`${at}.matchExpressions[${j}]`, `operator ${x.operator} takes no values`);
      });
    });
  }
}

function volumeProblems(volumes: readonly ProxyVolume[], p: Problems, clean: Clean): void {
  const names = new Set<string>();
  const paths = new Set<string>();
  volumes.forEach((v, i) => {
    if (!clean(`/proxy/volumes/${i}`)) return;
    const at = `proxy.volumes[${i}]`;
    if ((v.emptyDir as unknown) === null) v.emptyDir = {};
    if (v.emptyDir !== undefined && v.configMap !== undefined) p.add(at, 'has both emptyDir and configMap; choose one');
    if (v.emptyDir === undefined && v.configMap === undefined) p.add(at, 'needs a source: emptyDir or configMap');
    if (names.has(v.name)) p.add(at, `volume ${v.name} is listed twice`);
    else if (paths.has(v.mountPath)) p.add(at, `mount path ${v.mountPath} is used twice`);
    names.add(v.name);
    paths.add(v.mountPath);
  });
}
