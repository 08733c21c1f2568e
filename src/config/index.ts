/** Public surface of src/config: the typed injection config, its default, its parser. */
export type {
  EnvVar,
  InitConfig,
  InjectionConfig,
  InterceptionMode,
  LabelSelector,
  LabelSelectorRequirement,
  ProxyConfig,
  ProxyVolume,
  PullPolicy,
  RedirectDefaults,
  ResourceList,
  Resources,
} from './types.js';
export { DEFAULT_CONFIG } from './defaults.js';
export { loadConfigFile, MAX_CONFIG_BYTES, parseConfig } from './parse.js';
export { configFromValue, RESERVED_PROXY_ENV } from './validate.js';
export { XTABLES_LOCK_VOLUME } from './defaults.js';
export { CONFIG_SCHEMA, publishedSchema } from './schema.js';
