/**
 * Zigbee2MQTT: `<base>/<friendly name>` carries the device's whole state as JSON on every publish (so identical
 * messages are normal), `<base>/<name>/availability` is `online`/`offline` (1.x) or `{"state":"online"}` (2.x).
 * Friendly names may contain spaces, non-ASCII characters and slashes; the device id is the name as published.
 */
import { z } from 'zod';
import type { EventDraft } from '../../../events/schema.js';
import { BoundedMap, isRecord, parseJson, reading, rejected, StatusTracker, topicsEndInHash } from './common.js';
import {
  commonDriverKeys,
  defineMqttFormat,
  FieldMapping,
  Walk,
  type DecodeContext,
  type FormatDecoder,
  type FormatMessage,
  type FormatResult,
  type FormatSubscription,
  type SimulatedMessage,
  type SimulationSetup,
} from './format.js';
import { describeValue, expectedText, parseTimestamp, toReadingValue } from '../../values.js';

export const Zigbee2MqttDriver = z
  .object({
    ...commonDriverKeys('zigbee2mqtt'),
    timestampKey: z.string().optional().describe('State key holding the device time (last_seen), ISO or epoch ms'),
    keys: z.record(z.string(), FieldMapping).describe('State key → reading; other keys are not published'),
    ignoreNames: z.array(z.string()).default(['bridge']).describe('First name levels that are not devices (bridge/…)'),
  })
  .strict();
export type Zigbee2MqttDriverT = z.infer<typeof Zigbee2MqttDriver>;

export interface Zigbee2MqttOptions {
  changedOnly: boolean;
}

/** Levels that end a topic of a device but are not part of its name: availability, and commands sent to it. */
const COMMAND_LEVELS = new Set(['set', 'get']);

export class Zigbee2MqttDecoder implements FormatDecoder {
  readonly format = 'zigbee2mqtt';
  readonly #driver: Zigbee2MqttDriverT;
  readonly #changedOnly: boolean;
  /** Per device: metric → last published value (JSON text), for changedOnly. */
  readonly #lastValues: BoundedMap<string, Map<string, string>>;
  readonly #status: StatusTracker;

  constructor(driver: Zigbee2MqttDriverT, options: FormatSubscription<Zigbee2MqttOptions>['options'] = {}) {
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

/** Simulated Zigbee devices as Zigbee2MQTT publishes them: a climate sensor, a motion sensor, a smart plug, in turn. */
class Zigbee2MqttSimulator {
  readonly #base: string;
  readonly #random: () => number;
  readonly #devices: { name: string; kind: 'climate' | 'motion' | 'plug'; walks: Record<string, Walk>; on: boolean }[];

  constructor(setup: SimulationSetup) {
    this.#base = setup.base;
    this.#random = setup.random;
    const kinds = ['climate', 'motion', 'plug'] as const;
    this.#devices = setup.devices.map((name, i) => ({
      name,
      kind: kinds[i % kinds.length] ?? 'climate',
      on: true,
      walks: {
        temperature: new Walk(21 + i, 15, 30, 0.2, 2),
        humidity: new Walk(48 + i, 30, 80, 0.6, 1),
        pressure: new Walk(1012, 980, 1040, 0.4, 1),
        battery: new Walk(97 - i, 5, 100, 0.05, 0),
        voltage: new Walk(2995, 2600, 3100, 2, 0),
        linkquality: new Walk(120, 20, 255, 8, 0),
        illuminance: new Walk(300, 0, 2000, 40, 0),
        power: new Walk(85, 60, 120, 4, 1),
      },
    }));
  }

  #availability(state: 'online' | 'offline'): SimulatedMessage[] {
    return [
      { topic: `${this.#base}/bridge/state`, payload: JSON.stringify({ state }), retain: true },
      ...this.#devices.map((d) => ({ topic: `${this.#base}/${d.name}/availability`, payload: JSON.stringify({ state }), retain: true })),
    ];
  }

  start(nowMs: number): SimulatedMessage[] {
    return [...this.#availability('online'), ...this.round(nowMs)];
  }

  round(nowMs: number): SimulatedMessage[] {
    const r = this.#random;
    const lastSeen = new Date(nowMs).toISOString();
    return this.#devices.map((d) => {
      const w = d.walks;
      const link = { linkquality: w.linkquality?.next(r) };
      let state: Record<string, unknown>;
      if (d.kind === 'climate') {
        state = { battery: w.battery?.next(r), humidity: w.humidity?.next(r), pressure: w.pressure?.next(r), temperature: w.temperature?.next(r), voltage: w.voltage?.next(r), ...link };
      } else if (d.kind === 'motion') {
        state = { battery: w.battery?.next(r), illuminance: w.illuminance?.next(r), occupancy: r() < 0.3, tamper: false, battery_low: false, ...link };
      } else {
        if (r() < 0.1) d.on = !d.on;
        state = { state: d.on ? 'ON' : 'OFF', power: d.on ? w.power?.next(r) : 0, current: d.on ? Number(((w.power?.value ?? 0) / 230).toFixed(2)) : 0, voltage: 230, energy: 12.34, ...link };
      }
      return { topic: `${this.#base}/${d.name}`, payload: JSON.stringify({ ...state, last_seen: lastSeen }) };
    });
  }

  stop(): SimulatedMessage[] {
    return this.#availability('offline');
  }
}

export const zigbee2mqttFormat = defineMqttFormat<Zigbee2MqttDriverT, Zigbee2MqttOptions>({
  name: 'zigbee2mqtt',
  driver: Zigbee2MqttDriver,
  options: {
    changedOnly: z
      .boolean()
      .optional()
      .describe('zigbee2mqtt: publish only values that changed since the device\'s last message (Zigbee2MQTT repeats the whole state)'),
  },
  check: (subscription) => topicsEndInHash(subscription.topics, 'zigbee2mqtt'),
  create: (driver, options) => new Zigbee2MqttDecoder(driver, options),
  simulation: {
    defaultDevices: ['living_room_sensor', 'hallway_motion', 'kettle_plug'],
    defaultBase: 'zigbee2mqtt',
    baseMeans: 'the Zigbee2MQTT base topic',
    subscription: (base) => ({ topic: `${base}/#` }),
    create: (_driver, setup) => new Zigbee2MqttSimulator(setup),
  },
});

