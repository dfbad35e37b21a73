/** Device wall-clock time without a zone (Tasmota `Time`) → UTC, in an IANA time zone, DST included. */

import { zoneOffset } from '../../../util/time-zone.js';

const LOCAL = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d{1,3})?$/;

/**
 * ISO UTC time of a local `YYYY-MM-DDTHH:MM:SS[.sss]` in `zone`; text that already names its zone
 * (`Z`, `+01:00`) is taken as is. Undefined when the text is not a time. In the hour a DST change repeats,
 * the earlier instant is taken.
 */
export function localTimeToUtc(text: string, zone: string): string | undefined {
  const m = LOCAL.exec(text.trim());
  if (m === null) {
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(text.trim())) return undefined;
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  }
  const ms = Math.round(Number(m[7] ?? '0') * 1000);
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  if (Number.isNaN(asUtc)) return undefined;
  // The zone's offsets half a day either side cover any DST change; a candidate is valid when the zone really has
  // that offset at that instant. Two valid: the repeated hour (take the earlier). None: the skipped hour (take the
  // offset from before the change, as clocks that were not yet moved would).
  const offsets = [zoneOffset(asUtc - 43_200_000, zone), zoneOffset(asUtc + 43_200_000, zone)];
  const candidates = offsets.map((o) => asUtc - o);
  const valid = candidates.filter((t, i) => zoneOffset(t, zone) === offsets[i]);
  const chosen = valid.length > 0 ? Math.min(...valid) : (candidates[0] ?? asUtc);
  return new Date(chosen).toISOString();
}
