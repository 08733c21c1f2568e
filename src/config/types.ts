/**
 * The typed injection config: the static type of the config schema (schema.ts), after
 * validation has filled in the defaults and replaced every grammar string by its typed
 * value. Every value here has been validated (or is the built-in default); nothing
 * downstream re-parses strings.
 */
import type { Static } from 'typebox';
import type { CONFIG_SCHEMA } from './schema.js';

export type InjectionConfig = Static<typeof CONFIG_SCHEMA>;
export type ProxyConfig = InjectionConfig['proxy'];
export type InitConfig = InjectionConfig['init'];
/**
 * The config's `redirect` section: what every injected pod's `siding init` is told, unless
 * the pod's annotations say otherwise. (`siding init`'s own typed options are
 * src/redirect's `RedirectConfig`.)
 */
export type RedirectDefaults = InjectionConfig['redirect'];
export type Resources = ProxyConfig['resources'];
export type ResourceList = Resources['requests'];
export type EnvVar = ProxyConfig['env'][number];
/** A volume siding adds to the pod and mounts into the proxy: emptyDir or configMap. Names start with `siding-`. */
export type ProxyVolume = ProxyConfig['volumes'][number];
/** Kubernetes label selector semantics: every matchLabels entry and every expression must hold. */
export type LabelSelector = InjectionConfig['neverInjectSelector'][number];
export type LabelSelectorRequirement = LabelSelector['matchExpressions'][number];
export type PullPolicy = ProxyConfig['imagePullPolicy'];
export type InterceptionMode = RedirectDefaults['interceptionMode'];
