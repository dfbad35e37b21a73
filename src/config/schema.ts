/**
 * The gateway configuration, as zod schemas: the single source of the config types, the validation done once at
 * start, and `config/gateway.schema.json` for editors (kept in sync by a test).
 */
import { z } from 'zod';
import { expecting } from './messages.js';
import { Duration, identifier } from './primitives.js';
import { MqttInputConfig } from '../inputs/mqtt/config.js';
import { ModbusInputConfig } from '../inputs/modbus/config.js';
import { SerialInputConfig } from '../inputs/serial/config.js';
import { Hl7InputConfig } from '../inputs/hl7/config.js';
import { HEALTH_DEFAULTS, HTTP_DEFAULTS, HealthConfig, HttpConfig } from '../observability/config.js';
import { KafkaSaslConfig, KafkaTlsConfig } from '../security/kafka-security.js';
import { checkValueFormat, registryKafkaShape } from '../registry/config.js';

export { Duration, SecretRef, identifier } from './primitives.js';
export { MetricMapping, MqttInputConfig, MqttSubscription, type MetricMappingT, type MqttInputConfigT, type MqttSubscriptionT } from '../inputs/mqtt/config.js';

const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const BufferConfig = z
  .object({
    path: z.string().default('./data/buffer.db').describe('SQLite file of the buffer (created with its directory)'),
    synchronous: z
      .enum(['FULL', 'NORMAL'])
      .default('FULL')
      .describe('FULL survives power loss (SD cards lose power); NORMAL is faster and survives a process crash'),
    commitLinger: Duration.default(20).describe(
      'Group commit, adaptive: after no commit for this long an event is committed at once (next event-loop turn); while events keep coming, at most one commit per this period, shared by all of them',
    ),
    maxEventsPerCommit: z.number().int().min(1).max(100_000).default(5000),
    retention: Duration.default(86_400_000).describe('How long delivered events are kept for replay'),
    retentionMaxBytes: z
      .number()
      .int()
      .min(0)
      .default(268_435_456)
      .describe('Most payload bytes of delivered events kept for replay (the oldest go first); 0 keeps none'),
    maxEvents: z.number().int().min(1).default(5_000_000).describe('Most pending (not yet delivered) events; then whenFull applies'),
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .default(2_147_483_648)
      .describe('Most payload bytes of pending events (soft: one commit group may pass it); then whenFull applies'),
    integrityCheck: z
      .enum(['quick', 'full', 'off'])
      .default('quick')
      .describe(
        'Check of an existing buffer file at start: quick (PRAGMA quick_check: reads every page once, see BENCHMARKS.md for its cost), full (integrity_check: also checks indexes against tables, slower), off. A damaged file is refused (GW_BUFFER_CORRUPT) and kept as it is',
      ),
    integrityCheckWhen: z
      .enum(['unclean-stop', 'every-start'])
      .default('unclean-stop')
      .describe(
        'When integrityCheck runs: unclean-stop (default) skips it when the last run closed the file cleanly and nothing has written to it since (same inode, size and mtime as its clean-stop seal <path>.clean), so a restart with a large backlog stays fast; every-start checks at every start',
      ),
    whenFull: z
      .enum(['drop-oldest', 'block'])
      .default('drop-oldest')
      .describe(
        'drop-oldest: delete the oldest readings (never alarms, status, gaps, dead letters) and record gap events for them; block: stop accepting (MQTT is not acknowledged, polling pauses) until Kafka drains',
      ),
  })
  .strict();

export const TopicsConfig = z
  .object({
    prefix: z.string().default('telemetry.').describe('Prepended to every topic name below'),
    readings: z.string().min(1).default('readings').describe('reading and gap events'),
    alarms: z.string().min(1).default('alarms'),
    deviceStatus: z.string().min(1).default('device-status'),
    gatewayHealth: z.string().min(1).default('gateway-health'),
    deadLetter: z.string().min(1).default('deadletter'),
  })
  .strict();

