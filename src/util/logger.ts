import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * pino JSON to stdout (journald takes it from there). Secrets never reach the logger as values (they are
 * `Secret` objects that serialize as `[redacted ...]`); the redact list is a second line of defence for
 * fields that carry credentials by name.
 */
export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level: process.env.LOG_LEVEL && process.env.LOG_LEVEL !== '' ? process.env.LOG_LEVEL : level,
    base: { service: 'edge-telemetry-gateway' },
    redact: { paths: ['password', '*.password', '*.*.password', 'sasl', '*.sasl', 'token', '*.token'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
