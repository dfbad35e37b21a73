/**
 * Topic naming: which Kafka topic an event family goes to. Pure, and kept apart from the forwarder so the config
 * plan, buffer stats, the schema registry's subjects and replay name topics the one way the forwarder sends them.
 */
import type { EventFamily } from './schema.js';

/** kafka.topics as configured: a prefix and one name per family (the config schema's TopicsConfig fits). */
export type TopicNames = { readonly prefix: string } & Readonly<Record<EventFamily, string>>;

export function topicFor(topics: TopicNames, family: EventFamily): string {
  return `${topics.prefix}${topics[family]}`;
}
