/**
 * The log of `siding init`: one line per event, as text or as JSON objects (`--log-format`,
 * or istio's `--log_as_json`), on standard error unless `--log_target stdout`. Fields are
 * structured, never concatenated into the message. istio-iptables' logging flags are parsed
 * here too.
 */
import type { LogFormat, LogLevel, LogSettings } from './config.js';
import type { RawInitFlags } from './flags.js';
import { fail, parseEnum } from './flags.js';

export type LogFields = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, none: 4 };

export function createLogger(format: LogFormat, write: (line: string) => void, now: () => Date = () => new Date(), level: LogLevel = 'info'): Logger {
  const emit = (lineLevel: 'info' | 'warn', msg: string, fields: LogFields = {}): void => {
    if (RANK[lineLevel] < RANK[level]) return;
    if (format === 'json') {
      write(JSON.stringify({ time: now().toISOString(), level: lineLevel, msg, ...fields }) + '\n');
      return;
    }
    const rest = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' ');
    write(`siding init: ${lineLevel === 'warn' ? 'warning: ' : ''}${msg}${rest === '' ? '' : ` (${rest})`}\n`);
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

// istio's logging scopes and levels, as its --help lists them.
const SCOPES = ['all', 'default', 'grpc', 'klog'] as const;
const ISTIO_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal', 'none'] as const;

/**
 * `--log_output_level` / `--log_stacktrace_level`: `level` or `scope:level,...`. Returns the
 * level of the scope siding logs in (`default`, else `all`), if given.
 */
function parseScopedLevels(flag: 'log_output_level' | 'log_stacktrace_level', value: string): LogLevel | undefined {
  let level: LogLevel | undefined;
  let all: LogLevel | undefined;
  for (const item of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const colon = item.indexOf(':');
    const scope = colon === -1 ? 'all' : parseEnum(flag, item.slice(0, colon), SCOPES);
    const istio = parseEnum(flag, colon === -1 ? item : item.slice(colon + 1), ISTIO_LEVELS);
    // siding has no fatal lines: what fatal lets through, error lets through.
    const mapped: LogLevel = istio === 'fatal' ? 'error' : istio;
    if (scope === 'default') level = mapped;
    if (scope === 'all') all = mapped;
  }
  return level ?? all;
}

/** Logging: siding's --log-format, or istio's --log_as_json, --log_output_level, --log_target. */
export function parseLogSettings(raw: RawInitFlags, logAsJson: boolean): LogSettings {
  const format: LogFormat = raw.logFormat === undefined ? (logAsJson ? 'json' : 'text') : parseEnum('logFormat', raw.logFormat, ['text', 'json']);
  const level = raw.log_output_level === undefined ? 'info' : (parseScopedLevels('log_output_level', raw.log_output_level) ?? 'info');
  if (raw.log_stacktrace_level !== undefined) parseScopedLevels('log_stacktrace_level', raw.log_stacktrace_level);
  for (const scope of (raw.log_caller ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) parseEnum('log_caller', scope, SCOPES);
  let target: LogSettings['target'] = 'stderr';
  for (const t of raw.log_target ?? []) {
    if (t !== 'stdout' && t !== 'stderr') fail('log_target', t, 'siding init logs to stdout or stderr only, not to files');
    target = t;
  }
  return { format, level, target };
}
