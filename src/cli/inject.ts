import type { Command } from 'commander';

// Placeholder until the inject command lands.
export function registerInject(program: Command): void {
  program.command('inject').description('(not implemented yet)');
}
