/**
 * Pure payload mapping of the MQTT input: (subscription, topic, payload) → event drafts.
 * Anything that cannot be decoded becomes a dead-letter draft with the raw bytes and the reason; nothing throws.
 */
import type { MetricMappingT, MqttSubscriptionT } from './config.js';
import type { EventDraft, Quality, ReadingValue } from '../../events/schema.js';
import { compileFieldPath, isMissing, readFieldPath, type FieldPath } from '../../util/field-path.js';
import { sanitizeDeviceId } from '../../util/device-id.js';
import { describeValue, expectedText, parseTimestamp, toReadingValue } from '../values.js';
import { deadLetter, parseJson, type DecodeContext } from './dead-letter.js';

export interface CompiledMetric {
  mapping: MetricMappingT;
  path: FieldPath | undefined;
}

export interface CompiledSubscription {
  config: MqttSubscriptionT;
  /** Device id template ({topic} unless configured). */
  deviceId: string;
  filterLevels: readonly string[];
  metrics: readonly CompiledMetric[];
  timestampPath: FieldPath | undefined;
}

/** Compiles a subscription with explicit metrics (the schema guarantees topic and metrics when there is no driver). */
export function compileSubscription(config: MqttSubscriptionT): CompiledSubscription {
  return {
    config,
    deviceId: config.deviceId ?? '{topic}',
    filterLevels: (config.topic ?? '#').split('/'),
    metrics: (config.metrics ?? []).map((mapping) => ({
      mapping,
      path: mapping.field === undefined ? undefined : compileFieldPath(mapping.field),
    })),
    timestampPath: config.timestamp ? compileFieldPath(config.timestamp.field) : undefined,
  };
}

export function resolveDeviceId(template: string, topic: string): string {
  const levels = topic.split('/');
  // Topic levels are chosen by whoever publishes: sanitized (control characters, length) like every device id.
  return sanitizeDeviceId(template.replace(/\{([^}]*)\}/g, (_, name: string) => (name === 'topic' ? topic : (levels[Number(name)] ?? ''))));
}

type Converted = { ok: true; value: ReadingValue; quality: Quality } | { ok: false; problem: string };

/** Converts a raw field value to the metric's type (src/inputs/values.ts); null means "no value" (quality bad). */
export function convertValue(raw: unknown, mapping: MetricMappingT): Converted {
  const value = toReadingValue(raw, mapping.type);
  if (value === undefined) return { ok: false, problem: `expected ${expectedText(mapping.type)}, got ${describeValue(raw)}` };
  if (value === null) return { ok: true, value: null, quality: 'bad' };
  if (typeof value !== 'number' || (mapping.scale === 1 && mapping.offset === 0)) return { ok: true, value, quality: 'good' };
  // Scaling by 0.1 and friends leaves binary noise (21.500000000000004); 12 significant digits is beyond any sensor.
  return { ok: true, value: Number((value * mapping.scale + mapping.offset).toPrecision(12)), quality: 'good' };
}

/** Maps one MQTT message to events. Never throws: what cannot be decoded becomes a dead letter. */
export function decodeMessage(sub: CompiledSubscription, topic: string, payload: Buffer, ctx: DecodeContext): EventDraft[] {
  const deviceId = resolveDeviceId(sub.deviceId, topic);
  if (deviceId.trim() === '') {
    return [deadLetter(ctx, `mqtt:${ctx.inputName}`, topic, payload, `device id template "${sub.deviceId}" gives an empty id for this topic`)];
  }
  if (payload.length > ctx.maxPayloadBytes) {
    return [deadLetter(ctx, deviceId, topic, payload, `payload of ${payload.length} bytes exceeds maxPayloadBytes ${ctx.maxPayloadBytes}`)];
  }
  const text = payload.toString('utf8');
  let root: unknown;
  switch (sub.config.format) {
    case 'json': {
      const parsed = parseJson(payload);
      if (!parsed.ok) return [deadLetter(ctx, deviceId, topic, payload, parsed.problem)];
      root = parsed.value;
      break;
    }
    case 'number':
    case 'boolean':
    case 'text':
      root = text.trim();
      break;
  }

  let sourceTime: string | null = null;
  const problems: string[] = [];
  if (sub.timestampPath && sub.config.timestamp) {
    const raw = readFieldPath(root, sub.timestampPath);
    if (!isMissing(raw)) {
      const parsed = parseTimestamp(raw, sub.config.timestamp.format);
      if (parsed === undefined) problems.push(`${sub.config.timestamp.field}: unusable timestamp ${describeValue(raw)}`);
      else sourceTime = parsed;
    }
  }

  const drafts: EventDraft[] = [];
  for (const { mapping, path } of sub.metrics) {
    const raw = path === undefined ? root : readFieldPath(root, path);
    if (isMissing(raw)) {
      if (mapping.required) problems.push(`${mapping.field ?? '(payload)'}: missing`);
      continue;
    }
    const converted = convertValue(raw, mapping);
    if (!converted.ok) {
      problems.push(`${mapping.field ?? '(payload)'}: ${converted.problem}`);
      continue;
    }
    drafts.push({
      type: 'reading',
      deviceId,
      sourceTime,
      receivedAt: ctx.receivedAt,
      metric: mapping.metric,
      value: converted.value,
      unit: mapping.unit ?? null,
      quality: converted.quality,
      ...(mapping.code === undefined ? {} : { code: mapping.code }),
      source: topic,
    });
  }
  if (problems.length > 0) drafts.push(deadLetter(ctx, deviceId, topic, payload, problems.join('; ')));
  else if (drafts.length === 0) drafts.push(deadLetter(ctx, deviceId, topic, payload, 'none of the mapped fields is in the payload'));
  return drafts;
}
