/**
 * MLLP (Minimal Lower Layer Protocol, HL7 v2 over TCP): every message travels as
 *   0x0B <message bytes> 0x1C 0x0D
 * The framer is a byte-stream state machine fed whatever TCP hands over: several frames in one chunk, a frame or
 * its trailer split across chunks, garbage between frames (skipped and reported with its byte offset: the
 * stream resynchronizes at the next start byte), a start byte inside a frame (the unfinished frame is reported,
 * the new one begins), frames over the size limit (reported with their first bytes, the rest is skipped up to
 * their end). Offsets count the bytes of the connection from 0. Pure: no I/O, no clock.
 */

export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_CR = 0x0d;

export type MllpItem =
  /** A complete frame's message bytes (without the framing). */
  | { kind: 'frame'; payload: Buffer; offset: number }
  /** Bytes that are no frame: outside any frame, or an unfinished frame (reason says which). */
  | { kind: 'garbage'; bytes: Buffer; offset: number; reason: string }
  /** A frame larger than the limit: its first `head` bytes, and its size once its end was seen. */
  | { kind: 'oversize'; head: Buffer; size: number; offset: number };

export interface MllpFramerOptions {
  /** Largest message accepted (bytes between the start and end blocks). */
  maxFrameBytes: number;
  /** How many bytes of garbage or of an oversize frame are kept for the dead letter. */
  keepBytes: number;
}

export interface MllpFramerStats {
  frames: number;
  garbageRuns: number;
  garbageBytes: number;
  oversize: number;
  /** Frames ended by 0x1C without the 0x0D (accepted: some senders omit it). */
  missingCr: number;
}

type State = 'outside' | 'inside' | 'inside-after-end' | 'skipping' | 'skipping-after-end';

/** Bytes between frames that are only line ends or spaces (some senders write CR LF after a frame) are no garbage. */
const isFiller = (b: number): boolean => b === 0x0d || b === 0x0a || b === 0x20 || b === 0x09;

export class MllpFramer {
  readonly #options: MllpFramerOptions;
  readonly stats: MllpFramerStats = { frames: 0, garbageRuns: 0, garbageBytes: 0, oversize: 0, missingCr: 0 };
  #state: State = 'outside';
  /** Bytes of the current frame (or garbage run) so far, as slices of the chunks they came in. */
  #parts: Buffer[] = [];
  #size = 0;
  /** Stream offset of the current frame's start byte (or of the garbage run's first byte). */
  #startOffset = 0;
  /** Offset of the next byte fed. */
  #offset = 0;
  #garbage: Buffer[] = [];
  #garbageSize = 0;
  #garbageOffset = 0;
  #garbageFillerOnly = true;

  constructor(options: MllpFramerOptions) {
    this.#options = options;
  }

  /** Bytes held for an unfinished frame or garbage run (bounded by maxFrameBytes + keepBytes). */
  get heldBytes(): number {
    const skipping = this.#state === 'skipping' || this.#state === 'skipping-after-end';
    const frame = skipping ? (this.#parts[0]?.length ?? 0) : this.#size;
    return frame + this.#garbage.reduce((n, b) => n + b.length, 0);
  }

  push(chunk: Buffer): MllpItem[] {
    const out: MllpItem[] = [];
    let i = 0;
    const base = this.#offset;
    this.#offset += chunk.length;
    while (i < chunk.length) {
      switch (this.#state) {
        case 'outside': {
          const start = chunk.indexOf(MLLP_START, i);
          const end = start < 0 ? chunk.length : start;
          if (end > i) this.#addGarbage(chunk.subarray(i, end), base + i);
          if (start < 0) return out;
          this.#flushGarbage(out);
          this.#beginFrame(base + start);
          i = start + 1;
          break;
        }
        case 'inside':
        case 'skipping': {
          // The next byte that matters: an end block, or a start block (a new frame before this one ended).
          let j = i;
          while (j < chunk.length && chunk[j] !== MLLP_END && chunk[j] !== MLLP_START) j += 1;
          this.#addFrameBytes(chunk.subarray(i, j));
          if (j === chunk.length) return out;
          if (chunk[j] === MLLP_START) {
            this.#abandonFrame(out, `frame at byte offset ${this.#startOffset} has no end block (0x1C 0x0D) before the next start block at byte offset ${base + j}`);
            this.#beginFrame(base + j);
            i = j + 1;
            break;
          }
          this.#state = this.#state === 'inside' ? 'inside-after-end' : 'skipping-after-end';
          i = j + 1;
          break;
        }
        case 'inside-after-end':
        case 'skipping-after-end': {
          const b = chunk[i] as number;
          if (b === MLLP_CR) i += 1;
          else this.stats.missingCr += 1;
          // Without the CR the frame still ended at the 0x1C; the byte is read again as outside the frame.
          this.#endFrame(out);
          break;
        }
      }
    }
    return out;
  }

  /** The stream ended (connection closed): what is held is reported as garbage (an unfinished frame). */
  end(): MllpItem[] {
    const out: MllpItem[] = [];
    if (this.#state === 'inside-after-end' || this.#state === 'skipping-after-end') {
      this.stats.missingCr += 1;
      this.#endFrame(out);
    } else if (this.#state === 'inside' || this.#state === 'skipping') {
      this.#abandonFrame(out, `connection closed inside the frame at byte offset ${this.#startOffset} (no end block 0x1C 0x0D)`);
    }
    this.#flushGarbage(out);
    return out;
  }

  #beginFrame(offset: number): void {
    this.#state = 'inside';
    this.#parts = [];
    this.#size = 0;
    this.#startOffset = offset;
  }

