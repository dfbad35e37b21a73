/**
 * Builds the `KafkaTransport` of the configured client (kafka.client) from the `kafka` config block; the one
 * place the gateway, `replay` and the tests get a real transport from. Only the chosen client's module is loaded
 * (kafkajs alone costs about 10 MB of heap that a librdkafka gateway does not need).
 */
import type { KafkaConfigT } from '../config/schema.js';
import type { Logger } from '../util/logger.js';
import type { KafkaTransport } from './kafka-transport.js';

export type KafkaClientName = KafkaConfigT['client'];

export interface TransportOverrides {
  /** Instead of kafka.brokers (replay --brokers). */
  brokers?: string[];
  /** Instead of kafka.clientId. */
  clientId?: string;
}

export async function createKafkaTransport(kafka: KafkaConfigT, logger: Logger, overrides: TransportOverrides = {}): Promise<KafkaTransport> {
  const common = {
    brokers: overrides.brokers ?? kafka.brokers,
    clientId: overrides.clientId ?? kafka.clientId,
    connectionTimeoutMs: kafka.connectionTimeout,
    requestTimeoutMs: kafka.requestTimeout,
    logger,
    security: kafka,
  };
  if (kafka.client === 'librdkafka') {
    const { LibrdkafkaTransport, loadLibrdkafka } = await import('./librdkafka-transport.js');
    // A native module that is missing or does not load never heals by retrying a send: stop here, before the
    // gateway starts, with GW_KAFKA_CLIENT and the fix (not a GW_KAFKA_SEND warning repeated forever).
    loadLibrdkafka();
    return new LibrdkafkaTransport({ ...common, compression: kafka.compression, maxRequestBytes: kafka.batch.maxBytes });
  }
  const { KafkajsTransport } = await import('./kafka-transport.js');
  // The schema refuses codecs kafkajs lacks, so only none and gzip reach here.
  return new KafkajsTransport({ ...common, compression: kafka.compression === 'gzip' ? 'gzip' : 'none' });
}
