/**
 * Framing: cuts a serial byte stream into records, as the driver's `framing` says. Pure and incremental: bytes go
 * in as they arrive (any chunking), records and rejected byte runs come out, each with its byte offset in the
 * stream. A stream may start mid-record and may contain garbage: the framer skips to the next valid record and
 * reports what it skipped. Memory is bounded by the largest record plus one chunk; nothing throws.
 */
import type { ByteTestT, ChecksumSpecT, FramingSpecT } from '../driver.js';
import { verifyBinaryChecksum } from './checksums.js';

export type FramerOutput =
  | { kind: 'record'; bytes: Buffer; offset: number }
  | { kind: 'rejected'; bytes: Buffer; offset: number; reason: string };

export interface Framer {
  push(chunk: Buffer): FramerOutput[];
  /** Bytes held of an incomplete record (what a port closing mid-record leaves behind), then forgotten. */
  drain(): FramerOutput[];
  /** How many bytes are held now (incomplete record plus skipped run); bounded by the largest record. */
  held(): number;
}

/** Longest run of skipped bytes reported in one piece (a longer run becomes several rejections). */
export const MAX_SKIPPED_RUN = 256;

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0').toUpperCase()}`;
}

export function byteTestProblem(tests: readonly ByteTestT[], frame: Uint8Array): string | undefined {
  for (const t of tests) {
    const b = frame[t.byte];
    if (b === undefined) return `byte ${t.byte} missing`;
    if ((b & t.mask) !== t.equals) {
      return t.mask === 0xff ? `byte ${t.byte} is ${hex(b)}, expected ${hex(t.equals)}` : `byte ${t.byte} is ${hex(b)}, expected (byte & ${hex(t.mask)}) = ${hex(t.equals)}`;
    }
  }
  return undefined;
}

/** Collects skipped bytes into runs, each reported once with its offset and the first reason seen. */
class SkippedRun {
  #bytes: number[] = [];
  #offset = 0;
  #reason = '';

  get size(): number {
    return this.#bytes.length;
  }

