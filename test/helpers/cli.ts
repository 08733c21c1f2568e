import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/**
 * Runs the built CLI (`npm run build` first) as users do: its own process, optional
 * standard input. Never captures this process's stdout, which the test runner reports on.
 */
export async function runCli(args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  assert.ok(existsSync(CLI), 'dist/cli.js is missing: run npm run build first');
  const r = await execa(process.execPath, [CLI, ...args], { reject: false, ...(input === undefined ? {} : { input }) });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}
