import { Command } from 'commander';
import { VERSION } from '../version.js';
import { runProgram } from './run.js';

type Register = (program: Command) => void;

/**
 * Every command, loaded on demand: `siding init` runs in every pod start, so it must not
 * pay for loading fastify and the Kubernetes client (BENCHMARKS.md has what that costs).
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
  await runProgram(await buildProgram(argv), argv);
}
