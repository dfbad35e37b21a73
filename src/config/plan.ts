import { EVENT_FAMILIES, EVENT_TYPES, FAMILY_OF_TYPE } from '../events/schema.js';
import { topicFor } from '../events/topics.js';
import type { GatewayConfig } from './schema.js';
import type { InputContext } from '../inputs/input.js';
import { familyOf } from '../inputs/registry.js';

/**
 * What the plan shows that the config does not say, found out by the command that prints it: config/ reads and
 * describes the config and imports no component (the Kafka transports among them).
 */
export interface PlanFacts {
  /** The librdkafka version the command loaded; undefined when the native client is not available. */
  librdkafkaVersion: string | undefined;
}

/** The human-readable plan `check-config` prints: what would run, where events go. Never prints secret values. */
export function describePlan(config: GatewayConfig, context: InputContext, facts: PlanFacts): string {
  const lines: string[] = [];
  lines.push(`gateway ${config.gateway.id}`);
  const b = config.buffer;
  lines.push(
    `buffer  ${b.path} (synchronous=${b.synchronous}, group commit ≤ ${b.commitLinger} ms / ${b.maxEventsPerCommit} events; bound ${b.maxEvents} events / ${b.maxBytes} bytes, when full ${b.whenFull}; retention ${b.retention / 3_600_000} h / ${b.retentionMaxBytes} bytes)`,
  );
  const k = config.kafka;
  const security = [
    k.tls?.enabled ? `TLS${k.tls.ca ? ` with CA ${k.tls.ca.origin}` : ''}${k.tls.cert ? ', client certificate' : ''}` : 'no TLS',
    k.sasl ? `SASL ${k.sasl.mechanism} as ${k.sasl.username} (password from ${k.sasl.password.origin})` : 'no SASL',
  ].join(', ');
  const client = k.client === 'librdkafka' ? `librdkafka ${facts.librdkafkaVersion ?? '(not available: GW_KAFKA_CLIENT)'}` : 'kafkajs';
  lines.push(
    `kafka   ${k.brokers.join(', ')} (client ${client}, CloudEvents ${k.cloudEvents} mode, acks=all, idempotent, batch ≤ ${k.batch.maxEvents} events / ${k.batch.maxBytes} bytes, linger ${k.batch.linger} ms, compression ${k.compression}, drain ${k.drain.mode}; ${security})`,
  );
  const h = config.http;
  const healthLine = config.health.interval > 0 ? `; gateway-health every ${config.health.interval / 1000} s` : '; no gateway-health events';
  lines.push(
    h.enabled
      ? `http    ${h.host}:${h.port} /metrics /healthz /readyz and the status page (${h.token ? `token from ${h.token.origin}` : 'no token: loopback only'})${healthLine}`
      : `http    off${healthLine}`,
  );
  lines.push('topics');
  for (const family of EVENT_FAMILIES) {
    const types = EVENT_TYPES.filter((t) => FAMILY_OF_TYPE[t] === family).join(', ');
    lines.push(`  ${types.padEnd(22)} → ${topicFor(config.kafka.topics, family)}`);
  }
  lines.push(`inputs (${config.inputs.length})`);
  for (const input of config.inputs) {
    for (const line of familyOf(input).describe(input, { ...context, gatewayId: config.gateway.id })) lines.push(`  ${line}`);
  }
  return lines.join('\n');
}
