/**
 * Injection config files: YAML or JSON, merged over DEFAULT_CONFIG (mappings merge,
 * scalars and lists replace), validated in one pass that collects every problem.
 * Unknown keys are errors: a misspelt key silently ignored is a config that lies.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { ConfigError, errorMessage, ProblemList } from '../errors/index.js';
import { DEFAULT_CONFIG, MAX_DRAIN_SECONDS, MAX_PROXY_CONNECTIONS, XTABLES_LOCK_VOLUME } from './defaults.js';
import {
  displayValue,
  editDistance,
  MAX_LIST_ITEMS,
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
import type {
  EnvVar,
  InjectionConfig,
  LabelSelector,
  LabelSelectorRequirement,
  ProxyVolume,
  PullPolicy,
  ResourceList,
  Resources,
} from './types.js';
import {
  isDnsLabel,
  isLabelKey,
  isLabelValue,
  MAX_PATH_CHARS,
  parseAbsolutePath,
  parseImage,
  parseInterceptionMode,
  parseQuantity,
  quantityValue,
} from './values.js';

/** A config file larger than this is not a config file; refuse before parsing it. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Highest UID/GID Kubernetes accepts in runAsUser/runAsGroup. */
const MAX_ID = 2147483647;
/** Env names siding sets itself on the proxy. */
export const RESERVED_PROXY_ENV = ['POD_NAME', 'POD_NAMESPACE', 'INSTANCE_IP'] as const;
export { XTABLES_LOCK_VOLUME } from './defaults.js';

/** The same port syntax as the annotations (src/inject/annotations.ts). */
const SINGLE_PORTS = { syntax: STRICT, ranges: false } as const;
const PORT_RANGES = { syntax: STRICT, ranges: true } as const;

type Mutable<T> = T extends readonly (infer U)[]
  ? Mutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Mutable<T[K]> }
    : T;

/** Every problem of one file, bounded (ProblemList); a message function runs only when shown. */
class Problems {
  readonly list = new ProblemList();
  constructor(private readonly source: string) {}
  add(path: string, message: string | (() => string)): void {
    this.list.add(() => `${this.source}: ${path === '' ? '(top level)' : path}: ${typeof message === 'string' ? message : message()}`);
  }
}

type Handler = (value: unknown, path: string) => void;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** Walks a mapping; every key must have a handler. */
function fields(p: Problems, value: unknown, path: string, handlers: Record<string, Handler>): void {
  if (!isRecord(value)) {
    p.add(path, `must be a mapping, got ${typeName(value)}`);
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const at = join(path, displayValue(key));
    if (!Object.hasOwn(handlers, key)) {
      p.add(at, () => {
        const near = Object.keys(handlers).find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
        return `unknown key${near === undefined ? '' : ` (did you mean '${near}'?)`}; known keys: ${Object.keys(handlers).join(', ')}`;
      });
      continue;
    }
    handlers[key]?.(v, at);
  }
}

function str(p: Problems, v: unknown, path: string, maxLen = 4096): string | undefined {
  if (typeof v !== 'string') {
    p.add(path, `must be a string, got ${typeName(v)}`);
    return undefined;
  }
  if (v.length > maxLen) {
    p.add(path, `is longer than ${maxLen} characters`);
    return undefined;
  }
  return v;
}

function int(p: Problems, v: unknown, path: string, min: number, max: number): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.add(path, `must be an integer from ${min} to ${max}, got ${typeof v === 'number' ? String(v) : typeName(v)}`);
    return undefined;
  }
  return v;
}

function port(p: Problems, v: unknown, path: string): number | undefined {
  return int(p, v, path, 1, 65535);
}

function bool(p: Problems, v: unknown, path: string): boolean | undefined {
  if (typeof v !== 'boolean') {
    p.add(path, `must be true or false, got ${typeName(v)}`);
    return undefined;
  }
  return v;
}

function oneOf<T extends string>(p: Problems, v: unknown, path: string, allowed: readonly T[]): T | undefined {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    p.add(path, `must be one of ${allowed.join(', ')}, got ${typeof v === 'string' ? `'${displayValue(v)}'` : typeName(v)}`);
    return undefined;
  }
  return v as T;
}

