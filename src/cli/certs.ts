import type { Command } from 'commander';

// Placeholder until the certs command lands.
export function registerCerts(program: Command): void {
  program.command('certs').description('(not implemented yet)');
}
