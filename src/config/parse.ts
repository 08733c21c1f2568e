/**
 * Injection config files: YAML or JSON, one document, then validated and merged over the
 * default by the schema (validate.ts), which reports every problem at once.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { ConfigError, errorMessage } from '../errors/index.js';
import type { InjectionConfig } from './types.js';
import { configFromValue } from './validate.js';

/** A config file larger than this is not a config file; refuse before parsing it. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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
