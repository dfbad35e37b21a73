/**
 * The one home of zoned time: IANA time-zone arithmetic for every decoder that reads device wall-clock times
 * (serial timestamps, Tasmota `Time`, HL7 times without an offset) and for the simulators that write them. Intl has the zone rules; Date has
 * only UTC and the process's local zone.
 *
 * Policy for wall-clock times a DST change (or any offset change) makes ambiguous or impossible. It is the rule
 * of RFC 5545 and of Temporal's `disambiguation: "compatible"`, applied by every reader of device times:
 * - **Repeated** (clocks go back, the hour happens twice, e.g. 02:30 on 2026-10-25 in Europe/Berlin): the
 *   **earlier** instant, the first time the clock showed that time (02:30 CEST = 00:30Z).
 * - **Skipped** (clocks go forward, the time never happens, e.g. 02:30 on 2026-03-29 in Europe/Berlin): read with
 *   the offset in force **before** the change, i.e. moved forward by the gap (02:30 CET = 01:30Z = 03:30 CEST),
 *   which is what a device whose clock had not been moved yet meant.
 * Tested at real transitions in both directions in several zones (test/time-zone.test.ts).
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached formatter of `zone` giving two-digit wall-clock fields (hourCycle h23). */
export function zoneFormatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether this Node.js knows the IANA zone name (config validation). */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Offsets by zone and quarter hour (zone transitions happen on quarter hours); Intl formatting is slow. */
const offsets = new Map<string, number>();
const QUARTER_HOUR = 900_000;
const HALF_DAY = 43_200_000;

/** Offset of `zone` from UTC at the instant `utcMs`, in milliseconds (+3,600,000 for Europe/Berlin in winter). */
export function zoneOffset(utcMs: number, zone: string): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 0;
  const key = `${zone}@${Math.floor(utcMs / QUARTER_HOUR)}`;
  const cached = offsets.get(key);
  if (cached !== undefined) return cached;
  const parts: Record<string, number> = {};
  for (const p of zoneFormatter(zone).formatToParts(new Date(utcMs))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  const offset = wall - Math.floor(utcMs / 1000) * 1000;
  if (offsets.size > 10_000) offsets.clear();
  offsets.set(key, offset);
  return offset;
}

/**
 * The UTC instant (epoch ms) of a wall-clock time in `zone`, by the policy above. `wallMs` is the wall time's
 * fields read as if they were UTC (`Date.UTC(year, month - 1, day, hour, minute, second, ms)`).
 */
export function wallTimeToUtc(wallMs: number, zone: string): number {
  // The offsets half a day either side cover any single change around this wall time. A candidate instant is
  // real when the zone has that offset at that instant: two real ones = the repeated hour, none = the skipped one.
  const before = zoneOffset(wallMs - HALF_DAY, zone);
  const after = zoneOffset(wallMs + HALF_DAY, zone);
  const early = wallMs - before;
  const late = wallMs - after;
  const earlyReal = zoneOffset(early, zone) === before;
  const lateReal = zoneOffset(late, zone) === after;
  if (earlyReal && lateReal) return Math.min(early, late);
  if (earlyReal) return early;
  if (lateReal) return late;
  return early;
}

/**
 * The wall-clock fields of `utcMs` in `zone`, as epoch ms read as UTC (the inverse of wallTimeToUtc for times
 * that exist once): e.g. to take "today" in the device's zone.
 */
export function utcToWallTime(utcMs: number, zone: string): number {
  return utcMs + zoneOffset(utcMs, zone);
}

const LOCAL_ISO = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d{1,9})?$/;
const HAS_ZONE = /(Z|[+-]\d\d:?\d\d)$/;

/**
 * ISO UTC time of a local `YYYY-MM-DDTHH:MM:SS[.sss]` (Tasmota `Time`) in `zone`, by the policy above; text that
 * already names its offset (`Z`, `+01:00`) is taken as it is. Undefined when the text is not such a time or names
 * a date that does not exist (31 February).
 */
export function localIsoTimeToUtc(text: string, zone: string): string | undefined {
  const trimmed = text.trim();
  const m = LOCAL_ISO.exec(trimmed);
  if (m === null) {
    if (!HAS_ZONE.test(trimmed)) return undefined;
    const ms = Date.parse(trimmed);
    return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  }
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const millis = Math.round(Number(m[7] ?? '0') * 1000);
  const wall = wallFields(year, month, day, hour, minute, second, millis);
  return wall === undefined ? undefined : new Date(wallTimeToUtc(wall, zone)).toISOString();
}

/** Wall-clock fields → epoch ms read as UTC; undefined for fields out of range or a day the month lacks. */
export function wallFields(year: number, month: number, day: number, hour: number, minute: number, second: number, millis = 0): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  // The day is checked at midnight, so a leap second (23:59:60) does not read as the next day.
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  return Number.isFinite(wall) ? wall : undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** The wall-clock time of `ms` in `zone` as text, with tokens YYYY YY MM DD HH mm ss SSS SS (device clocks of simulators). */
export function formatWallTime(ms: number, format: string, zone: string): string {
  const parts: Record<string, string> = {};
  for (const p of zoneFormatter(zone).formatToParts(new Date(ms))) {
    parts[p.type] = p.value;
  }
  const millis = ((ms % 1000) + 1000) % 1000;
  const tokens: Record<string, string> = {
    YYYY: parts.year ?? '1970',
    YY: (parts.year ?? '1970').slice(-2),
    MM: parts.month ?? '01',
    DD: parts.day ?? '01',
    HH: parts.hour ?? '00',
    mm: parts.minute ?? '00',
    ss: parts.second ?? '00',
    SSS: pad(millis, 3),
    SS: pad(Math.floor(millis / 10), 2),
  };
  return format.replace(/YYYY|YY|MM|DD|HH|mm|ss|SSS|SS/g, (t) => tokens[t] ?? t);
}
