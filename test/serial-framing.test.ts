/** Pure parts of the serial input: checksums, framers, field parsing, timestamps, driver-file validation. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../src/config/problems.js';
import { loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { SerialInputConfig } from '../src/inputs/serial/config.js';
import { FramingSpec, SerialDriver } from '../src/inputs/serial/driver.js';
import { serialFamily } from '../src/inputs/serial/family.js';
import { SerialDecoder } from '../src/inputs/serial/decoder.js';
import type { EventDraft } from '../src/events/schema.js';
import {
  crc16Ccitt,
  crc16Modbus,
  crc16X25,
  sum8,
  verifyBinaryChecksum,
  verifyNmeaChecksum,
  withNmeaChecksum,
  writeBinaryChecksum,
} from '../src/inputs/serial/framing/checksums.js';
import { createFramer, type FramerOutput } from '../src/inputs/serial/framing/framer.js';
import { compileTimestamp, readTimestamp } from '../src/inputs/serial/timestamp.js';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function frameAll(framing: unknown, checksum: unknown, input: Buffer, chunk = input.length): FramerOutput[] {
  const framer = createFramer(FramingSpec.parse(framing), checksum === undefined ? undefined : SerialDriver.shape.checksum.parse(checksum));
  const out: FramerOutput[] = [];
  for (let i = 0; i < input.length; i += chunk) out.push(...framer.push(input.subarray(i, i + chunk)));
  out.push(...framer.drain());
  return out;
}

const records = (out: FramerOutput[]): string[] => out.filter((o) => o.kind === 'record').map((o) => o.bytes.toString('latin1'));

describe('checksums', () => {
  const check = ascii('123456789');
  it('compute the catalogued check values of "123456789"', () => {
    expect(crc16Modbus(check)).toBe(0x4b37);
    expect(crc16Ccitt(check)).toBe(0x29b1);
    expect(crc16X25(check)).toBe(0x906e);
    expect(sum8(check)).toBe(0xdd);
  });

  it('verify a real Modbus RTU frame (CRC low byte first) and name stated and computed values when wrong', () => {
    // XY-MD02 read request (e-tinkers/Modbus-RTU examples/SHT20/README.md): 01 04 00 01 00 02 20 0B
    const spec = { type: 'crc16-modbus' as const, from: 0 };
    expect(verifyBinaryChecksum(spec, hex('01 04 00 01 00 02 20 0B'))).toBeUndefined();
    expect(verifyBinaryChecksum(spec, hex('01 04 00 01 00 02 20 0C'))).toBe('bad crc16-modbus checksum: stated 0x0C20, computed 0x0B20');
  });

  it('write what they verify, for every binary type', () => {
    for (const type of ['sum8', 'crc16-modbus', 'crc16-ccitt', 'crc16-x25'] as const) {
      const record = Buffer.from([1, 2, 3, 4, 5, 6, 0, 0]);
      writeBinaryChecksum({ type, from: 0 }, record);
      expect(verifyBinaryChecksum({ type, from: 0 }, record)).toBeUndefined();
    }
  });

  it('check NMEA sentences (XOR between $ and *)', () => {
    expect(verifyNmeaChecksum('$GPZDA,081411.000,26,05,2014,,*5D')).toEqual({ ok: true, body: '$GPZDA,081411.000,26,05,2014,,' });
    expect(verifyNmeaChecksum('$GPZDA,081411.000,26,05,2014,,*5E')).toEqual({ ok: false, problem: 'bad nmea-xor checksum: stated 5E, computed 5D' });
    expect(verifyNmeaChecksum('$GPZDA,081411.000')).toMatchObject({ ok: false, problem: 'no *HH checksum at the end of the line' });
    expect(withNmeaChecksum('$GPZDA,081411.000,26,05,2014,,')).toBe('$GPZDA,081411.000,26,05,2014,,*5D');
  });
});

describe('line framing', () => {
  it('splits CR, LF, CRLF and mixed endings, skipping blank lines, whatever the chunking', () => {
    const input = ascii('one\r\ntwo\nthree\rfour\r\n\r\nfive\n');
    for (const chunk of [1, 2, 3, 100]) {
      expect(records(frameAll({ type: 'lines' }, undefined, input, chunk))).toEqual(['one', 'two', 'three', 'four', 'five']);
    }
  });

  it('skips text before the record start and rejects lines without it, with offsets', () => {
    const out = frameAll({ type: 'lines', start: '$' }, undefined, ascii('12,N*4A\r\nxx$GPGGA,1\r\n'));
    expect(out).toEqual([
      { kind: 'rejected', bytes: ascii('12,N*4A'), offset: 0, reason: 'line at offset 0 does not contain the record start "$" (started mid-record or garbage)' },
      { kind: 'rejected', bytes: ascii('xx'), offset: 9, reason: '2 bytes at offset 9 before the record start "$"' },
      { kind: 'record', bytes: ascii('$GPGGA,1'), offset: 11 },
    ]);
  });

  it('rejects an overlong line once and finds the next one (bounded memory)', () => {
    const out = frameAll({ type: 'lines', maxLength: 8 }, undefined, ascii(`${'x'.repeat(50)}\nok\n`), 5);
    expect(out.map((o) => o.kind)).toEqual(['rejected', 'record']);
    expect(out[0]).toMatchObject({ offset: 0, reason: expect.stringContaining('longer than maxLength 8') });
    expect(records(out)).toEqual(['ok']);
  });

  it('crlf endings keep a bare LF inside the record', () => {
    expect(records(frameAll({ type: 'lines', endings: 'crlf' }, undefined, ascii('a\nb\r\nc\r\n')))).toEqual(['a\nb', 'c']);
  });

  it('reports an incomplete last line when the port closes', () => {
    const out = frameAll({ type: 'lines' }, undefined, ascii('done\r\nhalf'));
    expect(out[1]).toMatchObject({ kind: 'rejected', offset: 6, reason: 'incomplete line of 4 bytes at offset 6 when the port closed' });
  });
});

describe('binary framing', () => {
  const df2 = { type: 'fixed', length: 5, match: [{ byte: 0, equals: 1 }, { byte: 1, mask: 0x80, equals: 0x80 }] };
  const sumChk = { type: 'sum8', from: 0, to: 4, at: 4 };

  it('fixed frames resynchronize on a stream that starts mid-frame (pufferfish "A 7 bytes data")', () => {
    const out = frameAll(df2, sumChk, hex('01 81 01 81 01 00 83'));
    expect(out).toEqual([
      { kind: 'rejected', bytes: hex('01 81'), offset: 0, reason: expect.stringContaining('2 bytes at offset 0 skipped while resynchronizing (first: bad sum8 checksum') },
      { kind: 'record', bytes: hex('01 81 01 00 83'), offset: 2 },
    ]);
  });

  it('fixed frames reject a bad status bit and a bad checksum', () => {
    const out = frameAll(df2, sumChk, hex('01 7F 02 00 82  01 81 02 00 00  01 80 02 00 83'));
    expect(records(out)).toEqual([hex('01 80 02 00 83').toString('latin1')]);
    expect(out[0]).toMatchObject({ kind: 'rejected', offset: 0, reason: expect.stringContaining('byte 1 is 0x7F, expected (byte & 0x80) = 0x80') });
  });

  it('length-field frames: Modbus-like start, length, CRC; garbage between frames', () => {
    const framing = { type: 'length-field', start: [0xaa, 0x55], lengthAt: 2, lengthAdjust: 5 };
    const frame = (payload: number[]): Buffer => {
      const b = Buffer.from([0xaa, 0x55, payload.length, ...payload, 0, 0]);
      writeBinaryChecksum({ type: 'crc16-modbus', from: 0 }, b);
      return b;
    };
    const input = Buffer.concat([hex('00 aa 13'), frame([1, 2, 3]), hex('ff'), frame([]), frame([9])]);
    const out = frameAll(framing, { type: 'crc16-modbus' }, input, 2);
    expect(out.filter((o) => o.kind === 'record').map((o) => [o.offset, o.bytes.length])).toEqual([
      [3, 8],
      [12, 5],
      [17, 6],
    ]);
    expect(out.filter((o) => o.kind === 'rejected').map((o) => o.offset)).toEqual([0, 11]);
  });

  it('start/end frames with byte stuffing: the IntelliVue example frame (CRC-16/X-25, FCS low byte first)', () => {
    // An IntelliVue MIB frame built by the framing rules of xeonfusion/VSCaptureMP (Class3.cs): poll request payload, FCS computed.
    const frame = hex(
      'C0 11 01 00 24 E1 00 00 02 00 01 00 1C 00 00 00 07 00 16 00 21 00 00 00 00 00 00 00 00 0C 16 00 08 00 01 00 01 00 06 00 00 8E 95 C1',
    );
    const framing = { type: 'start-end', start: 0xc0, end: 0xc1, escape: 0x7d };
    const out = frameAll(framing, { type: 'crc16-x25' }, Buffer.concat([hex('01 02'), frame]), 3);
    expect(out[0]).toMatchObject({ kind: 'rejected', offset: 0 });
    expect(out[1]).toMatchObject({ kind: 'record', offset: 2 });
    expect(out[1]?.bytes.subarray(0, 5)).toEqual(hex('11 01 00 24 E1'));
    // An escaped 0xC1 inside the payload is data, not the end; a corrupted FCS is rejected with the frame's offset.
    const stuffed = Buffer.from([0xc0, 0x7d, 0xe1, 0x05, 0, 0, 0xc1]);
    const content = Buffer.from([0xc1, 0x05, 0, 0]);
    writeBinaryChecksum({ type: 'crc16-x25', from: 0 }, content);
    stuffed[4] = content[2] ?? 0;
    stuffed[5] = content[3] ?? 0;
    expect(records(frameAll(framing, { type: 'crc16-x25' }, stuffed))).toEqual([content.toString('latin1')]);
    const broken = Buffer.from(frame);
    broken[broken.length - 2] = 0x00;
    expect(frameAll(framing, { type: 'crc16-x25' }, broken)[0]).toMatchObject({ kind: 'rejected', offset: 0, reason: expect.stringContaining('bad crc16-x25 checksum') });
  });
});

describe('timestamps', () => {
  it('reads local wall time in a zone, across a DST change (both directions; the policy of src/util/time-zone.ts)', () => {
    const ts = compileTimestamp({ from: ['date', 'time'], format: 'MM/DD/YY HH:mm:ss', zone: 'Europe/Berlin' }, 'UTC');
    const at = (date: string, time: string): string | undefined => readTimestamp(ts, new Map([['date', date], ['time', time]]), 0);
    // Autumn: 03:00 CEST becomes 02:00 CET; 02:30 happens twice and reads as the first (CEST).
    expect(at('10/25/26', '01:59:59')).toBe('2026-10-24T23:59:59.000Z');
    expect(at('10/25/26', '02:30:00')).toBe('2026-10-25T00:30:00.000Z');
    expect(at('10/25/26', '03:00:00')).toBe('2026-10-25T02:00:00.000Z');
    // Spring: 02:00 CET becomes 03:00 CEST; 02:30 never happens and reads with the offset before (CET).
    expect(at('03/29/26', '01:59:59')).toBe('2026-03-29T00:59:59.000Z');
    expect(at('03/29/26', '02:30:00')).toBe('2026-03-29T01:30:00.000Z');
    expect(at('03/29/26', '03:00:00')).toBe('2026-03-29T01:00:00.000Z');
    expect(at('02/30/26', '08:00:00')).toBeUndefined();
    expect(at('13/01/26', '08:00:00')).toBeUndefined();
  });

  it('completes a time of day with the gateway date, across midnight, never into the future', () => {
    const ts = compileTimestamp({ from: ['time'], format: 'HHmmss.S', zone: 'UTC' }, 'UTC');
    const received = Date.parse('2026-11-27T00:00:02Z');
    expect(readTimestamp(ts, new Map([['time', '235959.50']]), received)).toBe('2026-11-26T23:59:59.500Z');
    expect(readTimestamp(ts, new Map([['time', '000001']]), received)).toBe('2026-11-27T00:00:01.000Z');
    // Later today than the gateway clock (beyond the tolerance) is yesterday's, not a stamp ~12 h ahead.
    expect(readTimestamp(ts, new Map([['time', '113000']]), received)).toBe('2026-11-26T11:30:00.000Z');
    expect(readTimestamp(ts, new Map([['time', '000100']]), received)).toBe('2026-11-27T00:01:00.000Z');
    expect(readTimestamp(ts, new Map([['time', '000103']]), received)).toBe('2026-11-26T00:01:03.000Z');
    expect(readTimestamp(ts, new Map([['time', '']]), received)).toBeUndefined();
  });

  it('NMEA GGA takes the date of the stream\'s last RMC, across midnight, even when the gateway clock is wrong', () => {
    const driver = loadDriverFile('nmea-gps', SerialDriver, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver;
    const decoder = new SerialDecoder(driver, { deviceId: 'gps', inputName: 'i', source: 's', timezone: 'UTC', deadLetterBytes: 64 });
    const line = (body: string): Buffer => Buffer.from(`${withNmeaChecksum(body)}\r\n`, 'latin1');
    const gga = (time: string): string => `$GPGGA,${time},5230.8885,N,01327.8559,E,1,09,0.9,62.6,M,42.1,M,,`;
    const rmc = (time: string, date: string): string => `$GPRMC,${time},A,5230.8885,N,01327.8559,E,0.50,,${date},,,A`;
    const timesOf = (drafts: EventDraft[]): (string | null)[] => [...new Set(drafts.filter((d) => d.type === 'reading' && d.metric === 'latitude').map((d) => d.sourceTime))];
    // The gateway clock (a Pi without a real-time clock, just booted) says 1 January, 09:00; the receiver says 26 November.
    let gateway = Date.parse('2026-01-01T09:00:00Z');
    // Before any RMC the gateway date is all there is: 23:59:58 is the evening before the gateway's "now".
    expect(timesOf(decoder.push(line(gga('235958.00')), gateway))).toEqual(['2025-12-31T23:59:58.000Z']);
    expect(timesOf(decoder.push(line(rmc('235958.00', '261126')), gateway))).toEqual(['2026-11-26T23:59:58.000Z']);
    gateway += 1000;
    expect(timesOf(decoder.push(line(gga('235959.00')), gateway))).toEqual(['2026-11-26T23:59:59.000Z']);
    gateway += 1000;
    // Past midnight, before the next RMC: the next day, by the receiver's clock.
    expect(timesOf(decoder.push(line(gga('000000.00')), gateway))).toEqual(['2026-11-27T00:00:00.000Z']);
    expect(timesOf(decoder.push(line(rmc('000000.00', '271126')), gateway))).toEqual(['2026-11-27T00:00:00.000Z']);
    // Unplugged: the next device may have another date, so the stream clock starts over from the gateway's.
    decoder.drain(gateway);
    expect(timesOf(decoder.push(line(gga('000001.00')), gateway))).toEqual(['2026-01-01T00:00:01.000Z']);
  });
});

describe('driver files and input config', () => {
  it('the shipped drivers are valid', () => {
    for (const name of ['nmea-gps', 'pulse-oximeter-ascii', 'pulse-oximeter-df2']) {
      expect(loadDriverFile(name, SerialDriver, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver.name).toBe(name);
    }
  });

  it('an invalid driver fails the family check with file, path and reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-serial-driver-'));
    writeFileSync(
      join(dir, 'broken.yaml'),
      ['kind: serial', 'name: broken', 'framing: { type: fixed, length: 5 }', 'records:', '  - name: r', '    parse: { type: binary }', '    fields:', '      - { metric: x, parts: [{ byte: 7 }] }', '      - { metric: y, from: Y }'].join('\n'),
    );
    const input = SerialInputConfig.parse({ type: 'serial', name: 's', port: '/dev/ttyUSB0', driver: 'broken', deviceId: 'd' });
    const problems = (serialFamily.check?.(input, { configDir: dir, driverSearchPaths: [dir] }) ?? []).map((p) => formatProblem(p, undefined));
    expect(problems).toContain(`${join(dir, 'broken.yaml')}:8:38: records[0].fields[0].parts[0].byte: GW_DRIVER_INVALID: past the end of the 5-byte frame (driver file of driver)`);
    expect(problems).toContain(`${join(dir, 'broken.yaml')}:9:9: records[0].fields[1].parts: GW_DRIVER_INVALID: binary records need parts (where the number is) (driver file of driver)`);
    const missing = serialFamily.check?.({ ...input, driver: 'missing' }, { configDir: dir, driverSearchPaths: [dir] }) ?? [];
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ code: 'GW_DRIVER_NOT_FOUND', path: ['driver'], message: expect.stringMatching(/^driver "missing" not found; available serial drivers: broken; looked in /) });
    rmSync(dir, { recursive: true, force: true });
  });

  it('describe prints port, line settings (input overrides driver), framing and fields', () => {
    const input = SerialInputConfig.parse({ type: 'serial', name: 'ox', port: '/dev/serial/by-id/usb-FTDI-if00', driver: 'pulse-oximeter-df2', deviceId: 'bed-4', parity: 'even', flowControl: 'rtscts' });
    const lines = serialFamily.describe(input, { configDir: SHIPPED_DRIVERS_DIR, driverSearchPaths: [SHIPPED_DRIVERS_DIR], gatewayId: 'gw' });
    expect(lines[0]).toMatch(/^serial ox: \/dev\/serial\/by-id\/usb-FTDI-if00 \(9600 8E1, RTS\/CTS\), device bed-4, driver pulse-oximeter-df2/);
    expect(lines[1]).toContain('fixed 5-byte frames (2 byte tests), checksum sum8, 25 frames a packet');
    expect(lines).toContain('    frame 0 byte 3 & 0x3 << 7 | frame 1 byte 3 & 0x7f → pulse-rate [/min] code MDC_PULS_OXIM_PULS_RATE, no value: 511');
  });

  it('the input config names the path of a bad setting', () => {
    const result = SerialInputConfig.safeParse({ type: 'serial', name: 's', port: '/dev/x', driver: 'd', deviceId: 'd', parity: 'strange', timezone: 'Mars/Olympus', reopen: { initial: '5s', max: '1s' } });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['parity', 'timezone']));
  });
});