  #addFrameBytes(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#state === 'skipping') {
      this.#size += bytes.length;
      return;
    }
    if (this.#size + bytes.length > this.#options.maxFrameBytes) {
      // Keep only the head for the dead letter (and for reading MSH to refuse it); skip the rest to the end block.
      this.#parts.push(bytes);
      this.#size += bytes.length;
      const head = Buffer.concat(this.#parts).subarray(0, Math.max(this.#options.keepBytes, 1024));
      this.#parts = [Buffer.from(head)];
      this.#state = 'skipping';
      return;
    }
    this.#parts.push(bytes);
    this.#size += bytes.length;
  }

  #endFrame(out: MllpItem[]): void {
    if (this.#state === 'skipping-after-end') {
      this.stats.oversize += 1;
      out.push({ kind: 'oversize', head: this.#parts[0] ?? Buffer.alloc(0), size: this.#size, offset: this.#startOffset });
    } else {
      this.stats.frames += 1;
      // One chunk: a view into it is enough, the decoder copies what it keeps (strings, a dead letter's base64).
      const payload = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#size);
      out.push({ kind: 'frame', payload, offset: this.#startOffset });
    }
    this.#state = 'outside';
    this.#parts = [];
    this.#size = 0;
  }

  #abandonFrame(out: MllpItem[], reason: string): void {
    const held = this.#state === 'skipping' || this.#state === 'skipping-after-end' ? (this.#parts[0] ?? Buffer.alloc(0)) : Buffer.concat(this.#parts, this.#size);
    const bytes = Buffer.concat([Buffer.from([MLLP_START]), held]).subarray(0, this.#options.keepBytes);
    this.stats.garbageRuns += 1;
    this.stats.garbageBytes += this.#size + 1;
    out.push({ kind: 'garbage', bytes: Buffer.from(bytes), offset: this.#startOffset, reason });
    this.#state = 'outside';
    this.#parts = [];
    this.#size = 0;
  }

  #addGarbage(bytes: Buffer, offset: number): void {
    if (this.#garbageSize === 0) {
      this.#garbageOffset = offset;
      this.#garbageFillerOnly = true;
    }
    if (this.#garbageFillerOnly && !bytes.every(isFiller)) this.#garbageFillerOnly = false;
    // Only the first keepBytes are kept; the count goes on.
    const room = this.#options.keepBytes - this.#garbage.reduce((n, b) => n + b.length, 0);
    if (room > 0) this.#garbage.push(Buffer.from(bytes.subarray(0, room)));
    this.#garbageSize += bytes.length;
  }

  #flushGarbage(out: MllpItem[]): void {
    if (this.#garbageSize === 0) return;
    if (!this.#garbageFillerOnly) {
      this.stats.garbageRuns += 1;
      this.stats.garbageBytes += this.#garbageSize;
      out.push({
        kind: 'garbage',
        bytes: Buffer.concat(this.#garbage),
        offset: this.#garbageOffset,
        reason: `${this.#garbageSize} bytes outside an MLLP frame at byte offset ${this.#garbageOffset} (expected the start block 0x0B)`,
      });
    }
    this.#garbage = [];
    this.#garbageSize = 0;
  }
}

/** Wraps a message for sending. */
export function mllpFrame(message: string | Buffer): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return Buffer.concat([Buffer.from([MLLP_START]), body, Buffer.from([MLLP_END, MLLP_CR])]);
}
