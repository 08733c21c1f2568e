/**
 * The log of `siding init`: one line per event on stderr, as text or as JSON objects
 * (`--log-format`). Fields are structured, never concatenated into the message; the
 * interface is siding's one `Logger` (src/logger.ts).
 */
import type { Logger } from '../logger.js';
import type { LogFormat } from './config.js';

type Level = 'info' | 'warn' | 'error';

function textValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(',');
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

export function createLogger(format: LogFormat, write: (line: string) => void, now: () => Date = () => new Date()): Logger {
  const emit = (level: Level, fields: object, msg: string): void => {
    if (format === 'json') {
      write(JSON.stringify({ time: now().toISOString(), level, msg, ...fields }) + '\n');
      return;
    }
    const rest = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${textValue(v)}`)
      .join(' ');
    const prefix = level === 'warn' ? 'warning: ' : level === 'error' ? 'error: ' : '';
    write(`siding init: ${prefix}${msg}${rest === '' ? '' : ` (${rest})`}\n`);
  };
  return { info: (f, m) => emit('info', f, m), warn: (f, m) => emit('warn', f, m), error: (f, m) => emit('error', f, m) };
}

export interface LogLine {
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const keep = (level: Level) => (fields: object, msg: string) => void lines.push({ level, msg, fields: { ...fields } });
  return { lines, info: keep('info'), warn: keep('warn'), error: keep('error') };
}
