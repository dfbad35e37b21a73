import { EVENT_FAMILIES, EVENT_TYPES, FAMILY_OF_TYPE } from '../events/schema.js';
import { topicFor } from '../forwarder/forwarder.js';
import type { GatewayConfig } from './schema.js';
import type { InputContext } from '../inputs/input.js';
import { familyOf } from '../inputs/registry.js';

/** The human-readable plan `check-config` prints: what would run, where events go. Never prints secret values. */
export function describePlan(config: GatewayConfig, context: InputContext): string {
  const lines: string[] = [];
  lines.push(`gateway ${config.gateway.id}`);
  lines.push(
    `buffer  ${config.buffer.path} (synchronous=${config.buffer.synchronous}, group commit ≤ ${config.buffer.commitLinger} ms / ${config.buffer.maxEventsPerCommit} events, retention ${config.buffer.retention / 3_600_000} h)`,
  );
  lines.push(
    `kafka   ${config.kafka.brokers.join(', ')} (acks=all, idempotent, batch ≤ ${config.kafka.batch.maxEvents} events / ${config.kafka.batch.maxBytes} bytes, linger ${config.kafka.batch.linger} ms, compression ${config.kafka.compression})`,
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
