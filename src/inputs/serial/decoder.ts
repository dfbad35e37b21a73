/**
 * The serial decoder: bytes as they arrive → event drafts, driven entirely by a driver file. Framing (and
 * packets of frames) → checksum → record type → fields → readings, alarm transitions and dead letters.
 * Pure apart from the alarm state it keeps between records; never throws on any input, bounded memory.
 */
import type { EventDraft } from '../../events/schema.js';
import type { SerialDriverT } from './driver.js';
import { verifyNmeaChecksum } from './framing/checksums.js';
import { byteTestProblem, createFramer, type Framer, type FramerOutput } from './framing/framer.js';
import { compileRecord, convertBinaryField, convertTextField, parseTextFields, readParts, textFlags, type CompiledRecord } from './records.js';
import { readTimestamp, StreamClock } from './timestamp.js';

export interface DecoderOptions {
  deviceId: string;
  inputName: string;
  /** Port path, named in every event's source. */
  source: string;
  /** IANA zone of device clocks without a zone of their own. */
  timezone: string;
  /** How much of a rejected record a dead letter keeps. */
  deadLetterBytes: number;
}

export interface DecoderStats {
  bytes: number;
  records: number;
  readings: number;
  alarms: number;
  deadLetters: number;
  checksumErrors: number;
  ignored: number;
}

export class SerialDecoder {
  readonly #driver: SerialDriverT;
  readonly #options: DecoderOptions;
  readonly #framer: Framer;
  readonly #records: CompiledRecord[];
  readonly #frameLength: number;
  readonly #alarmActive = new Map<string, boolean>();
  /** The device's clock by its dated records, for records that carry only a time of day (NMEA GGA after RMC). */
  readonly #clock = new StreamClock();
  /** Frames of the packet being assembled (packet drivers). */
  #packet: Buffer[] = [];
  #packetOffset = 0;
  /** The frames held were seen before any packet start (the stream began mid-packet). */
  #packetUnplaced = false;
  readonly stats: DecoderStats = { bytes: 0, records: 0, readings: 0, alarms: 0, deadLetters: 0, checksumErrors: 0, ignored: 0 };

  constructor(driver: SerialDriverT, options: DecoderOptions) {
    this.#driver = driver;
    this.#options = options;
    this.#framer = createFramer(driver.framing, driver.checksum?.type === 'nmea-xor' ? undefined : driver.checksum);
    this.#records = driver.records.map((r) => compileRecord(r, options.timezone));
    this.#frameLength = driver.framing.type === 'fixed' ? driver.framing.length : 0;
  }

  /** Bytes held between pushes (incomplete record, skipped run, frames of an incomplete packet). */
  heldBytes(): number {
    return this.#framer.held() + this.#packet.reduce((n, f) => n + f.length, 0);
  }

  /** Decodes the next bytes of the stream; `receivedAtMs` is the gateway time they arrived. */
  push(chunk: Buffer, receivedAtMs: number): EventDraft[] {
    this.stats.bytes += chunk.length;
    return this.#handle(this.#framer.push(chunk), receivedAtMs);
  }

