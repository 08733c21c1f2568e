/**
 * What `kubectl apply -k manifests/` installs and the testenv serves, and the CLI the
 * testenv runs. No side effects (cluster.ts checks the e2e prerequisites when imported;
 * the bench imports this instead).
 */
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url));

export const SIDING = {
  namespace: 'siding-system',
  service: 'siding',
  webhookConfig: 'siding',
  webhookName: 'inject.siding.io',
  certSecret: 'siding-certs',
  configMap: 'siding-config',
  configKey: 'config.yaml',
  injectionLabel: { 'siding-injection': 'enabled' },
} as const;
