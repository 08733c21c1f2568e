/**
 * The log of `siding init`: one line per event on stderr, as text or as JSON objects
 * (`--log-format`). Fields are structured, never concatenated into the message.
 */
import type { LogFormat } from './config.js';

export type LogFields = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
}

export function createLogger(format: LogFormat, write: (line: string) => void, now: () => Date = () => new Date()): Logger {
  const emit = (level: 'info' | 'warn', msg: string, fields: LogFields = {}): void => {
    if (format === 'json') {
      write(JSON.stringify({ time: now().toISOString(), level, msg, ...fields }) + '\n');
      return;
    }
    const rest = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' ');
    write(`siding init: ${level === 'warn' ? 'warning: ' : ''}${msg}${rest === '' ? '' : ` (${rest})`}\n`);
  };
  return { info: (m, f) => emit('info', m, f), warn: (m, f) => emit('warn', m, f) };
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { lines: { level: string; msg: string; fields: LogFields }[] } {
  const lines: { level: string; msg: string; fields: LogFields }[] = [];
  return {
    lines,
    info: (msg, fields = {}) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields = {}) => lines.push({ level: 'warn', msg, fields }),
  };
}
