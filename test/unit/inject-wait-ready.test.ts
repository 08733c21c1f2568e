import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { DEFAULT_CONFIG, type InjectionConfig } from '../../src/config/index.js';
import { waitReadyCommand } from '../../src/inject/containers.js';
import { prerequisite, skipUnless } from '../helpers/prereq.js';

const run = promisify(execFile);
// The hook runs `bash` (its /dev/tcp makes curl unnecessary in the proxy image).
const bash = prerequisite(() =>
  (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'bash'))) ? undefined : 'bash is not installed',
);

test('the classic postStart hook waits until the health endpoint answers 200 on its readiness path', skipUnless(bash), async () => {
  let requests = 0;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    requests += 1;
    paths.push(req.url ?? '');
    res.statusCode = requests < 3 ? 503 : 200;
    res.end(requests < 3 ? 'not ready' : 'ready');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const config: InjectionConfig = { ...DEFAULT_CONFIG, proxy: { ...DEFAULT_CONFIG.proxy, healthPort: port } };
    const [cmd = '', ...args] = waitReadyCommand(config);
    const result = await run(cmd, args, { timeout: 30_000 });
    assert.equal(result.stderr, '');
    assert.ok(requests >= 3, `polled ${requests} times`);
    assert.ok(paths.every((p) => p === '/healthz/ready'), paths.join(','));
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
