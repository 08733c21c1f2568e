/**
 * The one logger interface of siding: structured fields first, then the message, as pino
 * (and so fastify's `app.log`) takes them. `siding init` writes text or JSON lines through
 * it (src/redirect/log.ts); the Kubernetes parts of the webhook log through fastify's.
 */
export interface Logger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** A logger that drops everything (tests that do not look at logs, `siding check`). */
export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
