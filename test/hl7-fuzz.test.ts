/**
 * Fuzzing the HL7 input's decoding path — MLLP framer → HL7 parser → PCD-01/PCD-04 mapping → ACK building — with
 * 150,000 inputs, at least 100,000 of them whole frames: random bytes, mutations of the golden fixtures' frames (byte flips, inserted delimiters and
 * MLLP control bytes, truncation, duplicated segments) and random HL7 built from a vocabulary (escapes, empty
 * and repeated fields, odd delimiters, bad times and values), fed to ONE long-lived session in random read sizes.
 * Properties: nothing throws; every event is valid against the event schema; every answer is an HL7 ACK whose
 * MSA-1 is a known code; bytes held by the framer stay bounded. Seeded (FUZZ_SEED=n explores others).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { TelemetryEventSchema, type EventDraft } from '../src/events/schema.js';
import { Hl7InputConfig } from '../src/inputs/hl7/config.js';
import { loadHl7Driver } from '../src/inputs/hl7/driver.js';
import { compileHl7Driver } from '../src/inputs/hl7/mapping.js';
import { Hl7Processor } from '../src/inputs/hl7/processor.js';
import { MllpSession } from '../src/inputs/hl7/session.js';
import type { FoundReceipt, IngestSink, ReceiptLedger, SourceReceipt } from '../src/inputs/input.js';
import { fixtureFile } from './support/hl7.js';

/** Inputs; about three in four are whole frames, the rest raw bytes or frames cut short. */
const RUNS = 150_000;
const MIN_FRAMES = 100_000;
const BATCHES = 30;
const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const MAX_FRAME = 16_384;
const ACK_CODES = new Set(['AA', 'AE', 'AR', 'CA', 'CE', 'CR']);

/** A sink and ledger in memory (the seam the buffer fills): commits at once, remembers receipts. */
class MemoryStore implements IngestSink, ReceiptLedger {
  drafts = 0;
  readonly #receipts = new Map<string, FoundReceipt>();
  #number = 0;
  append(drafts: readonly EventDraft[], receipt?: SourceReceipt): Promise<void> {
    for (const d of drafts) check(d);
    this.drafts += drafts.length;
    if (receipt) {
      this.#number += 1;
      this.#receipts.set(`${receipt.source}\u0000${receipt.key}`, { digest: receipt.digest, number: this.#number, committedAt: 0, committed: Promise.resolve() });
    }
    return Promise.resolve();
  }
  flush(): void {}
  find(source: string, key: string): FoundReceipt | undefined {
    return this.#receipts.get(`${source}\u0000${key}`);
  }
  latestNumber(): number {
    return this.#number;
  }
  purge(): number {
    return 0;
  }
}

function check(d: EventDraft): void {
  const parsed = TelemetryEventSchema.safeParse({ ...d, schemaVersion: 2, id: 'x', gatewayId: 'g', seq: 0 });
  if (!parsed.success) throw new Error(`invalid event ${JSON.stringify(d).slice(0, 300)}: ${parsed.error.message.slice(0, 300)}`);
  if (d.type === 'reading' && typeof d.value === 'number' && !Number.isFinite(d.value)) throw new Error('non-finite value');
  if (d.deviceId === '') throw new Error('empty device id');
}

const CASES = join(import.meta.dirname, 'cases/hl7');
/** The golden fixtures' frames (without MLLP framing): the seeds of the mutations. */
const CORPUS: Buffer[] = readdirSync(CASES).flatMap((name) => {
  const bytes = fixtureFile(join(CASES, name, 'input.txt'));
  return bytes
    .toString('latin1')
    .split('\x0b')
    .slice(1)
    .map((f) => Buffer.from(f.split('\x1c')[0] ?? '', 'latin1'))
    .filter((f) => f.length > 0);
});

const VOCAB = ['MSH', 'PID', 'PV1', 'OBR', 'OBX', 'NTE', 'MSA', 'ZZZ', '|', '^', '~', '\\', '&', '\\F\\', '\\S\\', '\\X4F\\', '\\E', 'NM', 'ST', 'CWE', 'SN', 'ORU^R01', 'ORU^R40', 'ACK', 'AL', 'NE', 'ER', 'SU', '2.6', '2.3', '150456^MDC_PULS_OXIM_SAT_O2^MDC', '262688^MDC_DIM_PERCENT^MDC', 'MDC_ATTR_EVENT_PHASE', 'end', 'PH~SP', '1.3.1.150456.1', '20261127101500+0100', '2026022930', '9O', '-1e308', '97', '', '\r', '\n', 'X', 'F', 'R', 'D'];

