/**
 * IANA time-zone arithmetic shared by every decoder that reads device wall-clock times (serial timestamps,
 * Tasmota `Time`) and by the simulators that write them: Intl has the zone rules, Date has only UTC and local.
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

/** Offsets by zone and quarter hour (zone transitions happen on quarter hours); Intl formatting is slow. */
const offsets = new Map<string, number>();
const QUARTER_HOUR = 900_000;

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
