/**
 * Zigbee2MQTT: `<base>/<friendly name>` carries the device's whole state as JSON on every publish (so identical
 * messages are normal), `<base>/<name>/availability` is `online`/`offline` (1.x) or `{"state":"online"}` (2.x).
 * Friendly names may contain spaces, non-ASCII characters and slashes; the device id is the name as published.
 */
import type { EventDraft } from '../../../events/schema.js';
import type { FormatOptionsT, Zigbee2MqttDriverT } from '../drivers.js';
import { parseTimestamp } from '../mapping.js';
import {
  BoundedMap,
  isRecord,
  parseJson,
  reading,
  rejected,
  StatusTracker,
  type DecodeContext,
  type FormatDecoder,
  type FormatMessage,
  type FormatResult,
} from './common.js';
import { describeValue, expectedText, toReadingValue } from '../../values.js';

/** Levels that end a topic of a device but are not part of its name: availability, and commands sent to it. */
const COMMAND_LEVELS = new Set(['set', 'get']);

export class Zigbee2MqttDecoder implements FormatDecoder {
  readonly format = 'zigbee2mqtt';
  readonly #driver: Zigbee2MqttDriverT;
  readonly #changedOnly: boolean;
  /** Per device: metric → last published value (JSON text), for changedOnly. */
  readonly #lastValues: BoundedMap<string, Map<string, string>>;
  readonly #status: StatusTracker;

  constructor(driver: Zigbee2MqttDriverT, options: FormatOptionsT = {}) {
    this.#driver = driver;
    this.#changedOnly = options.changedOnly ?? false;
    const limit = options.maxDevices ?? driver.maxDevices;
    this.#lastValues = new BoundedMap(limit);
    this.#status = new StatusTracker(limit);
  }

  dynamicTopics(): string[] {
    return [];
  }

  claims(): boolean {
    return false;
  }

  decode(message: FormatMessage, ctx: DecodeContext): FormatResult {
    const levels = message.relativeLevels ?? message.topic.split('/');
    if (levels.length === 0 || levels[0] === undefined || levels[0] === '' || this.#driver.ignoreNames.includes(levels[0])) return { drafts: [] };
    if (levels.some((l) => COMMAND_LEVELS.has(l))) return { drafts: [] };
    if (levels.length > 1 && levels[levels.length - 1] === 'availability') {
      return this.#availability(levels.slice(0, -1).join('/'), message, ctx);
    }
    const deviceId = levels.join('/');
    // An empty retained payload clears a topic; it carries no state.
    if (message.payload.length === 0) return { drafts: [] };
    const parsed = parseJson(message.payload);
    if (!parsed.ok) return rejected(ctx, deviceId, message, parsed.problem);
    if (!isRecord(parsed.value)) return rejected(ctx, deviceId, message, `expected a JSON object with the device state, got ${describeValue(parsed.value)}`);
    return this.#state(deviceId, parsed.value, message, ctx);
  }

  #availability(deviceId: string, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const text = message.payload.toString('utf8').trim();
    let state: unknown = text;
    if (text.startsWith('{')) {
      const parsed = parseJson(message.payload);
      state = parsed.ok && isRecord(parsed.value) ? parsed.value.state : undefined;
    }
    if (state !== 'online' && state !== 'offline') {
      return rejected(ctx, deviceId, message, `availability: expected online/offline or {"state":"online"|"offline"}, got ${describeValue(text)}`);
    }
    const draft = this.#status.transition(deviceId, state, `zigbee2mqtt availability: ${state}`, ctx);
    return { drafts: draft ? [draft] : [] };
  }

  #state(deviceId: string, state: Record<string, unknown>, message: FormatMessage, ctx: DecodeContext): FormatResult {
    let sourceTime: string | null = null;
    const problems: string[] = [];
    const timeKey = this.#driver.timestampKey;
    if (timeKey !== undefined && state[timeKey] !== undefined && state[timeKey] !== null) {
      const parsed = parseTimestamp(state[timeKey], 'auto');
      if (parsed === undefined) problems.push(`${timeKey}: unusable timestamp ${describeValue(state[timeKey])}`);
      else sourceTime = parsed;
    }
    let last = this.#lastValues.get(deviceId);
    if (this.#changedOnly && last === undefined) {
      last = new Map();
      this.#lastValues.set(deviceId, last);
    }
    const drafts: EventDraft[] = [];
    for (const [key, mapping] of Object.entries(this.#driver.keys)) {
      if (!Object.prototype.hasOwnProperty.call(state, key)) continue;
      const raw = state[key];
      const value = toReadingValue(raw, mapping.type);
      if (value === undefined) {
        problems.push(`${key}: expected ${expectedText(mapping.type)}, got ${describeValue(raw)}`);
        continue;
      }
      const metric = mapping.metric ?? key;
      if (last !== undefined) {
        const text = JSON.stringify(value);
        if (last.get(metric) === text) continue;
        last.set(metric, text);
      }
      drafts.push(reading({ deviceId, metric, value, unit: mapping.unit ?? null, sourceTime, source: message.topic }, ctx));
    }
    if (problems.length > 0) drafts.push(...rejected(ctx, deviceId, message, problems.join('; ')).drafts);
    return { drafts };
  }
}