  /**
   * The port closed: whatever incomplete record or packet is held is dead-lettered, never half-decoded, and the
   * next bytes start a fresh stream. Alarm states are kept (the device's alarm did not change by unplugging); the
   * stream's clock is not (the next device may have another date).
   */
  drain(receivedAtMs: number): EventDraft[] {
    const drafts = this.#handle(this.#framer.drain(), receivedAtMs);
    if (this.#packet.length > 0) drafts.push(this.#incompletePacket('the port closed', receivedAtMs));
    this.#clock.reset();
    return drafts;
  }

  #handle(outputs: readonly FramerOutput[], receivedAtMs: number): EventDraft[] {
    const drafts: EventDraft[] = [];
    const receivedAt = new Date(receivedAtMs).toISOString();
    for (const o of outputs) {
      if (o.kind === 'rejected') {
        if (o.reason.includes('checksum')) this.stats.checksumErrors += 1;
        drafts.push(this.#deadLetter(o.bytes, o.reason, receivedAt));
      } else if (this.#driver.packet) {
        this.#addFrame(o.bytes, o.offset, receivedAtMs, drafts);
      } else {
        this.#record(o.bytes, o.offset, receivedAtMs, drafts);
      }
    }
    return drafts;
  }

  #addFrame(frame: Buffer, offset: number, receivedAtMs: number, drafts: EventDraft[]): void {
    const packet = this.#driver.packet;
    if (!packet) return;
    const first = byteTestProblem([packet.first], frame) === undefined;
    if (first) {
      if (this.#packet.length > 0) drafts.push(this.#incompletePacket(`a new packet started at offset ${offset}`, receivedAtMs));
      this.#packet = [frame];
      this.#packetOffset = offset;
    } else if (this.#packet.length === 0) {
      // Mid-packet start: frames before the first packet start cannot be placed; collect them as one run.
      this.#packet = [frame];
      this.#packetOffset = offset;
      this.#packetUnplaced = true;
    } else {
      this.#packet.push(frame);
    }
    if (this.#packetUnplaced && first) this.#packetUnplaced = false;
    if (this.#packetUnplaced) {
      if (this.#packet.length >= packet.frames) drafts.push(this.#incompletePacket('no packet start seen', receivedAtMs));
      return;
    }
    if (this.#packet.length === packet.frames) {
      const bytes = Buffer.concat(this.#packet);
      this.#packet = [];
      this.#record(bytes, this.#packetOffset, receivedAtMs, drafts);
    }
  }

  #incompletePacket(why: string, receivedAtMs: number): EventDraft {
    const frames = this.#packet.length;
    const expected = this.#driver.packet?.frames ?? 0;
    const reason = this.#packetUnplaced
      ? `${frames} frames at offset ${this.#packetOffset} before the first packet start (stream started mid-packet): ${why}`
      : `incomplete packet at offset ${this.#packetOffset}: ${frames} of ${expected} frames, then ${why}`;
    const bytes = Buffer.concat(this.#packet);
    this.#packet = [];
    this.#packetUnplaced = false;
    return this.#deadLetter(bytes, reason, new Date(receivedAtMs).toISOString());
  }

  #record(bytes: Buffer, offset: number, receivedAtMs: number, drafts: EventDraft[]): void {
    const receivedAt = new Date(receivedAtMs).toISOString();
    const binary = this.#driver.framing.type !== 'lines';
    let text = '';
    if (!binary) {
      text = bytes.toString(this.#driver.framing.type === 'lines' ? this.#driver.framing.encoding : 'latin1');
      if (this.#driver.checksum?.type === 'nmea-xor') {
        const checked = verifyNmeaChecksum(text);
        if (!checked.ok) {
          this.stats.checksumErrors += 1;
          drafts.push(this.#deadLetter(bytes, `record at byte offset ${offset}: ${checked.problem}`, receivedAt));
          return;
        }
      }
    }
    const record = this.#records.find((r) => r.when === undefined || r.when.test(text));
    if (!record) {
      if (this.#driver.unmatched === 'ignore') {
        this.stats.ignored += 1;
        return;
      }
      drafts.push(this.#deadLetter(bytes, `record at byte offset ${offset}: no record type of driver ${this.#driver.name} matches`, receivedAt));
      return;
    }
    let fields: ReadonlyMap<string, string> = new Map();
    if (!binary) {
      const parsed = parseFieldsSafely(record, text);
      if (typeof parsed === 'string') {
        drafts.push(this.#deadLetter(bytes, `record at byte offset ${offset}: ${parsed}`, receivedAt));
        return;
      }
      fields = parsed;
    }
    const sourceTime = record.timestamp ? (readTimestamp(record.timestamp, fields, receivedAtMs, this.#clock) ?? null) : null;
    const readings: EventDraft[] = [];
    const values = new Map<string, EventDraft & { type: 'reading' }>();
    for (let i = 0; i < record.spec.fields.length; i++) {
      const f = record.spec.fields[i];
      if (!f) continue;
      const sentinels = record.sentinels[i] ?? new Set<string>();
      const result = binary ? convertBinaryField(f, sentinels, bytes, this.#frameLength) : convertTextField(f, sentinels, fields);
      if (result.kind === 'absent') continue;
      if (result.kind === 'problem') {
        drafts.push(this.#deadLetter(bytes, `record at byte offset ${offset}: ${result.problem}`, receivedAt));
        return;
      }
      const reading: EventDraft & { type: 'reading' } = {
        type: 'reading',
        deviceId: this.#options.deviceId,
        sourceTime,
        receivedAt,
        metric: f.metric,
        value: result.value,
        unit: f.unit ?? null,
        quality: result.quality,
        source: this.#options.source,
        ...(f.code === undefined ? {} : { code: f.code }),
      };
      readings.push(reading);
      values.set(f.metric, reading);
    }
    const alarms: EventDraft[] = [];
    for (const flags of record.spec.alarms) {
      let value: number | undefined;
      if (binary) {
        value = flags.parts ? this.#binaryFlags(flags.parts, flags.anyFrame, bytes) : undefined;
      } else if (flags.from !== undefined) {
        const parsed = textFlags(flags.from, flags.base, fields);
        if (typeof parsed === 'string') {
          drafts.push(this.#deadLetter(bytes, `record at byte offset ${offset}: ${parsed}`, receivedAt));
          return;
        }
        value = parsed;
      }
      if (value === undefined) continue;
      for (const bit of flags.bits) {
        const active = (value & bit.mask) !== 0;
        const key = `${record.spec.name}:${bit.alarm}`;
        if ((this.#alarmActive.get(key) ?? false) === active) continue;
        this.#alarmActive.set(key, active);
        const attached = bit.metric === undefined ? undefined : values.get(bit.metric);
        alarms.push({
          type: 'alarm',
          deviceId: this.#options.deviceId,
          sourceTime,
          receivedAt,
          alarm: bit.alarm,
          state: active ? 'active' : 'cleared',
          severity: bit.severity,
          message: active ? bit.message : `${bit.message} (cleared)`,
          ...(bit.metric === undefined ? {} : { metric: bit.metric }),
          ...(attached === undefined ? {} : { value: attached.value }),
        });
      }
    }
    this.stats.records += 1;
    this.stats.readings += readings.length;
    this.stats.alarms += alarms.length;
    drafts.push(...alarms, ...readings);
  }

  #binaryFlags(parts: Parameters<typeof readParts>[0], anyFrame: boolean, bytes: Buffer): number | undefined {
    if (!anyFrame || !this.#driver.packet || this.#frameLength === 0) return readParts(parts, bytes, this.#frameLength);
    // The same byte positions in every frame of the packet, OR-ed.
    let value = 0;
    for (let start = 0; start + this.#frameLength <= bytes.length; start += this.#frameLength) {
      const v = readParts(parts, bytes.subarray(start, start + this.#frameLength), 0);
      if (v !== undefined) value |= v;
    }
    return value;
  }

  #deadLetter(bytes: Buffer, reason: string, receivedAt: string): EventDraft {
    this.stats.deadLetters += 1;
    const kept = bytes.subarray(0, this.#options.deadLetterBytes);
    return {
      type: 'dead-letter',
      deviceId: this.#options.deviceId,
      sourceTime: null,
      receivedAt,
      input: this.#options.inputName,
      source: this.#options.source,
      reason,
      payloadBase64: kept.toString('base64'),
      payloadBytes: bytes.length,
      truncated: kept.length < bytes.length,
    };
  }
}

function parseFieldsSafely(record: CompiledRecord, text: string): Map<string, string> | string {
  // Driver regular expressions are data; a pathological one must not take the input down.
  try {
    return parseTextFields(record, text);
  } catch (err) {
    return `could not parse: ${(err as Error).message}`;
  }
}
