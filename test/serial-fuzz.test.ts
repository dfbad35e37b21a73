/**
 * Fuzzing the serial decoders: for every shipped driver (and the length-field and start/end framers), 100,000
 * random and mutated byte streams (bit flips, inserted/deleted bytes, truncation, splices of valid records,
 * random read sizes). No exception may escape, every event is well formed, and the bytes a decoder holds stay
 * bounded by its largest record (one long-lived decoder sees every input, as a port that never closes would).
 * Seeded: the same inputs every run (FUZZ_SEED=n explores others).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { EventDraft } from '../src/events/schema.js';
import { SerialDecoder } from '../src/inputs/serial/decoder.js';
import { SerialDriver, type SerialDriverT } from '../src/inputs/serial/driver.js';
import { writeBinaryChecksum } from '../src/inputs/serial/framing/checksums.js';
import { MAX_SKIPPED_RUN } from '../src/inputs/serial/framing/framer.js';
import { SerialRecordEncoder } from '../src/simulators/serial.js';

const RUNS = 100_000;
const BATCHES = 20;
const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const MAX_CHUNK = 64;
const NOW = Date.parse('2026-11-27T10:00:00Z');

function shipped(name: string): SerialDriverT {
  return loadDriverFile(name, SerialDriver, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver;
}

/** Valid records of a shipped driver, from its simulator encoder with varied values (sentinels included). */
function corpusOf(driver: SerialDriverT): Buffer[] {
  const encoder = new SerialRecordEncoder(driver);
  const names = Object.keys(driver.simulation?.values ?? {});
  const out: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const values = Object.fromEntries(names.map((n, j) => [n, i % 9 === 4 ? null : ((i * 37 + j * 11) % 120) + (j === 0 ? 0.25 : 0)]));
    out.push(Buffer.concat(encoder.encode(values, NOW + i * 1000)));
  }
  return out;
}

function lengthFieldDriver(): SerialDriverT {
  return SerialDriver.parse({
    kind: 'serial',
    name: 'fuzz-length-field',
    framing: { type: 'length-field', start: [0xaa, 0x55], lengthAt: 2, lengthAdjust: 5, maxLength: 64, match: [{ byte: 3, mask: 0xf0, equals: 0x10 }] },
    checksum: { type: 'crc16-modbus' },
    records: [
      {
        name: 'r',
        parse: { type: 'binary' },
        fields: [{ metric: 'v', parts: [{ byte: 4 }, { byte: 5, shift: 8 }], sentinels: [0xffff] }],
        alarms: [{ parts: [{ byte: 3 }], bits: [{ mask: 1, alarm: 'a', severity: 'low', message: 'a' }] }],
      },
    ],
  });
}

function lengthFieldCorpus(): Buffer[] {
  return Array.from({ length: 20 }, (_, i) => {
    const payload = [0x10 | (i & 1), i, i * 7, ...Array.from({ length: i % 5 }, () => i)];
    const frame = Buffer.from([0xaa, 0x55, payload.length, ...payload, 0, 0]);
    writeBinaryChecksum({ type: 'crc16-modbus', from: 0 }, frame);
    return frame;
  });
}

function startEndDriver(): SerialDriverT {
  return SerialDriver.parse({
    kind: 'serial',
    name: 'fuzz-start-end',
    framing: { type: 'start-end', start: 0xc0, end: 0xc1, escape: 0x7d, maxLength: 48 },
    checksum: { type: 'crc16-x25' },
    records: [{ name: 'r', parse: { type: 'binary' }, fields: [{ metric: 'v', parts: [{ byte: 1 }, { byte: 2, shift: 8 }] }] }],
  });
}

function startEndCorpus(): Buffer[] {
  return Array.from({ length: 20 }, (_, i) => {
    const content = Buffer.from([0x11, (i * 29) & 0xff, 0xc0 + (i % 3), 0x7d, i, 0, 0]);
    writeBinaryChecksum({ type: 'crc16-x25', from: 0 }, content);
    const stuffed = [...content].flatMap((b) => (b === 0xc0 || b === 0xc1 || b === 0x7d ? [0x7d, b ^ 0x20] : [b]));
    return Buffer.from([0xc0, ...stuffed, 0xc1]);
  });
}

