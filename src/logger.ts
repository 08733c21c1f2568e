/**
 * The one logger interface of siding: structured fields first, then the message, as pino
 * (and so fastify's `app.log`) takes them. `siding init` writes text or JSON lines through
 * it (src/redirect/log.ts); in the webhook it is the process's one pino instance
 * (src/admission/run.ts), which the Kubernetes parts and fastify share.
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
