/**
 * Pure register decoding: 16-bit words (as they arrive, big-endian per word on the wire) → typed values, and the
 * inverse for the simulator. Byte order letters name the bytes of the value from most to least significant as
 * they appear on the wire: ABCD = big-endian words, high word first (Eastron); CDAB = low word first; BADC =
 * bytes swapped in each word; DCBA = fully little-endian. For 16-bit values only the byte swap matters.
 */
import type { ByteOrder, DataType } from './driver.js';

export type RawValue = number | bigint | boolean | string;

function wordSwapped(order: ByteOrder): boolean {
  return order === 'CDAB' || order === 'DCBA';
}

function byteSwapped(order: ByteOrder): boolean {
  return order === 'BADC' || order === 'DCBA';
}

/** The value's bytes, most significant first, from its registers as received. */
function valueBytes(words: readonly number[], order: ByteOrder): Buffer {
  const ordered = wordSwapped(order) ? [...words].reverse() : words;
  const bytes = Buffer.alloc(ordered.length * 2);
  ordered.forEach((word, i) => {
    const hi = (word >> 8) & 0xff;
    const lo = word & 0xff;
    bytes[i * 2] = byteSwapped(order) ? lo : hi;
    bytes[i * 2 + 1] = byteSwapped(order) ? hi : lo;
  });
  return bytes;
}

/** The registers to send for a value whose bytes are given most significant first (inverse of valueBytes). */
function wordsOf(bytes: Buffer, order: ByteOrder): number[] {
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    const hi = bytes[i] ?? 0;
    const lo = bytes[i + 1] ?? 0;
    words.push(byteSwapped(order) ? (lo << 8) | hi : (hi << 8) | lo);
  }
  return wordSwapped(order) ? words.reverse() : words;
}

/**
 * A float32 as a decimal of 7 significant digits, the precision a float32 carries: 0x43663334 → 230.2 (the
 * Eastron example; the exact value is 230.2000122…), 0x44DACAB9 → 1750.335.
 */
export function roundFloat32(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(7));
}

/**
 * Decodes one value from its registers. `words` holds exactly the value's registers (1 for 16-bit types and bits,
 * 2 for 32-bit, 4 for 64-bit, N for strings). 64-bit integers come back as bigint.
 */
export function decodeWords(words: readonly number[], type: DataType, order: ByteOrder, bit = 0): RawValue {
  switch (type) {
    case 'bool':
      return (words[0] ?? 0) !== 0;
    case 'bit':
      return (((words[0] ?? 0) >> bit) & 1) === 1;
    case 'string': {
      // Characters travel in register order, two per register, high byte first; BADC/DCBA swap them per register.
      const bytes = valueBytes(words, byteSwapped(order) ? 'BADC' : 'ABCD');
      const end = bytes.indexOf(0);
      return bytes
        .subarray(0, end === -1 ? bytes.length : end)
        .toString('latin1')
        .replace(/[\s]+$/, '');
    }
    default:
      break;
  }
  const bytes = valueBytes(words, order);
  switch (type) {
    case 'int16':
      return bytes.readInt16BE(0);
    case 'uint16':
      return bytes.readUInt16BE(0);
    case 'int32':
      return bytes.readInt32BE(0);
    case 'uint32':
      return bytes.readUInt32BE(0);
    case 'float32':
      return roundFloat32(bytes.readFloatBE(0));
    case 'int64':
      return bytes.readBigInt64BE(0);
    case 'uint64':
      return bytes.readBigUInt64BE(0);
    case 'float64':
      return bytes.readDoubleBE(0);
  }
}

/** Encodes a raw value into registers (the simulator's side; also used to build test frames). */
export function encodeWords(value: RawValue, type: DataType, order: ByteOrder, length = 1): number[] {
  switch (type) {
    case 'bool':
    case 'bit':
      throw new Error(`encodeWords: ${type} is set bit by bit, not as a word`);
    case 'string': {
      const bytes = Buffer.alloc(length * 2);
      bytes.write(String(value).slice(0, length * 2), 'latin1');
      return wordsOf(bytes, byteSwapped(order) ? 'BADC' : 'ABCD');
    }
    default:
      break;
  }
  const size = type.endsWith('64') ? 8 : type.endsWith('32') ? 4 : 2;
  const bytes = Buffer.alloc(size);
  const n = typeof value === 'bigint' ? value : typeof value === 'number' ? value : Number(value);
  const integer = (min: number, max: number): number => Math.min(max, Math.max(min, Math.round(Number(n))));
  switch (type) {
    case 'int16':
      bytes.writeInt16BE(integer(-0x8000, 0x7fff));
      break;
    case 'uint16':
      bytes.writeUInt16BE(integer(0, 0xffff));
      break;
    case 'int32':
      bytes.writeInt32BE(integer(-0x80000000, 0x7fffffff));
      break;
    case 'uint32':
      bytes.writeUInt32BE(integer(0, 0xffffffff));
      break;
    case 'float32':
      bytes.writeFloatBE(Number(n));
      break;
    case 'float64':
      bytes.writeDoubleBE(Number(n));
      break;
    case 'int64':
      bytes.writeBigInt64BE(typeof n === 'bigint' ? n : BigInt(Math.round(n)));
      break;
    case 'uint64':
      bytes.writeBigUInt64BE(typeof n === 'bigint' ? n : BigInt(Math.max(0, Math.round(n))));
      break;
  }
  return wordsOf(bytes, order);
}

/** Rounds away binary noise of scaling (305 × 0.1 = 30.500000000000004 → 30.5). */
export function applyScale(raw: number, scale: number, offset: number): number {
  if (scale === 1 && offset === 0) return raw;
  return Number((raw * scale + offset).toPrecision(12));
}

/** Raw value as a number for scaling and sentinel checks (bigint beyond 2^53 loses precision, as documented). */
export function rawNumber(raw: RawValue): number | undefined {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'bigint') return Number(raw);
  return undefined;
}
