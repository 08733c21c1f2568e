/**
 * The node's side of installing siding's CNI plugin, and of taking it out again: the plugin
 * executable in the CNI bin directory, siding's entry in the primary CNI configuration, and
 * a backup of that configuration's exact bytes (state directory) so that uninstalling puts
 * back byte for byte what was there. Decisions are chain.ts's; this file reads and writes.
 *
 * Every write goes to a dot-file in the same directory first and is renamed into place: the
 * runtime never reads half a file (it ignores dot-files and their extension), and a crash
 * leaves either the old or the new file.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CniError, errorMessage } from '../errors/index.js';
import { chainConfig, isChained, primaryConfig, unchainConfig, MAX_CONFIG_BYTES, type SidingEntry } from './chain.js';

export interface InstallPaths {
  /** The node's CNI bin directory as the agent sees it. */
  readonly binDir: string;
  /** The node's CNI configuration directory as the agent sees it. */
  readonly confDir: string;
  /** The configuration file to chain into; undefined: the runtime's choice (chain.ts). */
  readonly confFile: string | undefined;
  /** Persistent directory of the agent's own (the backup). */
  readonly stateDir: string;
  /** siding's plugin executable, in the agent's image. */
  readonly pluginSource: string;
}

/** The plugin's file name: the `type` of siding's chain entry. */
export const PLUGIN_FILE = 'siding';
const BACKUP_FILE = 'chain-backup.json';

/** What the backup remembers: the file as it was, and what siding wrote in its place. */
export interface ChainBackup {
  readonly original: { readonly file: string; readonly text: string; readonly mode: number };
  readonly written: { readonly file: string; readonly text: string };
}

export type ChainState = 'chained' | 'already-chained' | 'no-config';

function atomicWrite(dir: string, name: string, data: string | Buffer, mode: number): void {
  const tmp = join(dir, `.siding-${name}.tmp`);
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, join(dir, name));
}

function readText(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_CONFIG_BYTES) throw new CniError(`${path}: larger than ${MAX_CONFIG_BYTES} bytes`);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export class CniInstaller {
  constructor(
    private readonly paths: InstallPaths,
    private readonly entry: SidingEntry,
  ) {}

  /** Copies the plugin into the bin directory unless the same bytes are there already. */
  installPlugin(): 'installed' | 'unchanged' {
    let source: Buffer;
    try {
      source = readFileSync(this.paths.pluginSource);
    } catch (e) {
      throw new CniError(`cannot read the plugin executable ${this.paths.pluginSource}: ${errorMessage(e)}`, { cause: e });
    }
    const target = join(this.paths.binDir, PLUGIN_FILE);
    if (existsSync(target) && sha256(readFileSync(target)) === sha256(source)) return 'unchanged';
    try {
      atomicWrite(this.paths.binDir, PLUGIN_FILE, source, 0o755);
    } catch (e) {
      throw new CniError(`cannot install the plugin into ${this.paths.binDir}: ${errorMessage(e)}`, { cause: e });
    }
    return 'installed';
  }

  /** Removes the plugin executable (what installPlugin wrote). */
  removePlugin(): void {
    rmSync(join(this.paths.binDir, PLUGIN_FILE), { force: true });
  }

  /** The configuration file the runtime uses now, if any. */
  primary(): string | undefined {
    if (this.paths.confFile !== undefined) return existsSync(join(this.paths.confDir, this.paths.confFile)) ? this.paths.confFile : undefined;
    let names: string[];
    try {
      names = readdirSync(this.paths.confDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return primaryConfig(names);
  }

  readBackup(): ChainBackup | undefined {
    const text = readText(join(this.paths.stateDir, BACKUP_FILE));
    if (text === undefined) return undefined;
    try {
      const v = JSON.parse(text) as ChainBackup;
      if (typeof v.original?.file === 'string' && typeof v.original.text === 'string' && typeof v.written?.file === 'string' && typeof v.written.text === 'string') {
        return v;
      }
    } catch {
      // fall through: an unreadable backup is no backup
    }
    return undefined;
  }

  private writeBackup(b: ChainBackup): void {
    atomicWrite(this.paths.stateDir, BACKUP_FILE, `${JSON.stringify(b)}\n`, 0o600);
  }

  /**
   * Makes the primary configuration end with siding's entry. Another CNI that rewrote the
   * file (dropping siding's entry) is followed: its new text becomes the backup's original.
   */
  ensureChained(): ChainState {
    const file = this.primary();
    if (file === undefined) return 'no-config';
    const path = join(this.paths.confDir, file);
    const text = readText(path);
    if (text === undefined) return 'no-config';
    if (isChained(file, text, this.entry)) return 'already-chained';
    const plan = chainConfig(file, text, this.entry);
    if (plan.kind === 'unchanged') return 'already-chained';
    const previous = this.readBackup();
    // A file that already holds an entry of siding's (an older agent's) is not an original:
    // keep the original the backup has, or failing that, the file without siding's entry.
    const unchained = unchainConfig(file, text);
    const original =
      unchained.kind === 'unchanged'
        ? { file, text, mode: statSync(path).mode & 0o777 }
        : (previous?.original ?? { file, text: unchained.text, mode: statSync(path).mode & 0o777 });
    // The backup first: a crash between the two writes leaves a backup that still restores.
    this.writeBackup({ original, written: { file: plan.file, text: plan.text } });
    atomicWrite(this.paths.confDir, plan.file, plan.text, original.mode);
    if (plan.remove !== undefined && plan.remove !== plan.file) rmSync(join(this.paths.confDir, plan.remove), { force: true });
    return 'chained';
  }

  /**
   * Takes siding out: when the file is still exactly what siding wrote, the original bytes
   * (and name, and mode) come back; when another CNI changed it since, only siding's entry is
   * removed from it. Returns what was done.
   */
  unchain(): 'restored' | 'entry-removed' | 'nothing' {
    const backup = this.readBackup();
    const done = (result: 'restored' | 'entry-removed' | 'nothing'): typeof result => {
      rmSync(join(this.paths.stateDir, BACKUP_FILE), { force: true });
      return result;
    };
    if (backup !== undefined) {
      const current = readText(join(this.paths.confDir, backup.written.file));
      if (current === backup.written.text) {
        atomicWrite(this.paths.confDir, backup.original.file, backup.original.text, backup.original.mode);
        if (backup.original.file !== backup.written.file) rmSync(join(this.paths.confDir, backup.written.file), { force: true });
        return done('restored');
      }
      if (current !== undefined) return done(this.removeEntry(backup.written.file, current) ? 'entry-removed' : 'nothing');
    }
    const file = this.primary();
    const text = file === undefined ? undefined : readText(join(this.paths.confDir, file));
    if (file === undefined || text === undefined) return done('nothing');
    return done(this.removeEntry(file, text) ? 'entry-removed' : 'nothing');
  }

  private removeEntry(file: string, text: string): boolean {
    let plan;
    try {
      plan = unchainConfig(file, text);
    } catch {
      return false;
    }
    if (plan.kind === 'unchanged') return false;
    const mode = statSync(join(this.paths.confDir, file)).mode & 0o777;
    atomicWrite(this.paths.confDir, basename(plan.file), plan.text, mode);
    return true;
  }
}
