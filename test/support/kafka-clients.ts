import { KafkaConfig, type KafkaConfigT } from '../../src/config/schema.js';
import { createKafkaTransport } from '../../src/forwarder/create-transport.js';
import type { KafkaTransport } from '../../src/forwarder/kafka-transport.js';
import { createLogger, type Logger } from '../../src/util/logger.js';

/** Every Kafka client the gateway supports: the transport contract and the end-to-end tests run with each. */
export const KAFKA_CLIENTS = ['librdkafka', 'kafkajs'] as const;
export type KafkaClient = (typeof KAFKA_CLIENTS)[number];

/** A real transport of one client, built the way the gateway builds it from a `kafka:` block. */
export async function transportFor(
  client: KafkaClient,
  kafka: Record<string, unknown>,
  logger: Logger = createLogger('silent'),
): Promise<{ transport: KafkaTransport; config: KafkaConfigT }> {
  const config = KafkaConfig.parse({ connectionTimeout: '3s', requestTimeout: '10s', ...kafka, client });
  return { transport: await createKafkaTransport(config, logger), config };
}