function list(p: Problems, v: unknown, path: string, max = MAX_LIST_ITEMS): unknown[] | undefined {
  if (!Array.isArray(v)) {
    p.add(path, `must be a list, got ${typeName(v)}`);
    return undefined;
  }
  if (v.length > max) {
    p.add(path, `has ${v.length} items; at most ${max} are allowed`);
    return undefined;
  }
  return v as unknown[];
}

function stringList(p: Problems, v: unknown, path: string): string[] | undefined {
  const items = list(p, v, path);
  if (items === undefined) return undefined;
  const out: string[] = [];
  let good = true;
  items.forEach((item, i) => {
    const s = str(p, item, join(path, i));
    if (s === undefined) good = false;
    else out.push(s);
  });
  return good ? out : undefined;
}

/**
 * Redirect lists are written either in annotation syntax (`"80,443"`, `"*"`) or as a YAML
 * list (`[80, 443]`); both go through the annotation parser so they mean the same thing.
 */
function listText(p: Problems, v: unknown, path: string): string | undefined {
  if (typeof v === 'string') return v;
  const items = list(p, v, path);
  if (items === undefined) return undefined;
  const parts: string[] = [];
  for (const [i, item] of items.entries()) {
    if ((typeof item !== 'string' && typeof item !== 'number') || String(item).includes(',')) {
      p.add(join(path, i), `must be a single value (string or number), got ${typeof item === 'string' ? `'${displayValue(item)}'` : typeName(item)}`);
      return undefined;
    }
    parts.push(String(item));
  }
  if (parts.length === 0) return '';
  // An explicit list with a lone '*' means everything, like the string form.
  return parts.join(',');
}

function viaParser<T>(p: Problems, v: unknown, path: string, parse: (s: string) => Parsed<T>): T | undefined {
  const text = listText(p, v, path);
  if (text === undefined) return undefined;
  const r = parse(text);
  if (!r.ok) {
    p.add(path, r.reason);
    return undefined;
  }
  return r.value;
}

function image(p: Problems, v: unknown, path: string): string | undefined {
  const s = str(p, v, path);
  if (s === undefined) return undefined;
  const r = parseImage(s);
  if (!r.ok) p.add(path, `'${displayValue(s)}': ${r.reason}`);
  return r.ok ? r.value : undefined;
}

const PULL_POLICIES: readonly PullPolicy[] = ['Always', 'IfNotPresent', 'Never'];

function resourceList(p: Problems, v: unknown, path: string, into: ResourceList): void {
  fields(p, v, path, {
    cpu: (x, at) => {
      const s = str(p, x, at);
      if (s === undefined) return;
      const r = parseQuantity(s, 'cpu');
      if (r.ok) into.cpu = r.value;
      else p.add(at, r.reason);
    },
    memory: (x, at) => {
      const s = str(p, x, at);
      if (s === undefined) return;
      const r = parseQuantity(s, 'memory');
      if (r.ok) into.memory = r.value;
      else p.add(at, r.reason);
    },
  });
}

