/**
 * The slice of a Kafka client the forwarder uses. Typing only this slice keeps the forwarder testable with a
 * fake and lets the client library be swapped; `KafkajsTransport` is the real one.
 */
import { CompressionTypes, Kafka, logLevel, Partitioners, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../util/logger.js';
import { classifyKafkaError, kafkajsSecurityOptions, type KafkaSecurity } from '../security/kafka-security.js';

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
  /** Resolves when every record of every batch is acknowledged by all in-sync replicas (acks -1). */
  send(batches: readonly TopicBatch[]): Promise<void>;
  /** Drops the connection and producer state after a failure; the next connect() starts fresh. */
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
  /** The last auth/TLS failure logged, so a long outage logs it once rather than at every retry. */
  #lastSecurityFailure = '';

  constructor(options: KafkajsTransportOptions) {
    this.#options = options;
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
      throw this.#explain(err);
    }
    this.#producer = producer;
    this.#lastSecurityFailure = '';
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
      throw this.#explain(err);
    }
  }

  #guard<T>(build: () => T): T {
    try {
      return build();
    } catch (err) {
      throw this.#explain(err);
    }
  }

  /** Authentication and TLS failures get their own code and a hint, logged once per distinct failure. */
  #explain(err: unknown): unknown {
    const explained = classifyKafkaError(err, this.#options.security, this.#options.brokers);
    if (!explained) return err;
    if (explained.message !== this.#lastSecurityFailure) {
      this.#lastSecurityFailure = explained.message;
      this.#options.logger.error({ code: explained.code, err: explained.message }, 'kafka connection refused; events stay buffered and are retried');
    }
    return explained;
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
