/**
 * The one zoned-time policy (src/util/time-zone.ts) at real transitions of several zones, in both directions and
 * on both hemispheres, and every reader of device wall-clock times (serial timestamps, Tasmota `Time`) agreeing
 * with it and with the simulator that writes such times.
 */
import { describe, expect, it } from 'vitest';
import { TasmotaDecoder } from '../src/inputs/mqtt/formats/tasmota.js';
import { MqttDriver } from '../src/inputs/mqtt/drivers.js';
import type { TasmotaDriverT } from '../src/inputs/mqtt/formats/tasmota.js';
import { compileTimestamp, readTimestamp } from '../src/inputs/serial/timestamp.js';
import { loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { formatWallTime, localIsoTimeToUtc, wallTimeToUtc, zoneOffset } from '../src/util/time-zone.js';

/** Local wall time "YYYY-MM-DD HH:mm" in `zone` → ISO UTC by the policy. */
function utcOf(local: string, zone: string): string {
  const [date = '', time = ''] = local.split(' ');
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = time.split(':').map(Number) as [number, number];
  return new Date(wallTimeToUtc(Date.UTC(y, mo - 1, d, h, mi), zone)).toISOString().replace(':00.000Z', 'Z');
}

// Each row: zone, local wall time, expected UTC, what kind of time it is. Transitions of 2026 as this Node.js's
// ICU has them (the test below checks that a transition really lies in each "repeated" and "skipped" row).
const CASES: readonly [zone: string, local: string, utc: string, kind: 'before' | 'repeated' | 'skipped' | 'after'][] = [
  // Europe/Berlin: CEST → CET at 03:00 on 25 October (02:00–02:59 twice), CET → CEST at 02:00 on 29 March.
  ['Europe/Berlin', '2026-10-25 01:30', '2026-10-24T23:30Z', 'before'],
  ['Europe/Berlin', '2026-10-25 02:30', '2026-10-25T00:30Z', 'repeated'],
  ['Europe/Berlin', '2026-10-25 03:30', '2026-10-25T02:30Z', 'after'],
  ['Europe/Berlin', '2026-03-29 01:30', '2026-03-29T00:30Z', 'before'],
  ['Europe/Berlin', '2026-03-29 02:30', '2026-03-29T01:30Z', 'skipped'],
  ['Europe/Berlin', '2026-03-29 03:30', '2026-03-29T01:30Z', 'after'],
  // America/New_York: EDT → EST at 02:00 on 1 November (01:00–01:59 twice), EST → EDT at 02:00 on 8 March.
  ['America/New_York', '2026-11-01 01:30', '2026-11-01T05:30Z', 'repeated'],
  ['America/New_York', '2026-11-01 02:30', '2026-11-01T07:30Z', 'after'],
  ['America/New_York', '2026-03-08 02:30', '2026-03-08T07:30Z', 'skipped'],
  ['America/New_York', '2026-03-08 03:30', '2026-03-08T07:30Z', 'after'],
  // Australia/Sydney (southern hemisphere): AEDT → AEST at 03:00 on 5 April, AEST → AEDT at 02:00 on 4 October.
  ['Australia/Sydney', '2026-04-05 01:30', '2026-04-04T14:30Z', 'before'],
  ['Australia/Sydney', '2026-04-05 02:30', '2026-04-04T15:30Z', 'repeated'],
  ['Australia/Sydney', '2026-04-05 03:30', '2026-04-04T17:30Z', 'after'],
  ['Australia/Sydney', '2026-10-04 02:30', '2026-10-03T16:30Z', 'skipped'],
  ['Australia/Sydney', '2026-10-04 03:30', '2026-10-03T16:30Z', 'after'],
  // Australia/Lord_Howe: a half-hour DST (+11 → +10:30 at 02:00 on 5 April, back at 02:00 on 4 October).
  ['Australia/Lord_Howe', '2026-04-05 01:45', '2026-04-04T14:45Z', 'repeated'],
  ['Australia/Lord_Howe', '2026-04-05 02:15', '2026-04-04T15:45Z', 'after'],
  ['Australia/Lord_Howe', '2026-10-04 02:15', '2026-10-03T15:45Z', 'skipped'],
  ['Australia/Lord_Howe', '2026-10-04 02:45', '2026-10-03T15:45Z', 'after'],
  // America/Santiago (southern, changes at midnight): −03 → −04 at 00:00 on 5 April (23:00–23:59 of the 4th
  // twice), −04 → −03 at 00:00 on 6 September (00:00–00:59 never happens).
  ['America/Santiago', '2026-04-04 23:30', '2026-04-05T02:30Z', 'repeated'],
  ['America/Santiago', '2026-04-05 00:30', '2026-04-05T04:30Z', 'after'],
  ['America/Santiago', '2026-09-06 00:30', '2026-09-06T04:30Z', 'skipped'],
  ['America/Santiago', '2026-09-06 01:30', '2026-09-06T04:30Z', 'after'],
  // No DST at all.
  ['UTC', '2026-10-25 02:30', '2026-10-25T02:30Z', 'before'],
  ['Asia/Kolkata', '2026-10-25 02:30', '2026-10-24T21:00Z', 'before'],
];

describe('the zoned-time policy at real transitions', () => {
  it.each(CASES)('%s %s → %s (%s)', (zone, local, utc) => {
    expect(utcOf(local, zone)).toBe(utc);
  });

  it('each repeated or skipped row really sits in a transition of its zone (the table is not vacuous)', () => {
    for (const [zone, local, utc, kind] of CASES) {
      if (kind !== 'repeated' && kind !== 'skipped') continue;
      const instant = Date.parse(utc.replace('Z', ':00Z'));
      const [date = '', time = ''] = local.split(' ');
      const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
      const [h, mi] = time.split(':').map(Number) as [number, number];
      const wall = Date.UTC(y, mo - 1, d, h, mi);
      // Where the offset half a day before and after differs, there is a transition; how the wall time relates
      // to it decides the kind.
      const before = zoneOffset(instant - 43_200_000, zone);
      const after = zoneOffset(instant + 43_200_000, zone);
      expect(before, `${zone} ${local}: no transition nearby`).not.toBe(after);
      const real = [zoneOffset(wall - before, zone) === before, zoneOffset(wall - after, zone) === after].filter(Boolean).length;
      expect(real, `${zone} ${local}: readings of this wall time`).toBe(kind === 'repeated' ? 2 : 0);
    }
  });

  it('writes and reads back every quarter hour of both transition days the same (the simulator and the readers agree)', () => {
    const ts = compileTimestamp({ from: ['t'], format: 'YYYY-MM-DD HH:mm:ss', zone: 'Europe/Berlin' }, 'UTC');
    for (const day of [Date.UTC(2026, 2, 28, 12), Date.UTC(2026, 9, 24, 12)]) {
      for (let t = day; t < day + 86_400_000; t += 900_000) {
        const written = formatWallTime(t, 'YYYY-MM-DD HH:mm:ss', 'Europe/Berlin');
        const serial = readTimestamp(ts, new Map([['t', written]]), t);
        const tasmota = localIsoTimeToUtc(written.replace(' ', 'T'), 'Europe/Berlin');
        // The second pass through the repeated hour reads as its first (the policy); everything else exactly.
        const repeatedSecondPass = t >= Date.UTC(2026, 9, 25, 1) && t < Date.UTC(2026, 9, 25, 2);
        const expected = new Date(repeatedSecondPass ? t - 3_600_000 : t).toISOString();
        expect([written, serial, tasmota]).toEqual([written, expected, expected]);
      }
    }
  });
});

describe('every reader of device wall times follows it', () => {
  const tasmotaDriver = loadDriverFile('tasmota', MqttDriver, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver as TasmotaDriverT;
  const ctx = { inputName: 'unit', receivedAt: '2026-10-25T01:00:00.000Z', maxPayloadBytes: 10_000, deadLetterBytes: 64 };
  const tasmotaTime = (time: string, zone: string): string | null | undefined => {
    const decoder = new TasmotaDecoder(tasmotaDriver, { timeZone: zone });
    const payload = Buffer.from(JSON.stringify({ Time: time, AM2301: { Temperature: 21.5 }, TempUnit: 'C' }));
    const drafts = decoder.decode({ topic: 'tele/plug/SENSOR', payload, relativeLevels: ['tele', 'plug', 'SENSOR'] }, ctx).drafts;
    expect(drafts.filter((d) => d.type === 'dead-letter')).toEqual([]);
    return drafts[0]?.sourceTime;
  };
  const serialTime = (text: string, zone: string): string | undefined =>
    readTimestamp(compileTimestamp({ from: ['t'], format: 'YYYY-MM-DD HH:mm:ss', zone }, 'UTC'), new Map([['t', text]]), Date.parse(ctx.receivedAt));

  it.each(CASES)('serial and Tasmota agree: %s %s', (zone, local, utc) => {
    const expected = utc.replace('Z', ':00.000Z');
    expect(serialTime(`${local}:00`, zone)).toBe(expected);
    expect(tasmotaTime(`${local.replace(' ', 'T')}:00`, zone)).toBe(expected);
  });

  it('takes a Tasmota time that names its offset as it is, and rejects what is not a time', () => {
    expect(localIsoTimeToUtc('2019-01-17T01:29:07+01:00', 'America/New_York')).toBe('2019-01-17T00:29:07.000Z');
    expect(localIsoTimeToUtc('2019-01-17T01:29:07Z', 'Europe/Berlin')).toBe('2019-01-17T01:29:07.000Z');
    expect(localIsoTimeToUtc('2019-01-17T01:29:07.250', 'UTC')).toBe('2019-01-17T01:29:07.250Z');
    expect(localIsoTimeToUtc('2019-02-31T01:29:07', 'UTC')).toBeUndefined();
    expect(localIsoTimeToUtc('yesterday', 'UTC')).toBeUndefined();
  });
});
