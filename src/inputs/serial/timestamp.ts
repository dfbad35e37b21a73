/**
 * Device timestamps from record fields: a small format language (YYYY YY MM DD HH mm ss .S) and a time zone.
 * Serial devices state their local wall time without a zone (Masimo) or UTC (NMEA); the zone is configured.
 * Wall times a DST change repeats or skips follow the policy of src/util/time-zone.ts.
 */
import type { TimestampSpecT } from './driver.js';
import { utcToWallTime, wallFields, wallTimeToUtc } from '../../util/time-zone.js';

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

const DAY = 86_400_000;
/**
 * How far a time of day completed with a date may lie after the stream's clock: a receiver emits the sentence of
 * second S a fraction of a second after S, and clocks disagree a little; a minute covers both, a day never.
 */
export const TIME_OF_DAY_TOLERANCE_MS = 60_000;

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

/**
 * The clock of one stream as its own dated records tell it (NMEA RMC carries the date, GGA only the time of
 * day): the last full device time seen, advanced by the gateway time elapsed since. The decoder keeps one per
 * stream and resets it when the port closes (another device may be plugged in).
 */
export class StreamClock {
  #last: { deviceMs: number; receivedAtMs: number } | undefined;

  /** A record with a full date said `deviceMs` when it arrived at `receivedAtMs`. */
  observe(deviceMs: number, receivedAtMs: number): void {
    this.#last = { deviceMs, receivedAtMs };
  }

  /** The device's time now, by its last dated record; the gateway's own when the stream gave no date yet. */
  now(receivedAtMs: number): number {
    return this.#last === undefined ? receivedAtMs : this.#last.deviceMs + (receivedAtMs - this.#last.receivedAtMs);
  }

  reset(): void {
    this.#last = undefined;
  }
}

/**
 * Reads the device time from the record's fields; undefined when a field is missing or the text does not fit
 * the format. A format without a date (NMEA GGA) takes the date from `clock`: the latest day on which that time of
 * day is not later than the stream's clock plus TIME_OF_DAY_TOLERANCE_MS, so a time of day is never stamped on
 * the wrong side of midnight or in the future. The stream's clock is its last dated record (RMC), else the
 * gateway's clock; records with a date move it.
 */
export function readTimestamp(ts: CompiledTimestamp, fields: ReadonlyMap<string, string>, receivedAtMs: number, clock: StreamClock = new StreamClock()): string | undefined {
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
    const wall = wallFields(year, Number(g.MM), Number(g.DD), hour, minute, second, millis);
    if (wall === undefined) return undefined; // 31 February and friends
    utc = wallTimeToUtc(wall, ts.zone);
    clock.observe(utc, receivedAtMs);
  } else {
    const ceiling = clock.now(receivedAtMs) + TIME_OF_DAY_TOLERANCE_MS;
    const ceilingWall = utcToWallTime(ceiling, ts.zone);
    let wall = Math.floor(ceilingWall / DAY) * DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    if (wall > ceilingWall) wall -= DAY;
    utc = wallTimeToUtc(wall, ts.zone);
    // Near a DST change the wall time can land an hour past the ceiling: then it was the day before.
    if (utc > ceiling) utc = wallTimeToUtc(wall - DAY, ts.zone);
  }
  return Number.isFinite(utc) ? new Date(utc).toISOString() : undefined;
}