type Mutation = { op: 'flip'; at: number; bit: number } | { op: 'insert'; at: number; byte: number } | { op: 'delete'; at: number } | { op: 'truncate'; at: number };

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  const bytes = [...input];
  for (const m of mutations) {
    if (bytes.length === 0 && m.op !== 'insert') continue;
    const at = m.at % Math.max(1, bytes.length);
    if (m.op === 'flip') bytes[at] = (bytes[at] ?? 0) ^ (1 << m.bit);
    else if (m.op === 'insert') bytes.splice(at, 0, m.byte);
    else if (m.op === 'delete') bytes.splice(at, 1);
    else bytes.length = at;
  }
  return Buffer.from(bytes);
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function streamArb(corpus: readonly Buffer[]): fc.Arbitrary<{ bytes: Buffer; chunk: number }> {
  const random = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
  const mutated = fc
    .tuple(fc.array(fc.integer({ min: 0, max: corpus.length - 1 }), { minLength: 1, maxLength: 2 }), fc.array(mutationArb, { maxLength: 6 }))
    .map(([picks, mutations]) => mutate(Buffer.concat(picks.map((i) => corpus[i] ?? Buffer.alloc(0))), mutations));
  return fc.record({ bytes: fc.oneof(random, mutated, mutated), chunk: fc.integer({ min: 1, max: MAX_CHUNK }) });
}

function wellFormed(d: EventDraft): boolean {
  if (d.deviceId !== 'fuzz' || typeof d.receivedAt !== 'string') return false;
  switch (d.type) {
    case 'reading':
      return d.value === null ? d.quality === 'bad' : typeof d.value !== 'number' || Number.isFinite(d.value);
    case 'alarm':
      return d.state === 'active' || d.state === 'cleared';
    case 'dead-letter':
      return d.payloadBytes >= 0 && Buffer.from(d.payloadBase64, 'base64').length <= 256 && /offset \d+/.test(d.reason);
    default:
      return false;
  }
}

function largestRecord(driver: SerialDriverT): number {
  const f = driver.framing;
  const frame = f.type === 'fixed' ? f.length : f.maxLength;
  return frame * (driver.packet?.frames ?? 1);
}

const targets: [string, () => SerialDriverT, (d: SerialDriverT) => Buffer[]][] = [
  ['nmea-gps', () => shipped('nmea-gps'), corpusOf],
  ['pulse-oximeter-ascii', () => shipped('pulse-oximeter-ascii'), corpusOf],
  ['pulse-oximeter-df2', () => shipped('pulse-oximeter-df2'), corpusOf],
  ['length-field framer (crc16-modbus)', lengthFieldDriver, lengthFieldCorpus],
  ['start-end framer with stuffing (crc16-x25)', startEndDriver, startEndCorpus],
];

describe('serial decoder fuzzing', () => {
  for (const [name, makeDriver, makeCorpus] of targets) {
    it(`${name}: ${RUNS} random and mutated streams, no exception, bounded memory`, async () => {
      const driver = makeDriver();
      const corpus = makeCorpus(driver);
      const options = { deviceId: 'fuzz', inputName: 'fuzz', source: '/dev/fuzz', timezone: 'Europe/Berlin', deadLetterBytes: 256 };
      // The corpus itself decodes to readings (the fuzzer starts from valid input, not only noise).
      const clean = new SerialDecoder(driver, options).push(Buffer.concat(corpus), NOW);
      expect(clean.filter((d) => d.type === 'reading').length).toBeGreaterThan(0);

      const longLived = new SerialDecoder(driver, options);
      const bound = largestRecord(driver) + MAX_CHUNK + MAX_SKIPPED_RUN;
      let maxHeld = 0;
      let drafts = 0;
      let runs = 0;
      // In batches, yielding between them: a long synchronous run starves the test runner's own messaging.
      for (let batch = 0; batch < BATCHES; batch++) {
        fc.assert(
          fc.property(streamArb(corpus), ({ bytes, chunk }) => {
            const fresh = new SerialDecoder(driver, options);
            // Every fourth stream also goes through the long-lived decoder (a port that never closes).
            const feedLongLived = runs++ % 4 === 0;
            for (let i = 0; i < bytes.length; i += chunk) {
              const piece = bytes.subarray(i, i + chunk);
              for (const d of [...fresh.push(piece, NOW), ...(feedLongLived ? longLived.push(piece, NOW) : [])]) {
                drafts += 1;
                if (!wellFormed(d)) throw new Error(`malformed draft ${JSON.stringify(d)}`);
              }
              maxHeld = Math.max(maxHeld, longLived.heldBytes(), fresh.heldBytes());
            }
            for (const d of fresh.drain(NOW)) if (!wellFormed(d)) throw new Error(`malformed draft ${JSON.stringify(d)}`);
            return fresh.heldBytes() === 0;
          }),
          { numRuns: RUNS / BATCHES, seed: SEED + batch },
        );
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(maxHeld).toBeLessThanOrEqual(bound);
      expect(drafts).toBeGreaterThan(RUNS / 10);
      expect(runs).toBe(RUNS);
      expect(longLived.stats.bytes).toBeGreaterThan(RUNS / 4);
    });
  }
});
