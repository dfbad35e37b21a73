import { GatewayError } from '../errors.js';
import { parseDuration } from '../util/duration.js';

/**
 * Parses a `--since`/`--until` value: an ISO 8601 time (`2026-11-27T08:00:00Z`, `2026-11-27`) or a duration
 * (`90s`, `15m`, `2h`, `7d`) meaning "that long before now". Returns epoch milliseconds.
 */
export function parseTimeArg(option: string, text: string, now: number): number {
  const trimmed = text.trim();
  const duration = parseDuration(trimmed);
  if (duration !== undefined && !/^\d+$/.test(trimmed)) return now - duration;
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (Number.isFinite(ms)) return ms;
  }
  throw new GatewayError(
    'GW_USAGE',
    `${option} "${text}": expected an ISO time (2026-11-27T08:00:00Z) or a duration meaning "that long ago" (90s, 15m, 2h, 7d)`,
  );
}
