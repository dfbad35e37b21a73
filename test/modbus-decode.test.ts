import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { driverSearchPaths, loadDriverFile } from '../src/drivers/driver-files.js';
import { ModbusDevice } from '../src/inputs/modbus/config.js';
import { decodeWords, encodeWords, roundFloat32, type RawValue } from '../src/inputs/modbus/decode.js';
import { ModbusDriverSchema, type ByteOrder, type DataType } from '../src/inputs/modbus/driver.js';
import { planDevice } from '../src/inputs/modbus/planner.js';
import { readingsFromResponse } from '../src/inputs/modbus/readings.js';

interface KnownFrame {
  type: DataType;
  order: ByteOrder;
  words: number[];
  value: RawValue;
  length?: number;
}

// Registers as they travel (each 16-bit word big-endian on the wire), with the value they must decode to.
const FRAMES: KnownFrame[] = [
  // float32 230.2 = 0x43663334 (the Eastron protocol example) in all four orders
  { type: 'float32', order: 'ABCD', words: [0x4366, 0x3334], value: 230.2 },
  { type: 'float32', order: 'CDAB', words: [0x3334, 0x4366], value: 230.2 },
  { type: 'float32', order: 'BADC', words: [0x6643, 0x3433], value: 230.2 },
  { type: 'float32', order: 'DCBA', words: [0x3433, 0x6643], value: 230.2 },
  { type: 'float32', order: 'ABCD', words: [0xc2f7, 0x0000], value: -123.5 },
  // int16 -205 = 0xFF33 (XY-MD02 at -20.5 Cel), uint16 5460 = 0x1554
  { type: 'int16', order: 'ABCD', words: [0xff33], value: -205 },
  { type: 'int16', order: 'CDAB', words: [0xff33], value: -205 },
  { type: 'int16', order: 'BADC', words: [0x33ff], value: -205 },
  { type: 'int16', order: 'DCBA', words: [0x33ff], value: -205 },
  { type: 'uint16', order: 'ABCD', words: [0x1554], value: 5460 },
  { type: 'uint16', order: 'BADC', words: [0x5415], value: 5460 },
  { type: 'uint16', order: 'ABCD', words: [0xffff], value: 65535 },
  // int32 -123456789 = 0xF8A432EB, uint32 3735928559 = 0xDEADBEEF
  { type: 'int32', order: 'ABCD', words: [0xf8a4, 0x32eb], value: -123456789 },
  { type: 'int32', order: 'CDAB', words: [0x32eb, 0xf8a4], value: -123456789 },
  { type: 'int32', order: 'BADC', words: [0xa4f8, 0xeb32], value: -123456789 },
  { type: 'int32', order: 'DCBA', words: [0xeb32, 0xa4f8], value: -123456789 },
  { type: 'uint32', order: 'ABCD', words: [0xdead, 0xbeef], value: 3735928559 },
  { type: 'uint32', order: 'CDAB', words: [0xbeef, 0xdead], value: 3735928559 },
  { type: 'uint32', order: 'BADC', words: [0xadde, 0xefbe], value: 3735928559 },
  { type: 'uint32', order: 'DCBA', words: [0xefbe, 0xadde], value: 3735928559 },
  // int64 -2 = 0xFFFFFFFFFFFFFFFE, uint64 0x0102030405060708
  { type: 'int64', order: 'ABCD', words: [0xffff, 0xffff, 0xffff, 0xfffe], value: -2n },
  { type: 'int64', order: 'CDAB', words: [0xfffe, 0xffff, 0xffff, 0xffff], value: -2n },
  { type: 'int64', order: 'BADC', words: [0xffff, 0xffff, 0xffff, 0xfeff], value: -2n },
  { type: 'int64', order: 'DCBA', words: [0xfeff, 0xffff, 0xffff, 0xffff], value: -2n },
  { type: 'uint64', order: 'ABCD', words: [0x0102, 0x0304, 0x0506, 0x0708], value: 0x0102030405060708n },
  { type: 'uint64', order: 'CDAB', words: [0x0708, 0x0506, 0x0304, 0x0102], value: 0x0102030405060708n },
  { type: 'uint64', order: 'BADC', words: [0x0201, 0x0403, 0x0605, 0x0807], value: 0x0102030405060708n },
  { type: 'uint64', order: 'DCBA', words: [0x0807, 0x0605, 0x0403, 0x0201], value: 0x0102030405060708n },
  // float64 230.2 = 0x406CC66666666666, 1.5 = 0x3FF8000000000000
  { type: 'float64', order: 'ABCD', words: [0x406c, 0xc666, 0x6666, 0x6666], value: 230.2 },
  { type: 'float64', order: 'CDAB', words: [0x6666, 0x6666, 0xc666, 0x406c], value: 230.2 },
  { type: 'float64', order: 'BADC', words: [0x6c40, 0x66c6, 0x6666, 0x6666], value: 230.2 },
  { type: 'float64', order: 'DCBA', words: [0x0000, 0x0000, 0x0000, 0xf83f], value: 1.5 },
  // strings: two characters per register, high byte first; NUL/space padding removed
  { type: 'string', order: 'ABCD', words: [0x5859, 0x2d4d, 0x4430, 0x3200], value: 'XY-MD02', length: 4 },
  { type: 'string', order: 'BADC', words: [0x5958, 0x4d2d, 0x3044, 0x0032], value: 'XY-MD02', length: 4 },
  { type: 'string', order: 'ABCD', words: [0x4142, 0x2020], value: 'AB', length: 2 },
];

