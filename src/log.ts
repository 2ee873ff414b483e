/**
 * The project's one logger: pino, JSON lines on stdout (journald-friendly), or
 * pretty single lines for a terminal. Secret-bearing keys are redacted by path.
 */
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogFormat = 'json' | 'pretty';

/** Keys whose values never reach a log line, whatever object they sit in. */
export const REDACT_PATHS = [
  'secret', '*.secret', 'key', '*.key', 'apiKey', '*.apiKey', 'apiSecret', '*.apiSecret',
  'password', '*.password', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
];

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
  base?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? process.stdout;
  const options = {
    level: opts.level ?? 'info',
    base: opts.base ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (opts.format === 'pretty') {
    return pino(options, prettyStream(destination));
  }
  return pino(options, destination as pino.DestinationStream);
}

const KNOWN = new Set(['level', 'time', 'msg', 'instance']);

/** A tiny pretty printer (no extra dependency): "10:00:01.123 INFO  [web] msg key=value". */
function prettyStream(out: NodeJS.WritableStream): pino.DestinationStream {
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : '';
      const level = String(rec.level ?? '').toUpperCase().padEnd(5);
      const inst = rec.instance ? `[${String(rec.instance)}] ` : '';
      const extras = Object.entries(rec)
        .filter(([k]) => !KNOWN.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${time} ${level} ${inst}${String(rec.msg ?? '')}${extras ? ' ' + extras : ''}\n`);
    },
  };
}

/** A logger that drops everything (tests, one-off commands). */
export const silentLogger: Logger = pino({ level: 'silent' });
