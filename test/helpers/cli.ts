import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI's entry point in src/, run through tsx: the unit suite never depends on a build. */
export const CLI_SOURCE = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/**
 * Runs the CLI from source as users run the built one: its own process, optional standard
 * input. Never captures this process's stdout, which the test runner reports on.
 */
export async function runCli(args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, ['--import', 'tsx', CLI_SOURCE, ...args], {
    cwd: REPO,
    reject: false,
    ...(input === undefined ? {} : { input }),
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}
