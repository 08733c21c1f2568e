/**
 * `siding init` on its own: what dist/siding.cjs runs for `siding init`. scripts/bundle.sh
 * bundles this file with its packages into one CommonJS file (dist/chunks/init.cjs), so a
 * pod start loads one file through the CommonJS loader and never starts the ES module
 * loader: about a third less CPU and 13 MiB less memory than the full CLI (BENCHMARKS.md).
 */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerInit } from './init.js';
import { runProgram } from './run.js';

export async function mainInit(argv: readonly string[]): Promise<void> {
  const program = new Command('siding').version(VERSION).showHelpAfterError().exitOverride();
  registerInit(program);
  await runProgram(program, argv);
}