/** requests and limits are replaced as a whole when given, so `limits: {}` removes limits. */
function resources(p: Problems, v: unknown, path: string, into: Mutable<Resources>): void {
  fields(p, v, path, {
    requests: (x, at) => {
      const next: ResourceList = {};
      resourceList(p, x, at, next);
      into.requests = next;
    },
    limits: (x, at) => {
      const next: ResourceList = {};
      resourceList(p, x, at, next);
      into.limits = next;
    },
  });
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

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
function absolutePath(p: Problems, v: unknown, path: string): string | undefined {
  const s = str(p, v, path, MAX_PATH_CHARS);
  if (s === undefined) return undefined;
  const r = parseAbsolutePath(s);
  if (!r.ok) p.add(path, r.reason);
  return r.ok ? r.value : undefined;
}

function envList(p: Problems, v: unknown, path: string): EnvVar[] | undefined {
  const items = list(p, v, path, 256);
  if (items === undefined) return undefined;
  const out: EnvVar[] = [];
  items.forEach((item, i) => {
    const at = join(path, i);
    let name: string | undefined;
    let value: string | undefined;
    fields(p, item, at, {
      name: (x, a) => {
        name = str(p, x, a, 256);
        if (name !== undefined && !ENV_NAME.test(name)) {
          p.add(a, `'${displayValue(name)}' is not an environment variable name`);
          name = undefined;
        }
      },
      value: (x, a) => {
        value = str(p, x, a);
      },
    });
    if (isRecord(item) && !('name' in item)) p.add(at, 'needs a name');
    if (name === undefined) return;
    if ((RESERVED_PROXY_ENV as readonly string[]).includes(name)) {
      p.add(at, `${name} is set by siding itself (from the downward API)`);
      return;
    }
    if (out.some((e) => e.name === name)) p.add(at, `${name} is listed twice`);
    else out.push({ name, value: value ?? '' });
  });
  return out;
}

function volumeList(p: Problems, v: unknown, path: string): ProxyVolume[] | undefined {
  const items = list(p, v, path, 32);
  if (items === undefined) return undefined;
  const out: ProxyVolume[] = [];
  items.forEach((item, i) => {
    const at = join(path, i);
    const vol: Partial<Mutable<ProxyVolume>> = { readOnly: false };
    fields(p, item, at, {
      name: (x, a) => {
        const s = str(p, x, a);
        if (s === undefined) return;
        if (!isDnsLabel(s) || !s.startsWith('siding-')) {
          p.add(a, `'${displayValue(s)}' must be a DNS label starting with 'siding-' (so it cannot collide with the pod's own volumes)`);
        } else if (s === XTABLES_LOCK_VOLUME) {
          p.add(a, `${s} is added by siding itself`);
        } else vol.name = s;
      },
      mountPath: (x, a) => {
        const s = absolutePath(p, x, a);
        if (s !== undefined) vol.mountPath = s;
      },
      readOnly: (x, a) => {
        const b = bool(p, x, a);
        if (b !== undefined) vol.readOnly = b;
      },
      emptyDir: (x, a) => {
        const ed: { medium?: 'Memory'; sizeLimit?: string } = {};
        fields(p, x ?? {}, a, {
          medium: (m, am) => {
            const s = oneOf(p, m, am, ['Memory']);
            if (s !== undefined) ed.medium = s;
          },
          sizeLimit: (m, am) => {
            const s = str(p, m, am);
            if (s === undefined) return;
            const r = parseQuantity(s, 'memory');
            if (r.ok) ed.sizeLimit = r.value;
            else p.add(am, r.reason);
          },
        });
        vol.source = { emptyDir: ed };
      },
      configMap: (x, a) => {
        let name: string | undefined;
        fields(p, x, a, {
          name: (m, am) => {
            const s = str(p, m, am);
            if (s !== undefined && (s.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s))) {
              p.add(am, `'${displayValue(s)}' is not a ConfigMap name`);
            } else name = s;
          },
        });
        if (name === undefined) p.add(a, 'needs a name');
        else vol.source = { configMap: { name } };
      },
    });
    if (!isRecord(item)) return;
    if ('emptyDir' in item && 'configMap' in item) p.add(at, 'has both emptyDir and configMap; choose one');
    if (!('name' in item)) p.add(at, 'needs a name');
    if (!('mountPath' in item)) p.add(at, 'needs a mountPath');
    if (!('emptyDir' in item) && !('configMap' in item)) p.add(at, 'needs a source: emptyDir or configMap');
    if (vol.name === undefined || vol.mountPath === undefined || vol.source === undefined) return;
    if (out.some((o) => o.name === vol.name)) p.add(at, `volume ${vol.name} is listed twice`);
    else if (out.some((o) => o.mountPath === vol.mountPath)) p.add(at, `mount path ${vol.mountPath} is used twice`);
    else out.push({ name: vol.name, mountPath: vol.mountPath, readOnly: vol.readOnly ?? false, source: vol.source });
  });
  return out;
}

