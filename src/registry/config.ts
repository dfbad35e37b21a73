/**
 * Config of the schema registry support: `kafka.schemaRegistry`, `kafka.valueFormat` and `kafka.connect`
 * (the copy of readings with an embedded Kafka Connect schema). Merged into the `kafka` block by src/config/schema.ts.
 */
import { z } from 'zod';
import { Duration, SecretRef } from '../config/primitives.js';

export const COMPATIBILITY_LEVELS = ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

/** Confluent's subject name strategies: TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy. */
export const SUBJECT_STRATEGIES = ['topic-name', 'record-name', 'topic-record-name'] as const;
export type SubjectStrategy = (typeof SUBJECT_STRATEGIES)[number];

export const SchemaRegistryConfig = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL of a Confluent-compatible API, e.g. http://registry:8080/apis/ccompat/v7' })
      .transform((u) => u.replace(/\/+$/, ''))
      .describe('Base URL of the Confluent-compatible API (Confluent Schema Registry: http://host:8081; Apicurio Registry: http://host:8080/apis/ccompat/v7)'),
    auth: z
      .object({
        username: z.string().min(1),
        password: SecretRef.describe('Where to read the password: {env: NAME}, {file: PATH} or {credential: NAME}'),
      })
      .strict()
      .optional()
      .describe('HTTP basic authentication (with https unless the registry is on this machine)'),
    subjectStrategy: z
      .enum(SUBJECT_STRATEGIES)
      .default('topic-name')
      .describe('topic-name: <topic>-value (TopicNameStrategy); record-name: the schema title, e.g. io.edge-telemetry-gateway.readings; topic-record-name: <topic>-<title>'),
    compatibility: z
      .enum(COMPATIBILITY_LEVELS)
      .default('BACKWARD')
      .describe('Compatibility level set on each subject at start; a schema the registry rejects under it stops the gateway from starting'),
    requestTimeout: Duration.default(5000).describe('Longest wait for one registry request (also how long start waits for an unreachable registry)'),
  })
  .strict()
  .describe('Register the JSON Schema of each topic in a schema registry at start; records then point at it');

export const ConnectCopyConfig = z
  .object({
    enabled: z.boolean().default(false).describe('Write each reading and gap event also to `topic`, as JSON with an embedded Kafka Connect schema'),
    topic: z.string().min(1).default('readings.connect').describe('Topic of the copies (topics.prefix is prepended)'),
  })
  .strict()
  .describe('Copies of readings for Kafka Connect sinks that need a schema (the JDBC sinks): see examples/postgres-sink');

export const VALUE_FORMATS = ['json', 'registry-json'] as const;
export type ValueFormat = (typeof VALUE_FORMATS)[number];

/** The keys added to the `kafka` config block. */
export const registryKafkaShape = {
  schemaRegistry: SchemaRegistryConfig.optional(),
  valueFormat: z
    .enum(VALUE_FORMATS)
    .default('json')
    .describe('json: the event as plain JSON (with kafka.schemaRegistry, a ce_dataschema header names its schema); registry-json: the Confluent wire format (magic byte 0, 4-byte schema id, JSON), needs kafka.schemaRegistry'),
  connect: ConnectCopyConfig.default({ enabled: false, topic: 'readings.connect' }),
};

export type SchemaRegistryConfigT = z.infer<typeof SchemaRegistryConfig>;
export type ConnectCopyConfigT = z.infer<typeof ConnectCopyConfig>;

/** Cross-field rule of the kafka block: the wire format needs a registry to take its schema ids from. */
export function checkValueFormat(
  kafka: { valueFormat: ValueFormat; schemaRegistry?: unknown; cloudEvents?: string },
  ctx: z.RefinementCtx,
  path: (string | number)[],
): void {
  if (kafka.valueFormat === 'registry-json' && kafka.schemaRegistry === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'valueFormat'],
      message: 'registry-json needs kafka.schemaRegistry (its url): the records carry the registry schema id',
    });
  }
  // The registered schema is the event's; a structured-mode value is a CloudEvents envelope around it.
  if (kafka.valueFormat === 'registry-json' && kafka.cloudEvents === 'structured') {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'valueFormat'],
      message: 'registry-json writes the event itself under its registered schema: it needs kafka.cloudEvents: binary (structured mode wraps the event in an envelope)',
    });
  }
}
