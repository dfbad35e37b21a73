/**
 * The slice of a Kafka client the forwarder uses. Typing only this slice keeps the forwarder testable with a
 * fake and lets the client library be swapped; `KafkajsTransport` is the real one.
 */
import { CompressionTypes, Kafka, logLevel, Partitioners, type LogEntry, type Producer } from 'kafkajs';
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

export class KafkajsTransport implements KafkaTransport {
  readonly #options: KafkajsTransportOptions;
  #producer: Producer | undefined;
  readonly #explainer: KafkaFailureExplainer;

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
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw this.#explainer.explain(err);
    }
    this.#producer = producer;
    this.#explainer.connected();
  }

  async send(batches: readonly TopicBatch[]): Promise<void> {
    const producer = this.#producer;
    if (!producer) throw new Error('kafka producer is not connected');
    try {
      await producer.sendBatch({
        acks: -1,
        timeout: this.#options.requestTimeoutMs,
        compression: this.#options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: batches.map((b) => ({ topic: b.topic, messages: b.messages })),
      });
    } catch (err) {
      throw this.#explainer.explain(err);
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
    this.#producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
