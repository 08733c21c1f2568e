/**
 * The webhook's default log destination batches lines (src/admission/logdest.ts). What it
 * must never do is lose a line a running or exiting process wrote: each case runs a real
 * Node process writing to a pipe, as stdout is in a container.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOGDEST = fileURLToPath(new URL('../../src/admission/logdest.ts', import.meta.url));

/** Runs `body` in a child with `dest` = batchedStdout(); resolves with its stdout once it exits, or with what it wrote so far when `until` matches. */
function child(body: string, until?: RegExp): Promise<{ stdout: string; code: number | null; signal: NodeJS.Signals | null }> {
  const script = `import { batchedStdout } from ${JSON.stringify(LOGDEST)};\nconst dest = batchedStdout();\n${body}\n`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (until !== undefined && until.test(stdout)) p.kill('SIGKILL');
    });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (until === undefined && code !== 0 && !/boom/.test(stderr)) reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve({ stdout, code, signal });
    });
  });
}

const lines = (n: number): string => `for (let i = 0; i < ${n}; i++) dest.write(JSON.stringify({ i, msg: 'admission review' }) + '\\n');`;

function indexes(stdout: string): number[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { i: number }).i);
}

describe('batched stdout log destination', () => {
  it('writes every line, in order, when the process exits normally', async () => {
    const r = await child(lines(5000));
    assert.deepEqual(indexes(r.stdout), Array.from({ length: 5000 }, (_, i) => i));
  });

  it('writes every line when the process dies of an uncaught exception', async () => {
    const r = await child(`${lines(37)}\nsetImmediate(() => { throw new Error('boom'); });`);
    assert.notEqual(r.code, 0);
    assert.deepEqual(indexes(r.stdout), Array.from({ length: 37 }, (_, i) => i));
  });

  it('delivers a lone line while the process keeps running, without waiting for more', { timeout: 30_000 }, async () => {
    // The child would run for a minute; the line must arrive long before (the periodic
    // flush), and the test kills the child as soon as it does.
    const r = await child(`${lines(1)}\nsetTimeout(() => {}, 60_000);`, /"i":0/);
    assert.equal(r.signal, 'SIGKILL');
    assert.deepEqual(indexes(r.stdout), [0]);
  });
});
