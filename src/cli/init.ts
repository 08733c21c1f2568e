import type { Command } from 'commander';

// Placeholder until the init command lands.
export function registerInit(program: Command): void {
  program.command('init').description('(not implemented yet)');
}
