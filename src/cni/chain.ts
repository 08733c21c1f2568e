/**
 * Chaining siding into a node's CNI configuration, and taking it out again. Pure: file
 * names and texts in, the texts to write out.
 *
 * The runtime reads the first file of its CNI configuration directory, by name, whose
 * extension is `.conflist`, `.conf` or `.json` (containerd and CRI-O both go through
 * libcni's ConfFiles order). siding's entry goes last in that file's plugin list: every
 * plugin before it has set up the pod's interfaces (siding only reads prevResult and passes
 * it on). A single-plugin `.conf` (or `.json`) becomes a `.conflist` of the same base name
 * holding that plugin and siding's entry; the `.conf` itself must then go, or it would
 * still sort first.
 */
import { CniError } from '../errors/index.js';

export const PLUGIN_TYPE = 'siding';
/** The runtime capability under which containerd and CRI-O pass the pod's annotations. */
export const POD_ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';
/** File extensions the runtimes load, in libcni's list. */
export const CONFIG_EXTENSIONS = ['.conf', '.conflist', '.json'] as const;

// A node's CNI configuration is a few kilobytes; a megabyte is beyond any real one and keeps
// a corrupt or hostile file from costing much to parse.
export const MAX_CONFIG_BYTES = 1 << 20;

/** siding's entry in the chain; what the plugin reads (cni/plugin/conf.go). */
export interface SidingEntry {
  readonly type: typeof PLUGIN_TYPE;
  readonly socket: string;
  readonly timeoutSeconds: number;
  readonly capabilities: { readonly [POD_ANNOTATIONS_CAPABILITY]: true };
}

export function sidingEntry(socket: string, timeoutSeconds: number): SidingEntry {
  return { type: PLUGIN_TYPE, socket, timeoutSeconds, capabilities: { [POD_ANNOTATIONS_CAPABILITY]: true } };
}

/** What to do to the configuration directory. */
export interface ChainWrite {
  /** The file to write (a `.conflist`). */
  readonly file: string;
  readonly text: string;
  /** A file to remove once `file` is written (the `.conf` that became `file`). */
  readonly remove?: string;
}

export type ChainPlan = { readonly kind: 'unchanged' } | ({ readonly kind: 'write' } & ChainWrite);

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? '' : name.slice(dot);
}

/** Whether the runtime would load this file name. */
export function isConfigFile(name: string): boolean {
  return !name.startsWith('.') && (CONFIG_EXTENSIONS as readonly string[]).includes(extensionOf(name));
}

/** The file the runtime uses: the first config file by name (byte order, as Go sorts). */
export function primaryConfig(names: readonly string[]): string | undefined {
  return names.filter(isConfigFile).sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b)))).at(0);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parse(file: string, text: string): Json {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new CniError(`${file}: larger than ${MAX_CONFIG_BYTES} bytes; not a CNI configuration siding can chain into`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CniError(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)}); siding leaves it alone`);
  }
  if (!isObject(v)) throw new CniError(`${file}: not a JSON object; siding leaves it alone`);
  return v;
}

function render(v: Json): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

const isSiding = (p: unknown): boolean => isObject(p) && p.type === PLUGIN_TYPE;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Chains siding into `file`. A conflist keeps every other key and plugin as it was; an
 * entry of siding's already there is replaced by `entry` at the end (so a changed socket or
 * timeout takes effect); when that changes nothing, the plan is `unchanged`.
 */
export function chainConfig(file: string, text: string, entry: SidingEntry): ChainPlan {
  const conf = parse(file, text);
  if (extensionOf(file) === '.conflist') {
    const plugins = conf.plugins;
    if (!Array.isArray(plugins) || plugins.length === 0 || !plugins.every(isObject)) {
      throw new CniError(`${file}: a .conflist needs a non-empty "plugins" list of objects; siding leaves it alone`);
    }
    const others = plugins.filter((p) => !isSiding(p));
    if (others.length === 0) throw new CniError(`${file}: holds no plugin but siding's; siding must follow the plugin that sets up the pod's interface`);
    const next = [...others, entry];
    if (sameJson(next, plugins)) return { kind: 'unchanged' };
    return { kind: 'write', file, text: render({ ...conf, plugins: next }) };
  }
  if (typeof conf.type !== 'string' || conf.type === '') throw new CniError(`${file}: a single-plugin configuration needs a "type"; siding leaves it alone`);
  if (conf.type === PLUGIN_TYPE) throw new CniError(`${file}: is siding's own entry alone; siding must follow the plugin that sets up the pod's interface`);
  const list: Json = {};
  if (conf.cniVersion !== undefined) list.cniVersion = conf.cniVersion;
  if (conf.name !== undefined) list.name = conf.name;
  list.plugins = [conf, entry];
  const base = file.slice(0, file.length - extensionOf(file).length);
  return { kind: 'write', file: `${base}.conflist`, text: render(list), remove: file };
}

/**
 * Takes siding's entries out of a conflist (the semantic undo, for a file another CNI
 * rewrote after siding chained into it: the exact bytes from before are no longer the
 * right answer). `unchanged` when there is none.
 */
export function unchainConfig(file: string, text: string): ChainPlan {
  const conf = parse(file, text);
  const plugins = conf.plugins;
  if (!Array.isArray(plugins) || !plugins.some(isSiding)) return { kind: 'unchanged' };
  return { kind: 'write', file, text: render({ ...conf, plugins: plugins.filter((p) => !isSiding(p)) }) };
}

/** Whether a configuration text already has siding's entry, exactly `entry`, last. */
export function isChained(file: string, text: string, entry: SidingEntry): boolean {
  try {
    const conf = parse(file, text);
    return Array.isArray(conf.plugins) && sameJson(conf.plugins.at(-1), entry) && conf.plugins.filter(isSiding).length === 1;
  } catch {
    return false;
  }
}
