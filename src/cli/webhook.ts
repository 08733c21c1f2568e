import type { Command } from 'commander';

// Placeholder until the webhook command lands.
export function registerWebhook(program: Command): void {
  program.command('webhook').description('(not implemented yet)');
}