function selectorList(p: Problems, v: unknown, path: string): LabelSelector[] | undefined {
  const items = list(p, v, path, 64);
  if (items === undefined) return undefined;
  const out: LabelSelector[] = [];
  items.forEach((item, i) => {
    const at = join(path, i);
    const before = p.list.count;
    const matchLabels: Record<string, string> = {};
    const matchExpressions: LabelSelectorRequirement[] = [];
    fields(p, item, at, {
      matchLabels: (x, a) => {
        if (!isRecord(x)) {
          p.add(a, `must be a mapping, got ${typeName(x)}`);
          return;
        }
        for (const [k, val] of Object.entries(x)) {
          const ak = join(a, displayValue(k));
          if (!isLabelKey(k)) p.add(ak, 'is not a valid label key');
          else if (typeof val !== 'string' || !isLabelValue(val)) {
            p.add(ak, `must be a label value (string, at most 63 letters, digits, '-', '_', '.'), got ${typeof val === 'string' ? `'${displayValue(val)}'` : typeName(val)}`);
          } else matchLabels[k] = val;
        }
      },
      matchExpressions: (x, a) => {
        const exprs = list(p, x, a, 64);
        exprs?.forEach((e, j) => {
          const ae = join(a, j);
          const req: Partial<Mutable<LabelSelectorRequirement>> = { values: [] };
          fields(p, e, ae, {
            key: (k, ak) => {
              const s = str(p, k, ak);
              if (s !== undefined && isLabelKey(s)) req.key = s;
              else if (s !== undefined) p.add(ak, `'${displayValue(s)}' is not a valid label key`);
            },
            operator: (o, ao) => {
              const s = oneOf(p, o, ao, ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
              if (s !== undefined) req.operator = s;
            },
            values: (vs, av) => {
              const s = stringList(p, vs, av);
              if (s === undefined) return;
              const badValue = s.find((x2) => !isLabelValue(x2));
              if (badValue !== undefined) p.add(av, `'${displayValue(badValue)}' is not a label value`);
              else req.values = s;
            },
          });
          if (req.key === undefined || req.operator === undefined) {
            if (isRecord(e) && !('key' in e && 'operator' in e)) p.add(ae, 'needs a key and an operator');
            return;
          }
          const values = req.values ?? [];
          if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
            p.add(ae, `operator ${req.operator} needs at least one value`);
          } else if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
            p.add(ae, `operator ${req.operator} takes no values`);
          } else matchExpressions.push({ key: req.key, operator: req.operator, values });
        });
      },
    });
    if (Object.keys(matchLabels).length === 0 && matchExpressions.length === 0) {
      // Report an empty selector only when nothing else about it was already reported.
      if (p.list.count === before) p.add(at, 'an empty selector would match every pod; use policy instead');
      return;
    }
    out.push({ matchLabels, matchExpressions });
  });
  return out;
}

function namespaceList(p: Problems, v: unknown, path: string): string[] | undefined {
  const names = stringList(p, v, path);
  if (names === undefined) return undefined;
  const bad = names.find((n) => !isDnsLabel(n));
  if (bad !== undefined) {
    p.add(path, `'${displayValue(bad)}' is not a namespace name`);
    return undefined;
  }
  return [...new Set(names)];
}

