/**
 * The slice of a Kafka client the forwarder uses. Typing only this slice keeps the forwarder testable with a
 * fake and lets the client library be swapped; `KafkajsTransport` is the real one.
 */
import { CompressionTypes, Kafka, logLevel, Partitioners, type Admin, type ICustomPartitioner, type LogEntry, type Producer, type RecordMetadata } from 'kafkajs';
import type { Logger } from '../util/logger.js';
import { KafkaFailureExplainer, kafkajsSecurityOptions, type KafkaSecurity } from '../security/kafka-security.js';

export interface KafkaRecord {
  key: string;
  /** The event JSON, or bytes (the schema registry wire format: src/registry/wire-format.ts). */
  value: string | Buffer;
  headers: Record<string, string>;
}

export interface TopicBatch {
  topic: string;
  messages: KafkaRecord[];
}

export interface KafkaTransport {
  /** Connects (or reconnects after reset()); rejects when no broker answers. */
  connect(): Promise<void>;
  /**
   * Resolves when every record of every batch is acknowledged by all in-sync replicas (acks -1). Rejects when
   * any record failed (records of other partitions may have been stored: the retry makes same-id duplicates);
   * within one partition a send is stored whole or not at all, so a device's later events never precede
   * earlier ones. A refusal as too large rejects with `type: 'MESSAGE_TOO_LARGE'` (batching.isTooLarge).
   */
  send(batches: readonly TopicBatch[]): Promise<void>;
  /**
   * Drops the connection and producer state after a failure; the next connect() starts fresh. Callers reset
   * after every failed send before sending again (the forwarder and replay do), so a producer that is still
   * settling a refused batch never carries the retry.
   */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface KafkajsTransportOptions {
  brokers: string[];
  clientId: string;
  compression: 'none' | 'gzip';
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  logger: Logger;
  /** TLS and SASL (kafka.tls, kafka.sasl); read at every connect, so fixed files apply on the next attempt. */
  security?: KafkaSecurity;
}

/** kafkajs log levels mapped onto pino; kafkajs is chatty about retries we already report ourselves. */
function kafkajsLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      const fields = { component: 'kafkajs', ...extra };
      if (level === logLevel.ERROR) logger.debug(fields, message);
      else if (level === logLevel.WARN) logger.debug(fields, message);
    };
}

/**
 * Why every send is checked against the partitions it should have reached: kafkajs 2.2.4 (producer/sendMessages.js)
 * keeps the answers of a failed attempt per broker and, when it retries inside the same send, skips every broker
 * that already answered. When a partition's leader moved to such a broker (a leader SIGKILLed or restarted), that
 * partition's messages are never sent and the send still resolves: the forwarder would mark them delivered. The
 * fault suite's cluster scenarios lost 24 and 32 acknowledged events that way. A send whose answers miss a partition
 * is therefore failed here and sent again whole by the forwarder (same event ids: a duplicate at worst).
 */
const keyPartitioner: ReturnType<ICustomPartitioner> = Partitioners.DefaultPartitioner();

/** The partition the producer's partitioner picks for a keyed record of a topic with `count` partitions. */
function partitionOf(topic: string, key: string, count: number): number {
  const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
  return keyPartitioner({ topic, partitionMetadata, message: { key, value: null } });
}

export class KafkajsTransport implements KafkaTransport {
  readonly #options: KafkajsTransportOptions;
  #producer: Producer | undefined;
  readonly #explainer: KafkaFailureExplainer;
  #admin: Admin | undefined;
  /** Partition counts per topic, for the check in send(); cleared after a failure (metadata may have changed). */
  readonly #partitionCounts = new Map<string, number>();

  constructor(options: KafkajsTransportOptions) {
    this.#options = options;
    this.#explainer = new KafkaFailureExplainer(options.security, options.brokers, options.logger);
  }

  async connect(): Promise<void> {
    if (this.#producer) return;
    const o = this.#options;
    const kafka = new Kafka({
      clientId: o.clientId,
      brokers: o.brokers,
      ...this.#guard(() => kafkajsSecurityOptions(o.security)),
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      logLevel: logLevel.WARN,
      logCreator: kafkajsLogCreator(o.logger),
      // Our forwarder retries forever with its own backoff; kafkajs only retries briefly inside one attempt.
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      // murmur2 on the key, as the Java client: a device lands on the same partition whoever produces it.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    const admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1000 } });
    try {
      await producer.connect();
      await admin.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      throw this.#explainer.explain(err);
    }
    this.#producer = producer;
    this.#admin = admin;
    this.#explainer.connected();
  }

  async send(batches: readonly TopicBatch[]): Promise<void> {
    const producer = this.#producer;
    if (!producer) throw new Error('kafka producer is not connected');
    const expected = await this.#expectedPartitions(batches);
    let answers: RecordMetadata[];
    try {
      answers = await producer.sendBatch({
        acks: -1,
        timeout: this.#options.requestTimeoutMs,
        compression: this.#options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: batches.map((b) => ({ topic: b.topic, messages: b.messages })),
      });
    } catch (err) {
      this.#partitionCounts.clear();
      throw this.#explainer.explain(err);
    }
    const answered = new Set(answers.map((a) => `${a.topicName}\u0000${a.partition}`));
    const missing = [...expected].filter((p) => !answered.has(p));
    if (missing.length > 0) {
      this.#partitionCounts.clear();
      const named = missing.slice(0, 5).map((p) => p.replace('\u0000', '/')).join(', ');
      throw new Error(`kafka client reported the send done without an answer for ${missing.length} partition(s) (${named}); sending the batch again`);
    }
  }

  /** topic \0 partition of every record of the batches; topics whose partition count is unknown (not created yet) are left out. */
  async #expectedPartitions(batches: readonly TopicBatch[]): Promise<Set<string>> {
    const expected = new Set<string>();
    for (const batch of batches) {
      const count = await this.#partitionCount(batch.topic);
      if (count === undefined) continue;
      for (const m of batch.messages) expected.add(`${batch.topic}\u0000${partitionOf(batch.topic, m.key, count)}`);
    }
    return expected;
  }

  async #partitionCount(topic: string): Promise<number | undefined> {
    const known = this.#partitionCounts.get(topic);
    if (known !== undefined) return known;
    try {
      const metadata = await this.#admin?.fetchTopicMetadata({ topics: [topic] });
      const count = metadata?.topics[0]?.partitions.length;
      if (count) this.#partitionCounts.set(topic, count);
      return count || undefined;
    } catch {
      return undefined; // e.g. not created yet: created by this send (auto-create), checked from the next one
    }
  }

  #guard<T>(build: () => T): T {
    try {
      return build();
    } catch (err) {
      throw this.#explainer.explain(err);
    }
  }


  async reset(): Promise<void> {
    const producer = this.#producer;
    const admin = this.#admin;
    this.#producer = undefined;
    this.#admin = undefined;
    await producer?.disconnect().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
