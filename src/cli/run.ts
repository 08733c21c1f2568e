/**
 * Running a commander program with siding's exit codes: shared by the full CLI (index.ts)
 * and the bundle that runs `siding init` alone (init-main.ts).
 */
import { CommanderError } from 'commander';
import type { Command } from 'commander';
import { errorMessage, InitFlagError, InputError, ProxyFlagError, ValidationError } from '../errors/index.js';

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failure: 1, usage: 2, validation: 126 } as const;

/** Maps an error to the documented exit code (README, "Exit codes"). */
export function exitCodeFor(e: unknown): number {
  if (e instanceof InitFlagError || e instanceof ProxyFlagError || e instanceof InputError) return EXIT.usage;
  if (e instanceof ValidationError) return EXIT.validation;
  return EXIT.failure;
}

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
    process.stderr.write(`siding: ${errorMessage(e)}\n`);
    process.exitCode = exitCodeFor(e);
  }
}