/** Validates a parsed YAML/JSON value and merges it over the default. */
export function configFromValue(raw: unknown, source: string): InjectionConfig {
  const p = new Problems(source);
  const cfg = structuredClone(DEFAULT_CONFIG) as Mutable<InjectionConfig>;
  const set = <T>(assign: (v: T) => void) => (v: T | undefined) => {
    if (v !== undefined) assign(v);
  };

  const top = raw === null || raw === undefined ? {} : raw;
  fields(p, top, '', {
    policy: (v, at) => set<'enabled' | 'disabled'>((x) => (cfg.policy = x))(oneOf(p, v, at, ['enabled', 'disabled'] as const)),
    sidingNamespace: (v, at) => {
      const s = str(p, v, at);
      if (s !== undefined && !isDnsLabel(s)) p.add(at, `'${displayValue(s)}' is not a namespace name`);
      else if (s !== undefined) cfg.sidingNamespace = s;
    },
    excludedNamespaces: (v, at) => set<string[]>((x) => (cfg.excludedNamespaces = x))(namespaceList(p, v, at)),
    neverInjectSelector: (v, at) => set<LabelSelector[]>((x) => (cfg.neverInjectSelector = x as Mutable<LabelSelector>[]))(selectorList(p, v, at)),
    alwaysInjectSelector: (v, at) => set<LabelSelector[]>((x) => (cfg.alwaysInjectSelector = x as Mutable<LabelSelector>[]))(selectorList(p, v, at)),
    nativeSidecar: (v, at) => set<boolean>((x) => (cfg.nativeSidecar = x))(bool(p, v, at)),
    holdApplicationUntilProxyStarts: (v, at) => set<boolean>((x) => (cfg.holdApplicationUntilProxyStarts = x))(bool(p, v, at)),
    proxy: (v, at) =>
      fields(p, v, at, {
        image: (x, a) => set<string>((y) => (cfg.proxy.image = y))(image(p, x, a)),
        imagePullPolicy: (x, a) => set<PullPolicy>((y) => (cfg.proxy.imagePullPolicy = y))(oneOf(p, x, a, PULL_POLICIES)),
        command: (x, a) => set<string[]>((y) => (cfg.proxy.command = y))(stringList(p, x, a)),
        args: (x, a) => set<string[]>((y) => (cfg.proxy.args = y))(stringList(p, x, a)),
        env: (x, a) => set<EnvVar[]>((y) => (cfg.proxy.env = y))(envList(p, x, a)),
        volumes: (x, a) => set<ProxyVolume[]>((y) => (cfg.proxy.volumes = y as Mutable<ProxyVolume>[]))(volumeList(p, x, a)),
        uid: (x, a) => set<number>((y) => (cfg.proxy.uid = y))(int(p, x, a, 1, MAX_ID)),
        gid: (x, a) => set<number>((y) => (cfg.proxy.gid = y))(int(p, x, a, 1, MAX_ID)),
        outboundPort: (x, a) => set<number>((y) => (cfg.proxy.outboundPort = y))(port(p, x, a)),
        inboundPort: (x, a) => set<number>((y) => (cfg.proxy.inboundPort = y))(port(p, x, a)),
        metricsPort: (x, a) => set<number>((y) => (cfg.proxy.metricsPort = y))(port(p, x, a)),
        healthPort: (x, a) => set<number>((y) => (cfg.proxy.healthPort = y))(port(p, x, a)),
        readinessPath: (x, a) => set<string>((y) => (cfg.proxy.readinessPath = y))(absolutePath(p, x, a)),
        drainSeconds: (x, a) => set<number>((y) => (cfg.proxy.drainSeconds = y))(int(p, x, a, 0, MAX_DRAIN_SECONDS)),
        maxConnections: (x, a) => set<number>((y) => (cfg.proxy.maxConnections = y))(int(p, x, a, 1, MAX_PROXY_CONNECTIONS)),
        resources: (x, a) => resources(p, x, a, cfg.proxy.resources),
      }),
    init: (v, at) =>
      fields(p, v, at, {
        image: (x, a) => set<string>((y) => (cfg.init.image = y))(image(p, x, a)),
        imagePullPolicy: (x, a) => set<PullPolicy>((y) => (cfg.init.imagePullPolicy = y))(oneOf(p, x, a, PULL_POLICIES)),
        command: (x, a) => {
          const c = stringList(p, x, a);
          if (c !== undefined && c.length === 0) p.add(a, 'needs at least the program to run');
          else if (c !== undefined) cfg.init.command = c;
        },
        resources: (x, a) => resources(p, x, a, cfg.init.resources),
      }),
    redirect: (v, at) =>
      fields(p, v, at, {
        interceptionMode: (x, a) => {
          const s = str(p, x, a);
          if (s === undefined) return;
          const r = parseInterceptionMode(s);
          if (r.ok) cfg.redirect.interceptionMode = r.value;
          else p.add(a, r.reason);
        },
        includeInboundPorts: (x, a) =>
          set<PortSelection>((y) => (cfg.redirect.includeInboundPorts = y as Mutable<PortSelection>))(viaParser(p, x, a, (s) => parsePortSelection(s, SINGLE_PORTS))),
        excludeInboundPorts: (x, a) =>
          set<PortRange[]>((y) => (cfg.redirect.excludeInboundPorts = y))(viaParser(p, x, a, (s) => parsePortList(s, PORT_RANGES))),
        includeOutboundPorts: (x, a) =>
          set<PortRange[]>((y) => (cfg.redirect.includeOutboundPorts = y))(viaParser(p, x, a, (s) => parsePortList(s, SINGLE_PORTS))),
        excludeOutboundPorts: (x, a) =>
          set<PortRange[]>((y) => (cfg.redirect.excludeOutboundPorts = y))(viaParser(p, x, a, (s) => parsePortList(s, PORT_RANGES))),
        includeOutboundIPRanges: (x, a) =>
          set<CidrSelection>((y) => (cfg.redirect.includeOutboundIPRanges = y as Mutable<CidrSelection>))(viaParser(p, x, a, (s) => parseCidrSelection(s, STRICT))),
        excludeOutboundIPRanges: (x, a) =>
          set<Cidr[]>((y) => (cfg.redirect.excludeOutboundIPRanges = y))(viaParser(p, x, a, (s) => parseCidrList(s, STRICT))),
        excludeInterfaces: (x, a) =>
          set<string[]>((y) => (cfg.redirect.excludeInterfaces = y))(viaParser(p, x, a, (s) => parseInterfaceList(s, STRICT))),
        redirectDNS: (x, a) => set<boolean>((y) => (cfg.redirect.redirectDNS = y))(bool(p, x, a)),
        dnsPort: (x, a) => set<number>((y) => (cfg.redirect.dnsPort = y))(port(p, x, a)),
      }),
  });

  // Cross-field rules, checked on the merged result.
  const ports: [string, number][] = [
    ['proxy.outboundPort', cfg.proxy.outboundPort],
    ['proxy.inboundPort', cfg.proxy.inboundPort],
    ['proxy.metricsPort', cfg.proxy.metricsPort],
    ['proxy.healthPort', cfg.proxy.healthPort],
  ];
  if (cfg.redirect.redirectDNS) ports.push(['redirect.dnsPort', cfg.redirect.dnsPort]);
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [ni, pi] = ports[i] ?? ['', 0];
      const [nj, pj] = ports[j] ?? ['', 0];
      if (pi === pj) p.add(nj, `port ${pj} is already used by ${ni}`);
    }
  }
  for (const where of ['proxy', 'init'] as const) {
    for (const msg of requestLimitProblems(cfg[where].resources)) p.add(`${where}.resources`, msg);
  }
  const mountPaths = cfg.proxy.volumes.map((v) => v.mountPath);
  if (new Set(mountPaths).size !== mountPaths.length) p.add('proxy.volumes', 'two volumes share a mount path');

  if (p.list.count > 0) throw new ConfigError(p.list);
  return cfg;
}

/**
 * Parses an injection config (YAML or JSON; JSON is YAML). An empty document is the
 * default config. Throws ConfigError listing every problem found.
 */
export function parseConfig(text: string, source: string): InjectionConfig {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) {
    throw new ConfigError([`${source}: larger than ${MAX_CONFIG_BYTES} bytes`]);
  }
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new ConfigError([`${source}: not a YAML document`]);
  if (docs.length > 1) throw new ConfigError([`${source}: holds ${docs.length} YAML documents; a config is one document`]);
  const doc = docs[0];
  if (doc === undefined) return configFromValue({}, source);
  const yamlErrors = [...doc.errors, ...doc.warnings].map((e) => `${source}: ${e.message.split('\n')[0] ?? e.message}`);
  if (yamlErrors.length > 0) throw new ConfigError(yamlErrors);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError([`${source}: ${errorMessage(e)}`], { cause: e });
  }
  return configFromValue(value, source);
}

/** Reads and parses a config file. Throws ConfigError when it cannot be read or is invalid. */
export async function loadConfigFile(path: string): Promise<InjectionConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`${path}: cannot read: ${errorMessage(e)}`], { cause: e });
  }
  return parseConfig(text, path);
}
