/**
 * Device timestamps from record fields: a small format language (YYYY YY MM DD HH mm ss .S) and a time zone.
 * Serial devices state their local wall time without a zone (Masimo) or UTC (NMEA); the zone is configured.
 */
import type { TimestampSpecT } from './driver.js';
import { zoneOffset } from '../../util/time-zone.js';

const TOKENS: readonly [string, string][] = [
  ['YYYY', '(?<YYYY>\\d{4})'],
  ['YY', '(?<YY>\\d{2})'],
  ['MM', '(?<MM>\\d{2})'],
  ['DD', '(?<DD>\\d{2})'],
  ['HH', '(?<HH>\\d{2})'],
  ['mm', '(?<mm>\\d{2})'],
  ['ss', '(?<ss>\\d{2})'],
  ['.S', '(?:\\.(?<S>\\d{1,9}))?'],
];

export interface CompiledTimestamp {
  fields: readonly string[];
  pattern: RegExp;
  zone: string;
}

export function compileTimestamp(spec: TimestampSpecT, defaultZone: string): CompiledTimestamp {
  let source = '';
  let i = 0;
  const format = spec.format;
  outer: while (i < format.length) {
    for (const [token, regex] of TOKENS) {
      if (format.startsWith(token, i)) {
        source += regex;
        i += token.length;
        continue outer;
      }
    }
    source += (format[i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    i += 1;
  }
  return { fields: spec.from, pattern: new RegExp(`^${source}$`), zone: spec.zone ?? defaultZone };
}

/** UTC milliseconds of a wall-clock time in `zone`. */
export function wallTimeToUtc(wallMs: number, zone: string): number {
  const first = wallMs - zoneOffset(wallMs, zone);
  const second = wallMs - zoneOffset(first, zone);
  return second;
}

/**
 * Reads the device time from the record's fields; undefined when a field is missing or the text does not fit
 * the format. Without a date in the format, the date is the gateway's (in the zone), corrected across midnight.
 */
export function readTimestamp(ts: CompiledTimestamp, fields: ReadonlyMap<string, string>, receivedAtMs: number): string | undefined {
  const values: string[] = [];
  for (const name of ts.fields) {
    const v = fields.get(name);
    if (v === undefined || v === '') return undefined;
    values.push(v.trim());
  }
  const m = ts.pattern.exec(values.join(' '));
  const g = m?.groups;
  if (!g) return undefined;
  const hour = Number(g.HH ?? 0);
  const minute = Number(g.mm ?? 0);
  const second = Number(g.ss ?? 0);
  const millis = g.S === undefined ? 0 : Math.round(Number(`0.${g.S}`) * 1000);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const hasDate = g.DD !== undefined && g.MM !== undefined && (g.YY !== undefined || g.YYYY !== undefined);
  let utc: number;
  if (hasDate) {
    const yy = Number(g.YY);
    const year = g.YYYY !== undefined ? Number(g.YYYY) : yy < 80 ? 2000 + yy : 1900 + yy;
    const month = Number(g.MM);
    const day = Number(g.DD);
    if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
    const wall = Date.UTC(year, month - 1, day, hour, minute, second, millis);
    if (new Date(wall).getUTCDate() !== day) return undefined; // 31 February and friends
    utc = wallTimeToUtc(wall, ts.zone);
  } else {
    // Time of day only (NMEA GGA): take the gateway's date in the zone, then pick the day that lands nearest.
    const localNow = receivedAtMs + zoneOffset(receivedAtMs, ts.zone);
    const day = Math.floor(localNow / 86_400_000) * 86_400_000;
    let wall = day + ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    if (wall - localNow > 12 * 3_600_000) wall -= 86_400_000;
    else if (localNow - wall > 12 * 3_600_000) wall += 86_400_000;
    utc = wallTimeToUtc(wall, ts.zone);
  }
  return Number.isFinite(utc) ? new Date(utc).toISOString() : undefined;
}
