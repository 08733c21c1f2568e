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
export { configFromValue, loadConfigFile, MAX_CONFIG_BYTES, parseConfig, RESERVED_PROXY_ENV, XTABLES_LOCK_VOLUME } from './parse.js';
