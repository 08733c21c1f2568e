import { Command, CommanderError } from 'commander';
import { errorMessage, InitFlagError, InputError, ProxyFlagError, ValidationError } from '../errors/index.js';
import { VERSION } from '../version.js';

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failure: 1, usage: 2, validation: 126 } as const;

type Register = (program: Command) => void;

/**
 * Every command, loaded on demand: `siding init` runs in every pod start, so it must not
 * pay for loading fastify and the Kubernetes client (about 0.7 s on 2 cores).
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  webhook: async () => (await import('./webhook.js')).registerWebhook,
  init: async () => (await import('./init.js')).registerInit,
  inject: async () => (await import('./inject.js')).registerInject,
  check: async () => (await import('./check.js')).registerCheck,
  certs: async () => (await import('./certs.js')).registerCerts,
  proxy: async () => (await import('./proxy.js')).registerProxy,
};

/**
 * Builds the program. When `argv` names a command, only that command is loaded;
 * otherwise (no command, `--help`, an unknown one) all are, so help lists them all.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('siding')
    .description('Sidecar injection and transparent traffic redirection for Kubernetes')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  const first = argv[0];
  const only = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
  for (const name of only) (await COMMANDS[name]!())(program);
  return program;
}

/**
 * Runs the CLI. Sets process.exitCode instead of exiting so that callers (tests,
 * long-running servers) keep control of the process.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = await buildProgram(argv);
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
  if (e instanceof InitFlagError || e instanceof ProxyFlagError || e instanceof InputError) return EXIT.usage;
  if (e instanceof ValidationError) return EXIT.validation;
  return EXIT.failure;
}