describe('Modbus register decoding against known frames', () => {
  for (const f of FRAMES) {
    const words = f.words.map((w) => `0x${w.toString(16).padStart(4, '0')}`).join(' ');
    it(`${f.type} ${f.order}: ${words} = ${String(f.value)}`, () => {
      expect(decodeWords(f.words, f.type, f.order)).toEqual(f.value);
    });
    it(`${f.type} ${f.order}: ${String(f.value)} encodes back (${words})`, () => {
      const encoded = encodeWords(f.value, f.type, f.order, f.length);
      // The sample frame 0x43663334 is one float32 step above the float nearest to 230.2 (0x43663333): both read as 230.2.
      if (f.type === 'float32') expect(decodeWords(encoded, f.type, f.order)).toBe(f.value);
      // Padding is written as NULs, read back without them.
      else if (f.type === 'string' && f.words.includes(0x2020)) expect(encoded).toEqual([0x4142, 0x0000]);
      else expect(encoded).toEqual(f.words);
    });
  }

  it('bits of a register: 0x8008 has bits 3 and 15 set, bit 0 clear', () => {
    expect(decodeWords([0x8008], 'bit', 'ABCD', 3)).toBe(true);
    expect(decodeWords([0x8008], 'bit', 'ABCD', 15)).toBe(true);
    expect(decodeWords([0x8008], 'bit', 'ABCD', 0)).toBe(false);
    expect(decodeWords([0x0000], 'bool', 'ABCD')).toBe(false);
    expect(decodeWords([0x0001], 'bool', 'ABCD')).toBe(true);
  });

  it('the SDM630 uint16 fixture from a pymodbus log decodes as float32 ABCD, and CDAB gives garbage', () => {
    const words = [17626, 51897, 17932, 48860, 17443, 37567, 17782, 22767];
    const abcd = [0, 2, 4, 6].map((i) => decodeWords(words.slice(i, i + 2), 'float32', 'ABCD') as number);
    expect(abcd.map((v) => Number(v.toFixed(3)))).toEqual([1750.335, 9007.715, 654.293, 3941.558]);
    expect(Math.abs(decodeWords(words.slice(0, 2), 'float32', 'CDAB') as number)).toBeGreaterThan(1e6);
  });

  it('float32 values carry 7 significant digits (0x43663334 is 230.2000122… exactly)', () => {
    expect(roundFloat32(Math.fround(230.2))).toBe(230.2);
    expect(roundFloat32(Buffer.from('43663334', 'hex').readFloatBE(0))).toBe(230.2);
    expect(roundFloat32(Math.fround(0.1))).toBe(0.1);
    expect(roundFloat32(0)).toBe(0);
  });
});

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first. */
function crc16(bytes: Buffer): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1;
  }
  return crc;
}

/** An RTU read reply: unit, fc, byte count, data, CRC. Returns the registers. */
function parseReply(hex: string, unitId: number, functionCode: number, count: number): number[] {
  const frame = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  expect(frame.readUInt16LE(frame.length - 2), `CRC of ${hex}`).toBe(crc16(frame.subarray(0, -2)));
  expect(frame[0]).toBe(unitId);
  expect(frame[1]).toBe(functionCode);
  expect(frame[2]).toBe(count * 2);
  return Array.from({ length: count }, (_, i) => frame.readUInt16BE(3 + i * 2));
}

describe('golden cases: test/cases/modbus/<name>/{config.yaml,input.hex,expected.json}', () => {
  const root = join(import.meta.dirname, 'cases', 'modbus');
  for (const name of readdirSync(root).sort()) {
    it(name, () => {
      const dir = join(root, name);
      const { device: rawDevice } = parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as { device: unknown };
      const device = ModbusDevice.parse(rawDevice);
      const { driver } = loadDriverFile(device.driver, ModbusDriverSchema, driverSearchPaths(dir), dir);
      const plan = planDevice(driver, device);
      expect(plan.problems).toEqual([]);
      const requests = plan.groups.flatMap((g) => g.requests);
      const frames = readFileSync(join(dir, 'input.hex'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0 && !l.startsWith('#'));
      expect(frames).toHaveLength(requests.length);
      const readings = requests.flatMap((request, i) => {
        const words = parseReply(frames[i] ?? '', device.unitId, request.functionCode, request.count);
        return readingsFromResponse(request, words, { deviceId: device.id, receivedAt: '2026-01-01T00:00:00.000Z', source: 'golden' });
      });
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as unknown[];
      expect(readings.map((r) => ({ metric: r.metric, value: r.value, unit: r.unit, quality: r.quality }))).toEqual(expected);
      for (const r of readings) expect(r.deviceId).toBe(device.id);
    });
  }
});
