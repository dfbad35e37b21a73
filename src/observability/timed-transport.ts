/**
 * A KafkaTransport decorator that measures every produce request (the forwarder's send latency) and counts
 * records per topic, so the forwarder itself needs no instrumentation.
 */
import type { KafkaTransport, TopicBatch } from '../forwarder/kafka-transport.js';

export interface SendObservation {
  ok: boolean;
  seconds: number;
  /** Records per topic of the request. */
  topics: ReadonlyMap<string, number>;
}

export class TimedTransport implements KafkaTransport {
  readonly #inner: KafkaTransport;
  readonly #onSend: (observation: SendObservation) => void;

  constructor(inner: KafkaTransport, onSend: (observation: SendObservation) => void) {
    this.#inner = inner;
    this.#onSend = onSend;
  }

  connect(): Promise<void> {
    return this.#inner.connect();
  }

  async send(batches: readonly TopicBatch[]): Promise<void> {
    const topics = new Map<string, number>();
    for (const b of batches) topics.set(b.topic, (topics.get(b.topic) ?? 0) + b.messages.length);
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      await this.#inner.send(batches);
    } catch (err) {
      this.#onSend({ ok: false, seconds: seconds(), topics });
      throw err;
    }
    this.#onSend({ ok: true, seconds: seconds(), topics });
  }

  reset(): Promise<void> {
    return this.#inner.reset();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
