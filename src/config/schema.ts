/**
 * The injection config as a JSON Schema (TypeBox), the one description of it: validation
 * compiles it (validate.ts), `InjectionConfig` is its static type (types.ts), and
 * docs/config.schema.json is its published form (`publishedSchema`), so editors can check
 * a config file as it is written.
 *
 * Every key is listed; unknown keys are errors. Defaults come from DEFAULT_CONFIG
 * (defaults.ts, the built-in config), written back in the file's syntax: a key that a file
 * leaves out gets the default value, so mappings merge key by key and scalars and lists
 * replace. Resource maps (`requests`, `limits`) carry their default as a whole, so a map
 * given in a file replaces the default map (`limits: {}` removes the limits).
 *
 * Strings that follow a grammar carry `x-siding-value`: the kind (kinds.ts) whose parser
 * checks them and whose typed value replaces them. `Type.Unsafe` declares that typed value.
 * `x-siding-check` runs a kind's parser without replacing anything (label keys and values).
 */
import { Type, type TSchema } from 'typebox';
import { formatCidrList, formatCidrSelection, formatPortList, formatPortSelection, MAX_LIST_ITEMS, type Cidr, type CidrSelection, type PortRange, type PortSelection } from '../grammar/index.js';
import { BUILT_IN as D, MAX_DRAIN_SECONDS, MAX_PROXY_CONNECTIONS } from './defaults.js';
import type { Kind } from './kinds.js';
import { MAX_IMAGE_CHARS, MAX_PATH_CHARS } from './values.js';

/** Highest UID/GID Kubernetes accepts in runAsUser/runAsGroup. */
const MAX_ID = 2147483647;
/** Longest plain string value (a command argument, an env value). */
const MAX_STRING_CHARS = 4096;
// Bounds on list lengths: far above any real config, low enough that a hostile file
// cannot make validation or injection slow.
const MAX_ENV = 256;
const MAX_VOLUMES = 32;
const MAX_SELECTORS = 64;

/** A string read by the parser of `kind`, typed as what that parser returns. */
function value<T>(kind: Kind, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T>({ type: 'string', maxLength: MAX_STRING_CHARS, 'x-siding-value': kind, ...options });
}

/** A redirect list: annotation syntax in a string, or a list of single values. */
function redirectList<T>(kind: Kind, defaultValue: string, description: string) {
  return Type.Unsafe<T>({
    type: ['string', 'array'],
    maxLength: MAX_STRING_CHARS * 16,
    maxItems: MAX_LIST_ITEMS,
    items: { type: ['string', 'integer'] },
    'x-siding-value': kind,
    default: defaultValue,
    description,
  });
}

const str = (options: Record<string, unknown> = {}) => Type.String({ maxLength: MAX_STRING_CHARS, ...options });
const int = (minimum: number, maximum: number, def: number, description?: string) =>
  Type.Integer({ minimum, maximum, default: def, ...(description === undefined ? {} : { description }) });
const port = (def: number, description: string) => int(1, 65535, def, description);
const strings = (def: readonly string[], options: Record<string, unknown> = {}) =>
  Type.Array(str(), { maxItems: MAX_LIST_ITEMS, default: [...def], ...options });