  add(byte: number, offset: number, reason: string, out: FramerOutput[]): void {
    if (this.#bytes.length === 0) {
      this.#offset = offset;
      this.#reason = reason;
    }
    this.#bytes.push(byte);
    if (this.#bytes.length >= MAX_SKIPPED_RUN) this.flush(out);
  }

  flush(out: FramerOutput[]): void {
    if (this.#bytes.length === 0) return;
    const n = this.#bytes.length;
    out.push({
      kind: 'rejected',
      bytes: Buffer.from(this.#bytes),
      offset: this.#offset,
      reason: `${n} byte${n === 1 ? '' : 's'} at offset ${this.#offset} skipped while resynchronizing (first: ${this.#reason})`,
    });
    this.#bytes = [];
  }
}

/** Text lines ending in CR, LF or CRLF; optional start text; overlong lines rejected. */
class LineFramer implements Framer {
  #pending: Buffer = Buffer.alloc(0);
  #base = 0;
  #discarding = false;
  readonly #spec: Extract<FramingSpecT, { type: 'lines' }>;
  readonly #start: Buffer | undefined;

  constructor(spec: Extract<FramingSpecT, { type: 'lines' }>) {
    this.#spec = spec;
    this.#start = spec.start === undefined ? undefined : Buffer.from(spec.start, 'latin1');
  }

  #isEnd(b: number): boolean {
    switch (this.#spec.endings) {
      case 'any':
        return b === 0x0a || b === 0x0d;
      case 'lf':
      case 'crlf':
        return b === 0x0a;
      case 'cr':
        return b === 0x0d;
    }
  }

  push(chunk: Buffer): FramerOutput[] {
    const out: FramerOutput[] = [];
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let lineStart = 0;
    for (let i = this.#pending.length; i < buf.length; i++) {
      const b = buf[i] ?? 0;
      if (!this.#isEnd(b)) continue;
      let end = i;
      // lf also accepts CRLF; crlf needs the CR.
      if ((this.#spec.endings === 'lf' || this.#spec.endings === 'crlf') && end > lineStart && buf[end - 1] === 0x0d) end -= 1;
      else if (this.#spec.endings === 'crlf') continue;
      if (this.#discarding) this.#discarding = false;
      else this.#line(buf.subarray(lineStart, end), this.#base + lineStart, out);
      lineStart = i + 1;
    }
    const rest = buf.subarray(lineStart);
    const restOffset = this.#base + lineStart;
    let consumed = lineStart;
    if (this.#discarding) {
      consumed = buf.length;
    } else if (rest.length > this.#spec.maxLength) {
      out.push({
        kind: 'rejected',
        bytes: Buffer.from(rest.subarray(0, this.#spec.maxLength)),
        offset: restOffset,
        reason: `line at offset ${restOffset} is longer than maxLength ${this.#spec.maxLength} bytes without a line end`,
      });
      this.#discarding = true;
      consumed = buf.length;
    }
    this.#pending = consumed === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(consumed));
    this.#base += consumed;
    return out;
  }

  #line(line: Buffer, offset: number, out: FramerOutput[]): void {
    if (line.length === 0) return; // blank lines between records are line-ending noise
    if (line.length > this.#spec.maxLength) {
      out.push({ kind: 'rejected', bytes: Buffer.from(line.subarray(0, this.#spec.maxLength)), offset, reason: `line at offset ${offset} is longer than maxLength ${this.#spec.maxLength} bytes` });
      return;
    }
    if (this.#start) {
      const at = line.indexOf(this.#start);
      if (at < 0) {
        out.push({ kind: 'rejected', bytes: Buffer.from(line), offset, reason: `line at offset ${offset} does not contain the record start ${JSON.stringify(this.#spec.start)} (started mid-record or garbage)` });
        return;
      }
      if (at > 0) {
        out.push({ kind: 'rejected', bytes: Buffer.from(line.subarray(0, at)), offset, reason: `${at} bytes at offset ${offset} before the record start ${JSON.stringify(this.#spec.start)}` });
        line = line.subarray(at);
        offset += at;
      }
    }
    out.push({ kind: 'record', bytes: Buffer.from(line), offset });
  }

  held(): number {
    return this.#pending.length;
  }

  drain(): FramerOutput[] {
    const out: FramerOutput[] = [];
    if (this.#pending.length > 0 && !this.#discarding) {
      out.push({ kind: 'rejected', bytes: this.#pending, offset: this.#base, reason: `incomplete line of ${this.#pending.length} bytes at offset ${this.#base} when the port closed` });
    }
    this.#base += this.#pending.length;
    this.#pending = Buffer.alloc(0);
    this.#discarding = false;
    return out;
  }
}

/** Shared by the binary framers: a pending buffer, its stream offset and the skipped-byte run. */
abstract class BinaryFramer implements Framer {
  protected pending: Buffer = Buffer.alloc(0);
  protected base = 0;
  protected readonly skipped = new SkippedRun();
  protected readonly checksum: ChecksumSpecT | undefined;

  constructor(checksum: ChecksumSpecT | undefined) {
    this.checksum = checksum;
  }

  push(chunk: Buffer): FramerOutput[] {
    const out: FramerOutput[] = [];
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const consumed = this.scan(buf, out);
    this.pending = Buffer.from(buf.subarray(consumed));
    this.base += consumed;
    return out;
  }

  held(): number {
    return this.pending.length + this.skipped.size;
  }

  /** Emits what it finds in buf; returns how many bytes are done with. */
  protected abstract scan(buf: Buffer, out: FramerOutput[]): number;

  drain(): FramerOutput[] {
    const out: FramerOutput[] = [];
    this.skipped.flush(out);
    if (this.pending.length > 0) {
      out.push({ kind: 'rejected', bytes: this.pending, offset: this.base, reason: `incomplete frame of ${this.pending.length} bytes at offset ${this.base} when the port closed` });
    }
    this.base += this.pending.length;
    this.pending = Buffer.alloc(0);
    return out;
  }

  protected problemOf(frame: Uint8Array, tests: readonly ByteTestT[]): string | undefined {
    return byteTestProblem(tests, frame) ?? (this.checksum ? verifyBinaryChecksum(this.checksum, frame) : undefined);
  }
}

/** Fixed-length frames validated by byte tests and checksum; on failure slide one byte (resynchronize). */
class FixedFramer extends BinaryFramer {
  readonly #spec: Extract<FramingSpecT, { type: 'fixed' }>;

  constructor(spec: Extract<FramingSpecT, { type: 'fixed' }>, checksum: ChecksumSpecT | undefined) {
    super(checksum);
    this.#spec = spec;
  }

  protected scan(buf: Buffer, out: FramerOutput[]): number {
    const n = this.#spec.length;
    let pos = 0;
    while (buf.length - pos >= n) {
      const frame = buf.subarray(pos, pos + n);
      const problem = this.problemOf(frame, this.#spec.match);
      if (problem === undefined) {
        this.skipped.flush(out);
        out.push({ kind: 'record', bytes: Buffer.from(frame), offset: this.base + pos });
        pos += n;
      } else {
        this.skipped.add(buf[pos] ?? 0, this.base + pos, `${problem} in the frame at offset ${this.base + pos}`, out);
        pos += 1;
      }
    }
    return pos;
  }
}

/** Start bytes, a length field, then the rest; validated by byte tests and checksum; slides one byte on failure. */
class LengthFieldFramer extends BinaryFramer {
  readonly #spec: Extract<FramingSpecT, { type: 'length-field' }>;
  readonly #start: Buffer;

  constructor(spec: Extract<FramingSpecT, { type: 'length-field' }>, checksum: ChecksumSpecT | undefined) {
    super(checksum);
    this.#spec = spec;
    this.#start = Buffer.from(spec.start);
  }

  protected scan(buf: Buffer, out: FramerOutput[]): number {
    const s = this.#spec;
    const headerLength = Math.max(this.#start.length, s.lengthAt + s.lengthBytes);
    let pos = 0;
    while (buf.length - pos >= headerLength) {
      let problem: string | undefined;
      if (!buf.subarray(pos, pos + this.#start.length).equals(this.#start)) {
        problem = 'no start bytes';
      } else {
        const at = pos + s.lengthAt;
        const field = s.lengthBytes === 1 ? (buf[at] ?? 0) : s.lengthEndian === 'big' ? buf.readUInt16BE(at) : buf.readUInt16LE(at);
        const length = field + s.lengthAdjust;
        if (length < headerLength || length > s.maxLength) {
          problem = `length ${length} out of range ${headerLength}..${s.maxLength}`;
        } else {
          if (buf.length - pos < length) break; // wait for the rest
          const frame = buf.subarray(pos, pos + length);
          problem = this.problemOf(frame, s.match);
          if (problem === undefined) {
            this.skipped.flush(out);
            out.push({ kind: 'record', bytes: Buffer.from(frame), offset: this.base + pos });
            pos += length;
            continue;
          }
        }
      }
      this.skipped.add(buf[pos] ?? 0, this.base + pos, `${problem} at offset ${this.base + pos}`, out);
      pos += 1;
    }
    return pos;
  }
}

/** Frames between a start and an end byte, with optional byte stuffing; the record is the unescaped content. */
class StartEndFramer implements Framer {
  readonly #spec: Extract<FramingSpecT, { type: 'start-end' }>;
  readonly #checksum: ChecksumSpecT | undefined;
  readonly #skipped = new SkippedRun();
  #offset = 0;
  #inside = false;
  #escaped = false;
  #frameOffset = 0;
  #content: number[] = [];
  #raw: number[] = [];

  constructor(spec: Extract<FramingSpecT, { type: 'start-end' }>, checksum: ChecksumSpecT | undefined) {
    this.#spec = spec;
    this.#checksum = checksum;
  }

  push(chunk: Buffer): FramerOutput[] {
    const out: FramerOutput[] = [];
    const s = this.#spec;
    for (const b of chunk) {
      const offset = this.#offset++;
      if (!this.#inside) {
        if (b === s.start) {
          this.#skipped.flush(out);
          this.#open(offset);
        } else {
          this.#skipped.add(b, offset, `byte ${hex(b)} outside a frame`, out);
        }
        continue;
      }
      if (b === s.start) {
        this.#reject(out, `frame at offset ${this.#frameOffset} has no end byte before the next start byte at offset ${offset}`);
        this.#open(offset);
        continue;
      }
      this.#raw.push(b);
      if (this.#escaped) {
        this.#content.push(b ^ s.escapeXor);
        this.#escaped = false;
      } else if (b === s.end) {
        this.#close(out);
        continue;
      } else if (s.escape !== undefined && b === s.escape) {
        this.#escaped = true;
      } else {
        this.#content.push(b);
      }
      if (this.#raw.length > s.maxLength) {
        this.#reject(out, `frame at offset ${this.#frameOffset} is longer than maxLength ${s.maxLength} bytes`);
        this.#inside = false;
      }
    }
    return out;
  }

  held(): number {
    return this.#raw.length + this.#skipped.size;
  }

  #open(offset: number): void {
    this.#inside = true;
    this.#escaped = false;
    this.#frameOffset = offset;
    this.#content = [];
    this.#raw = [this.#spec.start];
  }

  #reject(out: FramerOutput[], reason: string): void {
    out.push({ kind: 'rejected', bytes: Buffer.from(this.#raw), offset: this.#frameOffset, reason });
    this.#raw = [];
    this.#content = [];
  }

  #close(out: FramerOutput[]): void {
    this.#inside = false;
    const content = Buffer.from(this.#content);
    const problem = this.#checksum ? verifyBinaryChecksum(this.#checksum, content) : undefined;
    if (problem) this.#reject(out, `${problem} in the frame at offset ${this.#frameOffset}`);
    else {
      out.push({ kind: 'record', bytes: content, offset: this.#frameOffset });
      this.#raw = [];
      this.#content = [];
    }
  }

  drain(): FramerOutput[] {
    const out: FramerOutput[] = [];
    this.#skipped.flush(out);
    if (this.#inside) this.#reject(out, `incomplete frame at offset ${this.#frameOffset} when the port closed`);
    this.#inside = false;
    return out;
  }
}

export function createFramer(framing: FramingSpecT, checksum: ChecksumSpecT | undefined): Framer {
  switch (framing.type) {
    case 'lines':
      return new LineFramer(framing);
    case 'fixed':
      return new FixedFramer(framing, checksum);
    case 'length-field':
      return new LengthFieldFramer(framing, checksum);
    case 'start-end':
      return new StartEndFramer(framing, checksum);
  }
}
