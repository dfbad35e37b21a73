/** Checksums of serial protocols. Pure functions over byte ranges; table-free (records are short). */
import type { ChecksumSpecT } from '../driver.js';

/** XOR of all bytes (NMEA 0183: the characters between `$` and `*`). */
export function xor8(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** Sum of all bytes modulo 256 (Nonin Data Format 2). */
export function sum8(bytes: Uint8Array): number {
  let s = 0;
  for (const b of bytes) s = (s + b) & 0xff;
  return s;
}

/** CRC-16/MODBUS: poly 0x8005 reflected (0xA001), init 0xFFFF, no final XOR; sent low byte first. */
export function crc16Modbus(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final XOR; sent high byte first. */
export function crc16Ccitt(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** CRC-16/X-25 (HDLC/PPP FCS-16): poly 0x1021 reflected (0x8408), init 0xFFFF, final XOR 0xFFFF; sent low byte first. */
export function crc16X25(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc ^ 0xffff;
}

function position(index: number, length: number): number {
  return index < 0 ? length + index : index;
}

export interface BinaryChecksumLayout {
  from: number;
  to: number;
  at: number;
  size: 1 | 2;
  littleEndian: boolean;
}

/** Absolute positions of a binary checksum inside a record of `length` bytes; undefined when they do not fit. */
export function binaryChecksumLayout(spec: ChecksumSpecT, length: number): BinaryChecksumLayout | undefined {
  const size = spec.type === 'sum8' ? 1 : 2;
  const at = position(spec.at ?? -size, length);
  const from = position(spec.from, length);
  const to = position(spec.to ?? spec.at ?? -size, length);
  if (at < 0 || at + size > length || from < 0 || to > length || from > to) return undefined;
  return { from, to, at, size, littleEndian: spec.type === 'crc16-modbus' || spec.type === 'crc16-x25' };
}

export function computeBinaryChecksum(type: ChecksumSpecT['type'], bytes: Uint8Array): number {
  switch (type) {
    case 'sum8':
      return sum8(bytes);
    case 'crc16-modbus':
      return crc16Modbus(bytes);
    case 'crc16-ccitt':
      return crc16Ccitt(bytes);
    case 'crc16-x25':
      return crc16X25(bytes);
    case 'nmea-xor':
      return xor8(bytes);
  }
}

/** Checks a binary checksum; returns a problem text (with positions relative to the record) or undefined when valid. */
export function verifyBinaryChecksum(spec: ChecksumSpecT, record: Uint8Array): string | undefined {
  const layout = binaryChecksumLayout(spec, record.length);
  if (!layout) return `record of ${record.length} bytes is too short for its ${spec.type} checksum`;
  const expected = computeBinaryChecksum(spec.type, record.subarray(layout.from, layout.to));
  const stated =
    layout.size === 1
      ? (record[layout.at] ?? 0)
      : layout.littleEndian
        ? (record[layout.at] ?? 0) | ((record[layout.at + 1] ?? 0) << 8)
        : ((record[layout.at] ?? 0) << 8) | (record[layout.at + 1] ?? 0);
  if (stated === expected) return undefined;
  const hex = (n: number): string => `0x${n.toString(16).padStart(layout.size * 2, '0').toUpperCase()}`;
  return `bad ${spec.type} checksum: stated ${hex(stated)}, computed ${hex(expected)}`;
}

/** Writes a binary checksum into a record (the simulator). */
export function writeBinaryChecksum(spec: ChecksumSpecT, record: Uint8Array): void {
  const layout = binaryChecksumLayout(spec, record.length);
  if (!layout) return;
  const value = computeBinaryChecksum(spec.type, record.subarray(layout.from, layout.to));
  if (layout.size === 1) record[layout.at] = value & 0xff;
  else if (layout.littleEndian) {
    record[layout.at] = value & 0xff;
    record[layout.at + 1] = value >>> 8;
  } else {
    record[layout.at] = value >>> 8;
    record[layout.at + 1] = value & 0xff;
  }
}

/**
 * Checks the NMEA checksum of one line (`$...*HH`). Returns the line without `*HH` when valid, else a problem.
 * The XOR covers the characters after the first `$` or `!` up to the last `*`.
 */
export function verifyNmeaChecksum(line: string): { ok: true; body: string } | { ok: false; problem: string } {
  const star = line.lastIndexOf('*');
  if (star < 0) return { ok: false, problem: 'no *HH checksum at the end of the line' };
  const statedText = line.slice(star + 1).trim();
  if (!/^[0-9A-Fa-f]{2}$/.test(statedText)) return { ok: false, problem: `checksum "${statedText.slice(0, 8)}" after * is not two hex digits` };
  const begin = line[0] === '$' || line[0] === '!' ? 1 : 0;
  let x = 0;
  for (let i = begin; i < star; i++) x ^= line.charCodeAt(i) & 0xff;
  const stated = parseInt(statedText, 16);
  if (stated !== x) {
    return { ok: false, problem: `bad nmea-xor checksum: stated ${statedText.toUpperCase()}, computed ${x.toString(16).padStart(2, '0').toUpperCase()}` };
  }
  return { ok: true, body: line.slice(0, star) };
}

/** Appends `*HH` to an NMEA sentence body (the simulator). */
export function withNmeaChecksum(body: string): string {
  const begin = body[0] === '$' || body[0] === '!' ? 1 : 0;
  let x = 0;
  for (let i = begin; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return `${body}*${x.toString(16).padStart(2, '0').toUpperCase()}`;
}