const structured = fc
  .array(fc.constantFrom(...VOCAB), { minLength: 1, maxLength: 80 })
  .map((tokens) => Buffer.from(`MSH|^~\\&|${tokens.join('')}`, 'utf8'));

const mutated = fc.tuple(fc.constantFrom(...CORPUS), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 5 }), fc.constantFrom(0x0b, 0x1c, 0x0d, 0x7c, 0x5e, 0x7e, 0x5c, 0x26, 0x00, 0xff, 0x30)), { maxLength: 8 })).map(([frame, edits]) => {
  let bytes = Buffer.from(frame);
  for (const [at, kind, byte] of edits) {
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    if (kind === 0) bytes[i] = byte;
    else if (kind === 1) bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
    else if (kind === 2) bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
    else if (kind === 3) bytes = bytes.subarray(0, i);
    else if (kind === 4) bytes = Buffer.concat([bytes, bytes.subarray(i)]);
    else bytes[i] = (bytes[i] ?? 0) ^ (1 << (byte % 8));
  }
  return bytes;
});

const randomBytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/** One frame (sometimes left unframed or cut), as a sender would write it, and the read size. */
const input = fc.record({
  body: fc.oneof({ weight: 3, arbitrary: mutated }, { weight: 2, arbitrary: structured }, { weight: 1, arbitrary: randomBytes }),
  framing: fc.constantFrom('framed', 'framed', 'framed', 'framed', 'framed', 'no-cr', 'raw', 'cut'),
  chunk: fc.integer({ min: 1, max: 400 }),
});

describe('HL7 input fuzzing', () => {
  it(`${RUNS} inputs (at least ${MIN_FRAMES} whole frames) through framer, parser, mapping and ACKs: no crash, valid events, bounded memory`, async () => {
    const config = Hl7InputConfig.parse({ type: 'hl7', name: 'fuzz', listen: { port: 0 }, maxFrameBytes: MAX_FRAME, deadLetterBytes: 512, unsupported: 'dead-letter' });
    const { driver } = loadHl7Driver('ihe-pcd01', { configDir: SHIPPED_DRIVERS_DIR, driverSearchPaths: [SHIPPED_DRIVERS_DIR] });
    const store = new MemoryStore();
    const processor = new Hl7Processor(config, compileHl7Driver(driver), { sink: store, receipts: store, clock: { now: () => Date.parse('2026-11-27T10:00:00Z') }, gatewayId: 'g' });
    let acks = 0;
    let maxHeld = 0;
    const session = new MllpSession(processor, {
      peer: 'mllp 192.0.2.1:1',
      maxFrameBytes: MAX_FRAME,
      keepBytes: 512,
      write: (frame) => {
        acks += 1;
        const text = frame.subarray(1, -2).toString('utf8');
        const segments = text.split('\r');
        if (!segments[0]?.startsWith('MSH') || !ACK_CODES.has(segments[1]?.slice(4, 6) ?? '')) throw new Error(`not an ACK: ${text.slice(0, 200)}`);
      },
      fail: (err) => {
        throw err;
      },
      observe: () => undefined,
      pause: () => undefined,
      resume: () => undefined,
    });
    for (let batch = 0; batch < BATCHES; batch++) {
      fc.assert(
        fc.property(input, ({ body, framing, chunk }) => {
          const bytes =
            framing === 'framed'
              ? Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c, 0x0d])])
              : framing === 'no-cr'
                ? Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c])])
                : framing === 'cut'
                  ? Buffer.concat([Buffer.from([0x0b]), body.subarray(0, body.length >> 1)])
                  : body;
          for (let i = 0; i < bytes.length; i += chunk) {
            session.push(bytes.subarray(i, i + chunk));
            maxHeld = Math.max(maxHeld, session.framerHeldBytes);
          }
        }),
        { numRuns: RUNS / BATCHES, seed: SEED + batch },
      );
      await session.idle();
    }
    session.end();
    await session.idle();
    const stats = session.framerStats;
    console.log(`[fuzz] hl7: ${stats.frames} frames (+${stats.garbageRuns} garbage runs, ${stats.oversize} oversize), ${store.drafts} events, ${acks} ACKs, max held ${maxHeld} bytes`);
    expect(stats.frames).toBeGreaterThanOrEqual(MIN_FRAMES);
    expect(acks).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(MAX_FRAME + 400 + 1024);
  }, 300_000);
});
