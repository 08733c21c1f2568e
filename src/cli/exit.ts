import { InitFlagError, InputError, ProxyFlagError, ValidationError } from '../errors/index.js';

/** Exit codes shared by every command (README, "Exit codes"). */
export const EXIT = { ok: 0, failure: 1, usage: 2, validation: 126 } as const;

/** Maps an error to its documented exit code. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof InitFlagError || e instanceof ProxyFlagError || e instanceof InputError) return EXIT.usage;
  if (e instanceof ValidationError) return EXIT.validation;
  return EXIT.failure;
}
