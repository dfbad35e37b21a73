import type { KafkaConfig } from 'kafkajs';
import { loadConfig } from '../config/load.js';
import { GatewayError, errorMessage } from '../errors.js';
import { kafkajsSecurityOptions } from '../security/kafka-security.js';

/** Prints an error with its stable code and exits non-zero (64 for usage errors, 1 otherwise). */
export function fail(err: unknown): never {
  if (err instanceof GatewayError) process.stderr.write(`${err.format()}\n`);
  else process.stderr.write(`error: ${errorMessage(err)}\n`);
  process.exit(err instanceof GatewayError && err.code === 'GW_USAGE' ? 64 : 1);
}

/** The Kafka connection of operator commands (tail, audit): brokers, TLS/SASL, topic prefix from a gateway config. */
export interface KafkaConnection {
  brokers?: string[];
  security: Pick<KafkaConfig, 'ssl' | 'sasl'>;
  prefix?: string;
}

/**
 * With `--config FILE`, operator commands talk to Kafka exactly as that gateway does (its brokers, TLS and SASL,
 * its topic prefix); explicit flags still win. Without it: plain connections to the given brokers.
 */
export function kafkaConnectionFromConfig(configFile: string | undefined): KafkaConnection {
  if (configFile === undefined) return { security: {} };
  const { config } = loadConfig(configFile);
  return { brokers: config.kafka.brokers, security: kafkajsSecurityOptions(config.kafka), prefix: config.kafka.topics.prefix };
}
