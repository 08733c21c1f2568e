/**
 * The proxy's JSON log (pino), one object per line on stdout: errors always, start, drain
 * and stop at info, one line per connection at debug.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './options.js';

export type { Logger } from 'pino';

/** A logger writing to `dest` (default: stdout, synchronously, so nothing is lost at exit). */
export function createProxyLogger(level: LogLevel, dest: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(
    {
      level,
      base: { component: 'siding-proxy' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}
