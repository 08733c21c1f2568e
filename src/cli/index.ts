import { Command, CommanderError } from 'commander';
import { errorMessage, InitFlagError, InputError, ValidationError } from '../errors/index.js';
import { registerInit } from './init.js';
import { registerWebhook } from './webhook.js';
import { registerInject } from './inject.js';
import { registerCheck } from './check.js';
import { registerCerts } from './certs.js';
import { VERSION } from '../version.js';

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failure: 1, usage: 2, validation: 126 } as const;

export function buildProgram(): Command {
  const program = new Command('siding')
    .description('Sidecar injection and transparent traffic redirection for Kubernetes')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerWebhook(program);
  registerInit(program);
  registerInject(program);
  registerCheck(program);
  registerCerts(program);
  return program;
}

/**
 * Runs the CLI. Sets process.exitCode instead of exiting so that callers (tests,
 * long-running servers) keep control of the process.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
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

/** Maps an error to the documented exit code (README, "Exit codes"). */
export function exitCodeFor(e: unknown): number {
  if (e instanceof InitFlagError || e instanceof InputError) return EXIT.usage;
  if (e instanceof ValidationError) return EXIT.validation;
  return EXIT.failure;
}
