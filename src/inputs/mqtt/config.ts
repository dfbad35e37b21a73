/** Configuration of the MQTT input family (one `inputs[]` entry with `type: mqtt`). */
import { z } from 'zod';
import { expecting, withoutUserinfo } from '../../config/messages.js';
import { Duration, SecretRef, identifier } from '../../config/primitives.js';
import { compileFieldPath } from '../../util/field-path.js';
import { FormatOptions } from './drivers.js';
import { MQTT_FORMAT_NAMES } from './formats/registry.js';
import { TlsClientConfig } from '../../security/tls.js';
import { BROKER_DROPS_DEFAULTS, BrokerDropsConfig } from './broker-drops.js';

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
    topic: z.string().min(1).optional().describe('Topic filter, may contain + and #; with a driver: replaces the driver\'s filters'),
    topics: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Driver subscriptions only: several topic filters replacing the driver\'s (e.g. with a site prefix)'),
    driver: z
      .string()
      .min(1)
      .optional()
      .describe(`MQTT format driver (devices/<name>.yaml, kind: mqtt): ${MQTT_FORMAT_NAMES.join(', ')}, another driver file's name, or a path`),
    options: FormatOptions.optional().describe('Options of a driver subscription'),
    qos: z.union([z.literal(0), z.literal(1)]).default(1).describe('1: acknowledged only after the buffer committed'),
    deviceId: z
      .string()
      .optional()
      .describe('Device id template: {0}, {1}, … are topic levels (0-based), {topic} the whole topic (default); not with a driver'),
    format: z.enum(['json', 'number', 'text', 'boolean']).default('json').describe('How to read the payload'),
    timestamp: z
      .object({
        field: z.string().describe('Path of the device timestamp in the JSON payload'),
        format: z.enum(['auto', 'iso', 'unix-s', 'unix-ms']).default('auto'),
      })
      .strict()
      .optional()
      .describe('Where the device time is; without it sourceTime is null'),
    metrics: z.array(MetricMapping).min(1).optional().describe('Values to read from each message (required without a driver)'),
  })
  .strict();

export const MqttInputConfig = z
  .object({
    type: z.literal('mqtt'),
    name: identifier.describe('Unique input name'),
    url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/.+/, expecting('expected a URL like mqtt://host:1883 or mqtts://host:8883', withoutUserinfo)),
    clientId: z.string().min(1).optional().describe('Fixed client id of the persistent session; default <gateway.id>-<name>'),
    username: z.string().optional(),
    password: SecretRef.optional(),
    tls: TlsClientConfig.optional().describe('TLS settings for mqtts:// and wss:// URLs: CA to verify the broker, optional client certificate'),
    keepalive: z.number().int().min(5).max(3600).default(30).describe('Seconds'),
    inflight: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .default(1000)
      .describe('MQTT 5 Receive Maximum: unacknowledged QoS 1 messages the broker may send at once (the group-commit window)'),
    recognizeResends: z
      .boolean()
      .default(true)
      .describe(
        'Recognise a broker resend (DUP=1) of a QoS 1 message committed before a crash or a lost connection (same packet id, topic and payload as its receipt in the buffer, fewer than 32,768 messages since) and acknowledge it again without a second event; false: every resend becomes a new event (see src/inputs/mqtt/README.md)',
      ),
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
    brokerDrops: BrokerDropsConfig.default(BROKER_DROPS_DEFAULTS).describe(
      'Watch the broker\'s $SYS statistics for QoS 1 messages it dropped (a full queue for this gateway): metric, log, health degraded',
    ),
  })
  .strict()
  .superRefine((input, ctx) => {
    input.subscriptions.forEach((sub, j) => {
      const at = (...path: (string | number)[]) => ['subscriptions', j, ...path];
      if (sub.driver !== undefined) {
        // A driver subscription takes its mappings, device ids and payload format from the driver file.
        for (const key of ['metrics', 'deviceId', 'timestamp'] as const) {
          if (sub[key] !== undefined) {
            ctx.addIssue({ code: 'custom', path: at(key), message: `not with a driver: the ${sub.driver} driver defines it (put explicit metrics in a separate subscription)` });
          }
        }
        if (sub.topic !== undefined && sub.topics !== undefined) ctx.addIssue({ code: 'custom', path: at('topics'), message: 'give topic or topics, not both' });
        return;
      }
      if (sub.topic === undefined) ctx.addIssue({ code: 'custom', path: at('topic'), message: 'expected a topic filter (or a driver)' });
      if (sub.topics !== undefined) ctx.addIssue({ code: 'custom', path: at('topics'), message: 'only driver subscriptions take several topics; use one subscription per topic' });
      if (sub.options !== undefined) ctx.addIssue({ code: 'custom', path: at('options'), message: 'options are for driver subscriptions' });
      if (sub.metrics === undefined) {
        ctx.addIssue({ code: 'custom', path: at('metrics'), message: 'expected at least one metric (or a driver)' });
        return;
      }
      for (const problem of deviceIdTemplateProblems(sub.deviceId ?? '{topic}', sub.topic ?? '#')) {
        ctx.addIssue({ code: 'custom', path: ['subscriptions', j, 'deviceId'], message: problem });
      }
      if (sub.format !== 'json' && sub.metrics.length !== 1) {
        ctx.addIssue({ code: 'custom', path: ['subscriptions', j, 'metrics'], message: `format ${sub.format} carries one value: expected exactly one metric` });
      }
      if (sub.timestamp && compileFieldPath(sub.timestamp.field) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['subscriptions', j, 'timestamp', 'field'], message: `malformed field path "${sub.timestamp.field}"` });
      }
      sub.metrics.forEach((m, k) => {
        if (m.field !== undefined && compileFieldPath(m.field) === undefined) {
          ctx.addIssue({ code: 'custom', path: ['subscriptions', j, 'metrics', k, 'field'], message: `malformed field path "${m.field}" (use a.b, a[0] or a["key"])` });
        }
        if (sub.format === 'json' && m.field === undefined) {
          ctx.addIssue({ code: 'custom', path: ['subscriptions', j, 'metrics', k, 'field'], message: 'format json needs the field to read' });
        }
      });
    });
  });

export type MqttInputConfigT = z.infer<typeof MqttInputConfig>;
export type MqttSubscriptionT = z.infer<typeof MqttSubscription>;
export type MetricMappingT = z.infer<typeof MetricMapping>;

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

