/**
 * What a user sees when a command fails: siding's own errors by their message and what to act
 * on, anything else (a bug) with its stack, and with `siding init --log-format json` one JSON
 * record holding the whole payload.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerInit } from '../../src/cli/init.js';
import { ApplyError, describeError, InputError } from '../../src/errors/index.js';
import { programOf, RecordingRunner, type Command as Program } from '../../src/redirect/runner.js';

const FAILED = {
  exitCode: 2,
  stderr: "iptables-restore v1.8.9 (legacy): Couldn't load target `SIDING_NOPE':No such file or directory\n\nError occurred at line: 5\n",
};

/** Runs `siding init ARGS` through commander with a runner whose iptables-legacy-restore fails. */
async function failingInit(args: string[]): Promise<{ err: string; error: unknown; restoreInput: string | undefined; exitCode: typeof process.exitCode }> {
  const runner = new RecordingRunner().on((c: Program) => programOf(c) === 'iptables-legacy-restore', FAILED);
  let err = '';
  const program = new Command('siding').exitOverride();
  registerInit(program, {
    runner,
    err: (t) => (err += t),
    out: () => undefined,
    exists: () => true,
    lookPath: (n) => `/usr/sbin/${n}`,
    readFile: () => undefined,
    sleep: () => Promise.resolve(),
  });
  program.commands.forEach((c) => c.exitOverride());
  const before = process.exitCode;
  let error: unknown;
  try {
    await program.parseAsync(['init', '-i', '*', '-b', '*', '--iptables-mode', 'legacy', '--ipv6', 'off', ...args], { from: 'user' });
  } catch (e) {
    error = e;
  }
  const exitCode = process.exitCode;
  process.exitCode = before;
  return { err, error, restoreInput: runner.commands.find((c) => programOf(c) === 'iptables-legacy-restore')?.input, exitCode };
}

describe('errors as the CLI shows them', () => {
  it("shows an error that is not siding's own with its stack, and siding's own by its message", () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const shown = describeError(bug);
    assert.match(shown, /^TypeError: Cannot read properties of undefined \(reading 'x'\)\n {4}at /);
    assert.equal(describeError(new InputError('--namespace-labels: bad')), '--namespace-labels: bad');
    assert.equal(describeError('a string'), 'a string');
  });

  it('lets a failed apply reach the CLI in text mode, where the stderr and the failing payload line are shown', async () => {
    const r = await failingInit([]);
    assert.ok(r.error instanceof ApplyError, String(r.error));
    const line5 = r.restoreInput?.split('\n')[4];
    assert.deepEqual(r.error.failedLine, { number: 5, text: line5 });
    const shown = describeError(r.error);
    assert.match(shown, /Couldn't load target `SIDING_NOPE'/);
    assert.ok(shown.includes(`payload line 5: ${line5}`), shown);
  });

  it('logs a failed apply with --log-format json as one JSON record with the whole payload, and exits 1', async () => {
    const r = await failingInit(['--log-format', 'json']);
    assert.equal(r.error, undefined, 'the error is reported by the log, not thrown to be printed again');
    assert.equal(r.exitCode, 1);
    const records = r.err
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failure = records.filter((rec) => rec.level === 'error');
    assert.equal(failure.length, 1, r.err);
    const rec = failure[0] ?? {};
    assert.equal(rec.code, 'ERR_APPLY');
    assert.equal(rec.payload, r.restoreInput);
    assert.equal(rec.stderr, FAILED.stderr);
    assert.deepEqual(rec.failed_line, { number: 5, text: r.restoreInput?.split('\n')[4] });
    assert.equal(rec.program_exit_code, 2);
    assert.match(String(rec.msg), /could not apply the IPv4 rules/);
  });
});
