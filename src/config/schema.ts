/**
 * The gateway configuration, as zod schemas: the single source of the config types, the validation done once at
 * start, and `config/gateway.schema.json` for editors (kept in sync by a test).
 */
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { Secret } from '../util/secret.js';
import { compileFieldPath } from '../util/field-path.js';

/** A duration as `500ms`, `5s`, `2m`, `24h`, `7d` or a number of milliseconds; parsed to milliseconds. */
export const Duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'expected a duration like 500ms, 5s, 2m, 24h')])
  .transform((v) => parseDuration(v) ?? 0)
  .describe('Duration: a number of milliseconds or a string like 500ms, 5s, 2m, 24h, 7d');

const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected letters, digits, and . _ : - (at most 128 characters, starting with a letter or digit)');

/** A secret is never written in the config itself: it names where to read it from. */
export const SecretRef = z
  .union([
    z.object({ env: z.string().min(1).describe('Name of an environment variable holding the secret') }).strict(),
    z.object({ file: z.string().min(1).describe('Path of a file holding the secret (trailing newline removed)') }).strict(),
    z
      .object({ credential: z.string().min(1).describe('Name of a systemd credential (LoadCredential=), read from $CREDENTIALS_DIRECTORY') })
      .strict(),
  ])
  .transform((source) => new Secret(source))
  .describe('Where to read a secret from: {env: NAME}, {file: PATH} or {credential: NAME}');

const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const BufferConfig = z
  .object({
    path: z.string().default('./data/buffer.db').describe('SQLite file of the buffer (created with its directory)'),
    synchronous: z
      .enum(['FULL', 'NORMAL'])
      .default('FULL')
      .describe('FULL survives power loss (SD cards lose power); NORMAL is faster and survives a process crash'),
    commitLinger: Duration.default(2).describe('Longest time an accepted event waits to be grouped into a commit'),
    maxEventsPerCommit: z.number().int().min(1).max(100_000).default(5000),
    retention: Duration.default(86_400_000).describe('How long delivered events are kept for replay'),
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
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))
      .min(1)
      .describe('Bootstrap brokers, host:port'),
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
        linger: Duration.default(5).describe('How long to wait for more events before sending a batch that is not full'),
      })
      .strict()
      .default({ maxEvents: 5000, maxBytes: 900_000, linger: 5 }),
    compression: z.enum(['none', 'gzip']).default('none'),
    retry: z
      .object({
        initial: Duration.default(500).describe('First wait after a failed send'),
        max: Duration.default(30_000).describe('Longest wait between retries (exponential backoff with jitter)'),
      })
      .strict()
      .default({ initial: 500, max: 30_000 }),
    connectionTimeout: Duration.default(5000),
    requestTimeout: Duration.default(30_000),
  })
  .strict();

export const MetricMapping = z
  .object({
    field: z
      .string()
      .optional()
      .describe('Path into the JSON payload, e.g. temperature, sensors.AM2301.Temperature, values[0]; omit for plain payloads'),
    metric: identifier.describe('Metric name in the reading event'),
    type: z.enum(['number', 'boolean', 'string']).default('number').describe('Expected value type; another type is a decode error'),
    unit: z.string().optional().describe('UCUM unit code, e.g. Cel, %, /min, W, kW.h'),
    scale: z.number().default(1).describe('value = raw * scale + offset (numbers only)'),
    offset: z.number().default(0),
    code: z.string().optional().describe('Device-specific code, e.g. an IEEE 11073 MDC reference id'),
    required: z.boolean().default(false).describe('A message without this field is a decode error (else it is skipped)'),
  })
  .strict();

export const MqttSubscription = z
  .object({
    topic: z.string().min(1).describe('Topic filter, may contain + and #'),
    qos: z.union([z.literal(0), z.literal(1)]).default(1).describe('1: acknowledged only after the buffer committed'),
    deviceId: z
      .string()
      .default('{topic}')
      .describe('Device id template: {0}, {1}, … are topic levels (0-based), {topic} the whole topic'),
    format: z.enum(['json', 'number', 'text', 'boolean']).default('json').describe('How to read the payload'),
    timestamp: z
      .object({
        field: z.string().describe('Path of the device timestamp in the JSON payload'),
        format: z.enum(['auto', 'iso', 'unix-s', 'unix-ms']).default('auto'),
      })
      .strict()
      .optional()
      .describe('Where the device time is; without it sourceTime is null'),
    metrics: z.array(MetricMapping).min(1).describe('Values to read from each message'),
  })
  .strict();

