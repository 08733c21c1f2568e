import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { PROXY_FLAG_NAMES } from '../../src/proxy/flags.js';

describe('siding proxy on the command line', () => {
  it('is listed by siding --help', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /proxy \[options\]/);
  });

  it('documents every flag its parser reads in --help, with the default', async () => {
    const r = await runCli(['proxy', '--help']);
    assert.equal(r.code, 0);
    for (const flag of [...Object.values(PROXY_FLAG_NAMES), '--redirect-dns', '--exit-when-idle']) assert.ok(r.stdout.includes(flag), flag);
    assert.match(r.stdout, /--outbound-port <port>\s+where siding init redirects outbound TCP \(-p\)\s+\(default 15001\)/);
  });

  it('exits 2 naming the flag for a bad value, before listening', async () => {
    const r = await runCli(['proxy', '--drain-seconds', 'forever']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid value 'forever' for flag --drain-seconds/);
  });

  it('exits 1 when it would run as a user the redirect captures', async () => {
    const r = await runCli(['proxy', '--uid', '4242', '--gid', '4242', '--outbound-port', '0']);
    // --outbound-port 0 is refused first: flags are checked before anything else.
    assert.equal(r.code, 2);
    const wrong = await runCli(['proxy', '--uid', '4242', '--gid', '4242']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /runs as UID \d+ GID \d+, but the redirect lets through only UID 4242 \/ GID 4242/);
  });
});
