/**
 * One MLLP connection's protocol state, without the socket: bytes in → framer → processor decisions → ACK
 * frames out, strictly in the order the messages arrived and each only after its commit resolved. A failed
 * commit sends nothing more on the connection (the input drops it; the sender resends what it has no ACK for,
 * and the receipt ledger turns resends of what was committed into ACKs without second events).
 */
import { MllpFramer, mllpFrame, type MllpItem } from './mllp.js';
import type { Decision, Hl7Processor } from './processor.js';

export interface SessionOptions {
  /** Names the connection in dead letters and logs, e.g. `mllp 10.1.2.3:51000`. */
  peer: string;
  maxFrameBytes: number;
  keepBytes: number;
  /** Writes one framed ACK. */
  write: (frame: Buffer) => void;
  /** A commit failed: stop the connection (nothing more is written). */
  fail: (err: unknown) => void;
  /** Every decision, for logs and metrics. */
  observe: (decision: Decision) => void;
  /** Too many answers pending (a sender not waiting for ACKs faster than commits): pause / resume reading. */
  pause: () => void;
  resume: () => void;
}

/** Answers waiting for commits on one connection before reading pauses. */
const MAX_PENDING = 1000;

export class MllpSession {
  readonly #processor: Hl7Processor;
  readonly #options: SessionOptions;
  readonly #framer: MllpFramer;
  /** The last answer in line; each next one waits for it, so ACKs leave in arrival order. */
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  #paused = false;
  #failed = false;
  #ended = false;

  constructor(processor: Hl7Processor, options: SessionOptions) {
    this.#processor = processor;
    this.#options = options;
    this.#framer = new MllpFramer({ maxFrameBytes: options.maxFrameBytes, keepBytes: options.keepBytes });
  }

  get framerStats(): MllpFramer['stats'] {
    return this.#framer.stats;
  }

  /** Bytes the framer holds for an unfinished frame (bounded by maxFrameBytes + the kept head). */
  get framerHeldBytes(): number {
    return this.#framer.heldBytes;
  }

  /** Answers (ACKs) waiting for their commit. */
  get pending(): number {
    return this.#pending;
  }

  get failed(): boolean {
    return this.#failed;
  }

  push(chunk: Buffer): void {
    if (this.#failed || this.#ended) return;
    for (const item of this.#framer.push(chunk)) this.#handle(item);
  }

  /** The stream ended: an unfinished frame becomes a dead letter. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#failed) return;
    for (const item of this.#framer.end()) this.#handle(item);
  }

  /** Resolves when every answer so far was written (or the connection failed). */
  idle(): Promise<void> {
    return this.#tail;
  }

  #handle(item: MllpItem): void {
    const decision = this.#processor.handle(item, this.#options.peer);
    this.#options.observe(decision);
    // Settled at once (a rejection must not go unhandled while it waits its turn in line).
    const settled = decision.committed.then(
      () => undefined,
      (err: unknown) => err ?? new Error('commit failed'),
    );
    this.#pending += 1;
    if (this.#pending >= MAX_PENDING && !this.#paused) {
      this.#paused = true;
      this.#options.pause();
    }
    this.#tail = this.#tail.then(async () => {
      const failure = await settled;
      this.#pending -= 1;
      if (this.#paused && this.#pending <= MAX_PENDING / 2) {
        this.#paused = false;
        this.#options.resume();
      }
      if (this.#failed) return;
      if (failure !== undefined) {
        this.#failed = true;
        this.#options.fail(failure);
        return;
      }
      for (const ack of decision.acks) this.#options.write(mllpFrame(ack));
    });
  }
}