export const MqttInputConfig = z
  .object({
    type: z.literal('mqtt'),
    name: identifier.describe('Unique input name'),
    url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/.+/, 'expected a URL like mqtt://host:1883 or mqtts://host:8883'),
    clientId: z.string().min(1).optional().describe('Fixed client id of the persistent session; default <gateway.id>-<name>'),
    username: z.string().optional(),
    password: SecretRef.optional(),
    keepalive: z.number().int().min(5).max(3600).default(30).describe('Seconds'),
    inflight: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .default(1000)
      .describe('MQTT 5 Receive Maximum: unacknowledged QoS 1 messages the broker may send at once (the group-commit window)'),
    sessionExpiry: Duration.default(604_800_000).describe('How long the broker keeps the persistent session (and queued messages) while the gateway is away'),
    reconnect: z
      .object({ initial: Duration.default(1000), max: Duration.default(30_000) })
      .strict()
      .default({ initial: 1000, max: 30_000 }),
    maxPayloadBytes: z
      .number()
      .int()
      .min(16)
      .default(262_144)
      .describe('Larger payloads go to the dead-letter topic (first deadLetterBytes kept)'),
    deadLetterBytes: z.number().int().min(0).default(4096).describe('How much of an undecodable payload the dead letter keeps'),
    subscriptions: z.array(MqttSubscription).min(1),
  })
  .strict();

export const InputConfig = z.discriminatedUnion('type', [MqttInputConfig]);

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
    inputs: z.array(InputConfig).default([]),
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
    config.inputs.forEach((input, i) => {
      if (input.type !== 'mqtt') return;
      input.subscriptions.forEach((sub, j) => {
        for (const problem of deviceIdTemplateProblems(sub.deviceId, sub.topic)) {
          ctx.addIssue({ code: 'custom', path: ['inputs', i, 'subscriptions', j, 'deviceId'], message: problem });
        }
        if (sub.format !== 'json' && sub.metrics.length !== 1) {
          ctx.addIssue({ code: 'custom', path: ['inputs', i, 'subscriptions', j, 'metrics'], message: `format ${sub.format} carries one value: expected exactly one metric` });
        }
        if (sub.timestamp && compileFieldPath(sub.timestamp.field) === undefined) {
          ctx.addIssue({ code: 'custom', path: ['inputs', i, 'subscriptions', j, 'timestamp', 'field'], message: `malformed field path "${sub.timestamp.field}"` });
        }
        sub.metrics.forEach((m, k) => {
          if (m.field !== undefined && compileFieldPath(m.field) === undefined) {
            ctx.addIssue({ code: 'custom', path: ['inputs', i, 'subscriptions', j, 'metrics', k, 'field'], message: `malformed field path "${m.field}" (use a.b, a[0] or a["key"])` });
          }
          if (sub.format === 'json' && m.field === undefined) {
            ctx.addIssue({ code: 'custom', path: ['inputs', i, 'subscriptions', j, 'metrics', k, 'field'], message: 'format json needs the field to read' });
          }
        });
      });
    });
  });

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type MqttInputConfigT = z.infer<typeof MqttInputConfig>;
export type MqttSubscriptionT = z.infer<typeof MqttSubscription>;
export type MetricMappingT = z.infer<typeof MetricMapping>;
export type KafkaConfigT = z.infer<typeof KafkaConfig>;
export type BufferConfigT = z.infer<typeof BufferConfig>;

/** Problems of a device id template against its topic filter (placeholders must name existing levels). */
export function deviceIdTemplateProblems(template: string, topicFilter: string): string[] {
  const levels = topicFilter.split('/');
  const multiLevel = levels[levels.length - 1] === '#';
  const problems: string[] = [];
  for (const match of template.matchAll(/\{([^}]*)\}/g)) {
    const name = match[1] ?? '';
    if (name === 'topic') continue;
    if (!/^\d+$/.test(name)) {
      problems.push(`unknown placeholder {${name}}: use {topic} or a topic level index like {1}`);
      continue;
    }
    const index = Number(name);
    if (index >= levels.length && !multiLevel) {
      problems.push(`placeholder {${index}} is past the last level of topic "${topicFilter}" (levels 0..${levels.length - 1})`);
    }
  }
  if (template.replace(/\{[^}]*\}/g, '').length === 0 && !template.includes('{')) problems.push('expected a non-empty template');
  return problems;
}

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
