/**
 * What a config source reports about itself; shown by /readyz and the
 * siding_webhook_config_ok metric. Its own module so that app.ts and metrics.ts both import
 * it without importing each other.
 */
export interface ConfigStatus {
  /** true while there is a valid config to serve with (perhaps an older one, see lastError). */
  ok: boolean;
  /** Where the config comes from, e.g. "built-in default", "file /etc/siding/config.yaml". */
  detail: string;
  /** Why the most recent update was rejected, if it was. */
  lastError?: string;
}
