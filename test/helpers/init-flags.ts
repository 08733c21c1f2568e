/**
 * `parseInitFlags` for unit tests: no environment variable of the test runner leaks in, and
 * the container's files are fixed (a resolv.conf naming one nameserver, no /etc/passwd).
 */
import type { InitOptions } from '../../src/redirect/config.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import { parseInitFlags } from '../../src/redirect/options.js';

export const TEST_RESOLV_CONF = 'nameserver 10.96.0.10\nnameserver fd00:10:96::a\nsearch default.svc.cluster.local\n';

export interface TestParseEnv {
  exists?: (path: string) => boolean;
  files?: Record<string, string>;
  environment?: Record<string, string>;
}

export function parseTestFlags(raw: RawInitFlags, env: TestParseEnv = {}): InitOptions {
  const files: Record<string, string> = { '/etc/resolv.conf': TEST_RESOLV_CONF, ...env.files };
  return parseInitFlags(raw, { exists: env.exists ?? (() => true), readFile: (p) => files[p], environment: env.environment ?? {} });
}