export const KafkaConfig = z
  .object({
    brokers: z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, expecting('expected host:port')))
      .min(1)
      .describe('Bootstrap brokers, host:port'),
    client: z
      .enum(['librdkafka', 'kafkajs'])
      .default('librdkafka')
      .describe(
        'Kafka client library. librdkafka (native, optional dependency built by `npm run setup:librdkafka`) uses about half the CPU per record of kafkajs (25 vs 45 µs measured); kafkajs is pure JavaScript and runs where native modules cannot be built',
      ),
    clientId: z.string().min(1).default('edge-telemetry-gateway'),
    topics: TopicsConfig.default(TopicsConfig.parse({})),
    batch: z
      .object({
        maxEvents: z.number().int().min(1).max(100_000).default(5000).describe('Most events in one produce request'),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(900_000)
          .describe('Most bytes in one produce request; keep it under the broker message.max.bytes (1 MiB by default), which limits each partition batch'),
        linger: Duration.default(20).describe(
          'Adaptive lingering: a batch is sent at once when no send started within this time (idle: no added latency), else when this time has passed since the previous send started (busy: events are grouped); a full batch goes at once',
        ),
      })
      .strict()
      .default({ maxEvents: 5000, maxBytes: 900_000, linger: 20 }),
    compression: z
      .enum(['none', 'gzip', 'lz4', 'zstd', 'snappy'])
      .default('none')
      .describe('Record batch compression; kafkajs supports none and gzip only'),
    cloudEvents: z
      .enum(['binary', 'structured'])
      .default('binary')
      .describe(
        'CloudEvents Kafka binding mode. binary: the value is the event and the attributes are ce_* headers (7 headers per record); structured: the value is a CloudEvents JSON envelope with the event in data and one content-type header (cheaper to produce; consumers must unwrap data — decodeEvent, tail and audit read both)',
      ),
    drain: z
      .object({
        mode: z
          .enum(['oldest-first', 'live-first'])
          .default('oldest-first')
          .describe('oldest-first keeps per-device order; live-first sends fresh events at once while the backlog drains with backlogShare of each batch (per-device order across live and backlog is not kept; backlog records carry the etg_backlog header)'),
        liveWindow: Duration.default(10_000).describe('live-first: events committed this recently count as live'),
        backlogShare: z.number().min(0.05).max(0.95).default(0.5).describe('live-first: share of each batch reserved for the backlog'),
      })
      .strict()
      .default({ mode: 'oldest-first', liveWindow: 10_000, backlogShare: 0.5 }),
    retry: z
      .object({
        initial: Duration.default(500).describe('First wait after a failed send'),
        max: Duration.default(30_000).describe('Longest wait between retries (exponential backoff with jitter)'),
      })
      .strict()
      .default({ initial: 500, max: 30_000 }),
    connectionTimeout: Duration.default(5000),
    requestTimeout: Duration.default(30_000),
    tls: KafkaTlsConfig.optional(),
    sasl: KafkaSaslConfig.optional(),
    // Schema registry, value format and the Kafka Connect copy of readings (src/registry/config.ts).
    ...registryKafkaShape,
  })
  .strict()
  .superRefine((kafka, ctx) => {
    if (kafka.client === 'kafkajs' && kafka.compression !== 'none' && kafka.compression !== 'gzip') {
      ctx.addIssue({
        code: 'custom',
        path: ['compression'],
        message: `${kafka.compression} needs kafka.client: librdkafka (kafkajs supports none and gzip)`,
      });
    }
    if (kafka.client === 'librdkafka' && kafka.tls?.servername !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'servername'],
        message: 'librdkafka checks the certificate against the broker host it connects to and cannot override it: remove servername (use a certificate naming the broker host) or set kafka.client: kafkajs',
      });
    }
    checkValueFormat(kafka, ctx, []);
  });

export const InputConfig = z.discriminatedUnion('type', [MqttInputConfig, ModbusInputConfig, SerialInputConfig, Hl7InputConfig]);

export const GatewayConfigSchema = z
  .object({
    gateway: z
      .object({ id: identifier.describe('Stable id of this gateway; part of every event and of the MQTT client ids') })
      .strict(),
    logging: z
      .object({ level: LogLevel.default('info').describe('Overridden by the LOG_LEVEL environment variable') })
      .strict()
      .default({ level: 'info' }),
    buffer: BufferConfig.default(BufferConfig.parse({})),
    kafka: KafkaConfig,
    shutdown: z
      .object({ drainTimeout: Duration.default(10_000).describe('On SIGTERM, how long to keep sending the backlog') })
      .strict()
      .default({ drainTimeout: 10_000 }),
    drivers: z
      .object({
        paths: z
          .array(z.string())
          .default([])
          .describe('Extra folders with driver files, searched before devices/ next to this file and the shipped drivers'),
      })
      .strict()
      .default({ paths: [] }),
    inputs: z.array(InputConfig).default([]),
    http: HttpConfig.default(HTTP_DEFAULTS).describe('Metrics, health endpoints and the status page (src/observability/README.md)'),
    health: HealthConfig.default(HEALTH_DEFAULTS).describe('The periodic gateway-health event'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.inputs.forEach((input, index) => {
      const earlier = seen.get(input.name);
      if (earlier !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['inputs', index, 'name'], message: `duplicate input name "${input.name}" (also inputs[${earlier}])` });
      }
      seen.set(input.name, index);
    });
  });

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type KafkaConfigT = z.infer<typeof KafkaConfig>;
export type BufferConfigT = z.infer<typeof BufferConfig>;

/** JSON Schema of the configuration file (the input side: durations may be strings), for editors. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(GatewayConfigSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return {
    $id: 'https://edge-telemetry-gateway.local/schemas/gateway.schema.json',
    title: 'edge-telemetry-gateway configuration',
    ...schema,
  };
}
