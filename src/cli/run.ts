/**
 * Running a commander program with siding's exit codes: shared by the full CLI (index.ts)
 * and the bundle that runs `siding init` alone (init-main.ts).
 */
import { CommanderError } from 'commander';
import type { Command } from 'commander';
import { describeError } from '../errors/index.js';
import { EXIT, exitCodeFor } from './exit.js';

/**
 * Parses and runs. Sets process.exitCode instead of exiting so that callers (tests,
 * long-running servers) keep control of the process.
 */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  program.commands.forEach((c) => c.exitOverride());
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version "errors" are successes; everything else is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    // siding's own errors by their message (and what to act on); anything else with its stack.
    process.stderr.write(`siding: ${describeError(e)}\n`);
    process.exitCode = exitCodeFor(e);
  }
}