const pullPolicy = (def: string) => Type.Enum(['Always', 'IfNotPresent', 'Never'], { default: def });
const closed = <T extends Record<string, TSchema>>(properties: T, options: Record<string, unknown> = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

const resourceList = (def: { cpu?: string; memory?: string }) =>
  closed(
    {
      cpu: Type.Optional(value<string>('cpu', { description: 'A Kubernetes quantity: 100m, 0.5, 2.' })),
      memory: Type.Optional(value<string>('memory', { description: 'A Kubernetes quantity: 128Mi, 1Gi.' })),
    },
    { default: { ...def } },
  );

const resources = (def: typeof D.proxy.resources) =>
  closed({ requests: resourceList(def.requests), limits: resourceList(def.limits) }, { default: {} });

const EnvVar = closed({
  name: value<string>('envName'),
  value: str({ default: '' }),
});

const ProxyVolume = closed({
  name: value<string>('volumeName', { description: "Starts with 'siding-', so it cannot collide with the pod's own volumes." }),
  mountPath: value<string>('path', { maxLength: MAX_PATH_CHARS }),
  readOnly: Type.Boolean({ default: false }),
  // `emptyDir:` with nothing after it (null in YAML) is an emptyDir with no settings.
  emptyDir: Type.Optional(
    Type.Unsafe<{ medium?: 'Memory'; sizeLimit?: string }>({
      type: ['object', 'null'],
      additionalProperties: false,
      properties: { medium: { enum: ['Memory'] }, sizeLimit: { type: 'string', maxLength: MAX_STRING_CHARS, 'x-siding-value': 'memory' } },
    }),
  ),
  configMap: Type.Optional(closed({ name: value<string>('configMapName') })),
});

const LabelSelector = closed({
  matchLabels: Type.Unsafe<Record<string, string>>({
    type: 'object',
    default: {},
    propertyNames: { 'x-siding-check': 'labelKey' },
    additionalProperties: { type: 'string', 'x-siding-check': 'labelValue' },
  }),
  matchExpressions: Type.Array(
    closed({
      key: value<string>('labelKey'),
      operator: Type.Enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
      values: Type.Array(value<string>('labelValue'), { maxItems: MAX_LIST_ITEMS, default: [] }),
    }),
    { maxItems: MAX_SELECTORS, default: [] },
  ),
});

const selectors = (description: string) => Type.Array(LabelSelector, { maxItems: MAX_SELECTORS, default: [], description });

const r = D.redirect;
const p = D.proxy;

export const CONFIG_SCHEMA = closed(
  {
    policy: Type.Enum(['enabled', 'disabled'], { default: D.policy, description: 'enabled: inject unless a pod opts out; disabled: only pods that opt in.' }),
    sidingNamespace: value<string>('namespace', { default: D.sidingNamespace, description: "siding's own namespace; always excluded." }),
    excludedNamespaces: Type.Array(value<string>('namespace'), { maxItems: MAX_LIST_ITEMS, default: [...D.excludedNamespaces] }),
    neverInjectSelector: selectors('Pods matching any of these are never injected.'),
    alwaysInjectSelector: selectors('Pods matching any of these are injected even when policy is disabled.'),
    nativeSidecar: Type.Boolean({ default: D.nativeSidecar, description: 'Proxy as a native sidecar (an init container with restartPolicy Always).' }),
    holdApplicationUntilProxyStarts: Type.Boolean({ default: D.holdApplicationUntilProxyStarts, description: 'Classic layout only: the app containers wait for the proxy.' }),
    proxy: closed(
      {
        image: value<string>('image', { default: p.image }),
        imageOverridePrefixes: Type.Array(Type.String({ minLength: 1, maxLength: MAX_IMAGE_CHARS }), {
          maxItems: MAX_SELECTORS,
          default: [...p.imageOverridePrefixes],
          description:
            "Who may choose the proxy image with the siding.io/proxyImage annotation: nobody when empty (the default), any image with '*', or images starting with one of these prefixes (end them with '/' or ':').",
        }),
        imagePullPolicy: pullPolicy(p.imagePullPolicy),
        command: strings(p.command, { description: "Empty: the image's entrypoint. [siding, proxy]: siding computes that command's flags." }),
        args: strings(p.args),
        env: Type.Array(EnvVar, { maxItems: MAX_ENV, default: [] }),
        volumes: Type.Array(ProxyVolume, { maxItems: MAX_VOLUMES, default: p.volumes.map((v) => ({ ...v })) }),
        uid: int(1, MAX_ID, p.uid),
        gid: int(1, MAX_ID, p.gid),
        outboundPort: port(p.outboundPort, 'Outbound capture port (siding init -p).'),
        inboundPort: port(p.inboundPort, 'Inbound capture port (siding init -z).'),
        metricsPort: port(p.metricsPort, 'Prometheus metrics port of the proxy.'),
        healthPort: port(p.healthPort, 'Health port of the proxy.'),
        readinessPath: value<string>('path', { maxLength: MAX_PATH_CHARS, default: p.readinessPath }),
        drainSeconds: int(0, MAX_DRAIN_SECONDS, p.drainSeconds, 'After SIGTERM, how long open connections may go on.'),
        maxConnections: int(1, MAX_PROXY_CONNECTIONS, p.maxConnections, 'Open connections the proxy accepts at once.'),
        resources: resources(p.resources),
      },
      { default: {} },
    ),
    init: closed(
      {
        image: value<string>('image', { default: D.init.image }),
        imagePullPolicy: pullPolicy(D.init.imagePullPolicy),
        command: strings(D.init.command, { minItems: 1, errorMessage: { minItems: 'needs at least the program to run' } }),
        resources: resources(D.init.resources),
      },
      { default: {} },
    ),
    redirect: closed(
      {
        interceptionMode: value<'REDIRECT'>('interceptionMode', { default: r.interceptionMode }),
        includeInboundPorts: redirectList<PortSelection>('includeInboundPorts', formatPortSelection(r.includeInboundPorts), "Inbound ports captured: '*' for all."),
        excludeInboundPorts: redirectList<PortRange[]>('portRanges', formatPortList(r.excludeInboundPorts), 'Inbound ports (and a-b ranges) never captured.'),
        includeOutboundPorts: redirectList<PortRange[]>('singlePorts', formatPortList(r.includeOutboundPorts), 'Outbound ports always captured.'),
        excludeOutboundPorts: redirectList<PortRange[]>('portRanges', formatPortList(r.excludeOutboundPorts), 'Outbound ports (and a-b ranges) never captured.'),
        includeOutboundIPRanges: redirectList<CidrSelection>('cidrSelection', formatCidrSelection(r.includeOutboundIPRanges), "Outbound CIDRs captured: '*' for all."),
        excludeOutboundIPRanges: redirectList<Cidr[]>('cidrList', formatCidrList(r.excludeOutboundIPRanges), 'Outbound CIDRs never captured.'),
        excludeInterfaces: redirectList<string[]>('interfaceList', r.excludeInterfaces.join(','), 'Interfaces whose traffic is never captured.'),
        redirectDNS: Type.Boolean({ default: r.redirectDNS }),
        dnsPort: port(r.dnsPort, 'Port of the proxy DNS listener when redirectDNS is on.'),
      },
      { default: {} },
    ),
  },
  { title: 'siding injection config' },
);

/**
 * The schema as published (docs/config.schema.json): a key with a default is optional in a
 * file, and the `x-siding-value` kinds stay as annotations editors ignore.
 */
export function publishedSchema(): unknown {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = strip(v);
    const props = out.properties as Record<string, { default?: unknown }> | undefined;
    if (Array.isArray(out.required) && props !== undefined) {
      const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
      if (required.length === 0) delete out.required;
      else out.required = required;
    }
    return out;
  };
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...(strip(CONFIG_SCHEMA) as object) };
}
