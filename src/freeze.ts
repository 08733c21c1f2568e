/**
 * Deep freezing for values that are shared and must never change under their holders:
 * the built-in config, and the containers and volumes the engine shares between pods.
 */

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
