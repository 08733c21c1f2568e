/**
 * The log of `siding init`: one line per event, as text or as JSON objects (`--log-format`,
 * or istio's `--log_as_json`), on standard error unless `--log_target stdout`. Fields are
 * structured, never concatenated into the message; the interface is siding's one `Logger`
 * (src/logger.ts). istio-iptables' logging flags are parsed here too.
 */
import type { Logger } from '../logger.js';
import type { LogFormat, LogLevel, LogSettings } from './config.js';
import type { RawInitFlags } from './flags.js';
import { fail, parseEnum } from './flags.js';

type Level = 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, none: 4 };

function textValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(',');
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

export function createLogger(format: LogFormat, write: (line: string) => void, now: () => Date = () => new Date(), least: LogLevel = 'info'): Logger {
  const emit = (level: Level, fields: object, msg: string): void => {
    if (RANK[level] < RANK[least]) return;
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

// The longest logging value worth reading: a few scopes and levels.
const MAX_LOG_FLAG_CHARS = 256;

/** Logging: siding's --log-format, or istio's --log_as_json, --log_output_level, --log_target. */
export function parseLogSettings(raw: RawInitFlags, logAsJson: boolean): LogSettings {
  for (const key of ['log_output_level', 'log_stacktrace_level', 'log_caller'] as const) {
    const v = raw[key];
    if (v !== undefined && v.length > MAX_LOG_FLAG_CHARS) fail(key, v, `longer than ${MAX_LOG_FLAG_CHARS} characters`);
  }
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
