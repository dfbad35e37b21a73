/**
 * Home Assistant MQTT discovery: retained JSON configs on `<prefix>/<component>/[<node_id>/]<object_id>/config`
 * (one entity) or `<prefix>/device/<object_id>/config` (a device with `cmps`, its components) describe where an
 * entity's state is published and how to read it. This decoder learns entities from them (keys may be
 * abbreviated: stat_t, unit_of_meas, dev, ids, …), asks the input to subscribe to their state topics, and maps
 * state messages to readings. An empty retained config removes the entity. `value_template` is evaluated only in
 * its common forms ({{ value }}, {{ value_json.x }}, {{ value_json['A'].B }}, with | float, | int, | round(n));
 * any other template is reported as a dead letter of the config message, never guessed.
 */
import { z } from 'zod';
import type { EventDraft, ReadingValue } from '../../../events/schema.js';
import { compileFieldPath, isMissing, readFieldPath, type FieldPath } from '../../../util/field-path.js';
import { isRecord, parseJson, reading, rejected, topicsEndInHash, ucum } from './common.js';
import {
  commonDriverKeys,
  defineMqttFormat,
  Walk,
  type DecodeContext,
  type FormatDecoder,
  type FormatMessage,
  type FormatResult,
  type FormatSubscription,
  type SimulatedMessage,
  type SimulationSetup,
} from './format.js';
import { describeValue, expectedText, toReadingValue, type ValueType } from '../../values.js';

export const HomeAssistantDiscoveryDriver = z
  .object({
    ...commonDriverKeys('homeassistant-discovery'),
    components: z
      .record(z.string(), z.enum(['number', 'boolean', 'string']))
      .describe('Entity platforms mapped (sensor, binary_sensor) and the value type of their state'),
    abbreviations: z.record(z.string(), z.string()).describe('Abbreviated discovery keys → full keys'),
    deviceAbbreviations: z.record(z.string(), z.string()).default({}).describe('Abbreviated keys inside device/origin objects'),
    maxEntities: z.number().int().min(1).default(10_000),
  })
  .strict();
export type HomeAssistantDiscoveryDriverT = z.infer<typeof HomeAssistantDiscoveryDriver>;

type Filter = { name: 'float' | 'int' } | { name: 'round'; digits: number };

/** A compiled value_template: read the payload (whole, or a JSON path), then apply filters. */
export interface CompiledTemplate {
  path: FieldPath | undefined;
  filters: readonly Filter[];
}

interface Entity {
  key: string;
  configTopic: string;
  stateTopic: string;
  deviceId: string;
  metric: string;
  type: ValueType;
  unit: string | null;
  /** Home Assistant device_class (temperature, humidity, battery, …), published as the reading's code. */
  deviceClass: string | undefined;
  template: CompiledTemplate;
  payloadOn: string;
  payloadOff: string;
}

/** Sensor states that mean "no value". */
const NO_VALUE = new Set(['', 'unknown', 'unavailable', 'None', 'none', 'null']);

/** Compiles the template forms we support; a string explains why any other is not. */
export function compileValueTemplate(template: string | undefined): CompiledTemplate | string {
  if (template === undefined) return { path: undefined, filters: [] };
  const m = /^\s*\{\{\s*(.+?)\s*\}\}\s*$/s.exec(template);
  if (m === null || m[1] === undefined) return `value_template ${JSON.stringify(template)} is not a single {{ … }} expression`;
  const [expression = '', ...filterTexts] = m[1].split('|').map((s) => s.trim());
  let path: FieldPath | undefined;
  if (expression === 'value') path = undefined;
  else if (expression.startsWith('value_json')) {
    const rest = expression.slice('value_json'.length);
    const compiled = rest === '' ? [] : compileFieldPath(rest);
    if (compiled === undefined || (rest !== '' && !/^[.[]/.test(rest))) return `value_template ${JSON.stringify(template)}: unsupported expression "${expression}"`;
    path = compiled;
  } else return `value_template ${JSON.stringify(template)}: unsupported expression "${expression}" (supported: value, value_json.a.b, value_json['a'].b)`;
  const filters: Filter[] = [];
  for (const text of filterTexts) {
    if (text === 'float' || text === 'float(0)' || text === 'int' || text === 'int(0)') filters.push({ name: text.startsWith('float') ? 'float' : 'int' });
    else {
      const round = /^round\((\d+)\)$/.exec(text);
      if (round === null) return `value_template ${JSON.stringify(template)}: unsupported filter "${text}" (supported: float, int, round(n))`;
      filters.push({ name: 'round', digits: Number(round[1]) });
    }
  }
  // value_json alone selects the whole JSON document: not a reading.
  if (path !== undefined && path.length === 0) return `value_template ${JSON.stringify(template)}: selects the whole JSON payload, not a value`;
  return { path, filters };
}

export class HomeAssistantDiscoveryDecoder implements FormatDecoder {
  readonly format = 'homeassistant-discovery';
  readonly #driver: HomeAssistantDiscoveryDriverT;
  readonly #entities = new Map<string, Entity>();
  /** state topic → keys of the entities reading it. */
  readonly #byStateTopic = new Map<string, Set<string>>();
  readonly #maxEntities: number;

  constructor(driver: HomeAssistantDiscoveryDriverT, options: FormatSubscription<object>['options'] = {}) {
    this.#driver = driver;
    this.#maxEntities = options.maxDevices ?? driver.maxEntities;
  }

  dynamicTopics(): string[] {
    return [...this.#byStateTopic.keys()];
  }

  claims(topic: string): boolean {
    return this.#byStateTopic.has(topic);
  }

  decode(message: FormatMessage, ctx: DecodeContext): FormatResult {
    if (message.relativeLevels === undefined || this.#byStateTopic.has(message.topic)) {
      const keys = this.#byStateTopic.get(message.topic);
      if (keys !== undefined) return this.#state(keys, message, ctx);
    }
    const levels = message.relativeLevels ?? [];
    if (levels[levels.length - 1] !== 'config' || (levels.length !== 3 && levels.length !== 4)) return { drafts: [] }; // e.g. <prefix>/status
    const component = levels[0] ?? '';
    const objectId = levels[levels.length - 2] ?? '';
    return this.#config(message.topic, component, objectId, message, ctx);
  }

  #config(configTopic: string, component: string, objectId: string, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const before = new Set(this.#byStateTopic.keys());
    this.#removeEntitiesOf(configTopic);
    const result: FormatResult = { drafts: [] };
    if (message.payload.length > 0) {
      const parsed = parseJson(message.payload);
      if (!parsed.ok) return { ...rejected(ctx, `ha:${objectId}`, message, parsed.problem), ...this.#subscriptionChanges(before) };
      if (!isRecord(parsed.value)) return { ...rejected(ctx, `ha:${objectId}`, message, `expected a JSON object, got ${describeValue(parsed.value)}`), ...this.#subscriptionChanges(before) };
      const config = this.#expand(parsed.value, this.#driver.abbreviations);
      const device = isRecord(config.device) ? this.#expand(config.device, this.#driver.deviceAbbreviations) : undefined;
      const problems: string[] = [];
      if (component === 'device') {
        // Device-based discovery: components in cmps, sharing the top-level options (state_topic, qos, …).
        const { components, device: _device, origin: _origin, ...shared } = config;
        if (!isRecord(components)) problems.push('device discovery without components (cmps)');
        for (const [id, raw] of Object.entries(isRecord(components) ? components : {})) {
          if (!isRecord(raw)) continue;
          const entityConfig = { ...shared, ...this.#expand(raw, this.#driver.abbreviations) };
          const platform = typeof entityConfig.platform === 'string' ? entityConfig.platform : '';
          const problem = this.#addEntity(`${configTopic}#${id}`, configTopic, platform, id, entityConfig, device);
          if (problem !== undefined) problems.push(`${id}: ${problem}`);
        }
      } else {
        const problem = this.#addEntity(configTopic, configTopic, component, objectId, config, device);
        if (problem !== undefined) problems.push(problem);
      }
      if (problems.length > 0) result.drafts.push(...rejected(ctx, deviceIdOf(device, config, objectId), message, problems.join('; ')).drafts);
    }
    return { ...result, ...this.#subscriptionChanges(before) };
  }

  /** Undefined when added (or deliberately not mapped: a platform we do not read), else the problem. */
  #addEntity(key: string, configTopic: string, platform: string, objectId: string, config: Record<string, unknown>, device: Record<string, unknown> | undefined): string | undefined {
    const type = this.#driver.components[platform];
    if (type === undefined) return undefined; // lights, switches, buttons, …: not readings
    const base = typeof config['~'] === 'string' ? config['~'] : undefined;
    const stateTopic = expandBase(config.state_topic, base);
    if (stateTopic === undefined) return 'no state_topic';
    if (/[+#]/.test(stateTopic)) return `state_topic "${stateTopic}" contains a wildcard`;
    const template = compileValueTemplate(typeof config.value_template === 'string' ? config.value_template : undefined);
    if (typeof template === 'string') return `${template}; entity not mapped`;
    if (this.#entities.size >= this.#maxEntities) return `more than ${this.#maxEntities} entities; entity not mapped (raise maxDevices)`;
    const unitText = typeof config.unit_of_measurement === 'string' ? config.unit_of_measurement : undefined;
    const entity: Entity = {
      key,
      configTopic,
      stateTopic,
      deviceId: deviceIdOf(device, config, objectId),
      metric: typeof config.unique_id === 'string' && config.unique_id !== '' ? config.unique_id : objectId,
      type,
      unit: ucum(unitText, this.#driver.units),
      deviceClass: typeof config.device_class === 'string' && config.device_class !== '' ? config.device_class : undefined,
      template,
      payloadOn: typeof config.payload_on === 'string' ? config.payload_on : 'ON',
      payloadOff: typeof config.payload_off === 'string' ? config.payload_off : 'OFF',
    };
    this.#entities.set(key, entity);
    const keys = this.#byStateTopic.get(stateTopic) ?? new Set<string>();
    keys.add(key);
    this.#byStateTopic.set(stateTopic, keys);
    return undefined;
  }

  #removeEntitiesOf(configTopic: string): void {
    for (const [key, entity] of this.#entities) {
      if (entity.configTopic !== configTopic) continue;
      this.#entities.delete(key);
      const keys = this.#byStateTopic.get(entity.stateTopic);
      keys?.delete(key);
      if (keys?.size === 0) this.#byStateTopic.delete(entity.stateTopic);
    }
  }

  #subscriptionChanges(before: ReadonlySet<string>): Pick<FormatResult, 'subscribe' | 'unsubscribe'> {
    const after = new Set(this.#byStateTopic.keys());
    const subscribe = [...after].filter((t) => !before.has(t));
    const unsubscribe = [...before].filter((t) => !after.has(t));
    return { ...(subscribe.length > 0 ? { subscribe } : {}), ...(unsubscribe.length > 0 ? { unsubscribe } : {}) };
  }

  #expand(raw: Record<string, unknown>, table: Readonly<Record<string, string>>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [table[k] ?? k, v]));
  }

  #state(keys: ReadonlySet<string>, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const text = message.payload.toString('utf8');
    let json: unknown;
    let jsonProblem: string | undefined;
    const drafts: EventDraft[] = [];
    const problems: string[] = [];
    let deviceId = `mqtt:${ctx.inputName}`;
    for (const key of keys) {
      const entity = this.#entities.get(key);
      if (entity === undefined) continue;
      deviceId = entity.deviceId;
      let raw: unknown = text;
      if (entity.template.path !== undefined) {
        if (json === undefined && jsonProblem === undefined) {
          const parsed = parseJson(message.payload);
          if (parsed.ok) json = parsed.value;
          else jsonProblem = parsed.problem;
        }
        if (jsonProblem !== undefined) {
          problems.push(`${entity.metric}: ${jsonProblem}`);
          continue;
        }
        raw = readFieldPath(json, entity.template.path);
        if (isMissing(raw)) continue; // this message does not carry the entity's value (shared topics)
      }
      const value = this.#value(raw, entity);
      if (value === undefined) {
        problems.push(`${entity.metric}: expected ${expectedText(entity.type)}, got ${describeValue(raw)}`);
        continue;
      }
      const code = entity.deviceClass === undefined ? {} : { code: entity.deviceClass };
      drafts.push(reading({ deviceId: entity.deviceId, metric: entity.metric, value, unit: entity.unit, sourceTime: null, source: message.topic, ...code }, ctx));
    }
    if (problems.length > 0) drafts.push(...rejected(ctx, deviceId, message, problems.join('; ')).drafts);
    return { drafts };
  }

  #value(raw: unknown, entity: Entity): ReadingValue | undefined {
    if (raw === null || (typeof raw === 'string' && NO_VALUE.has(raw.trim()))) return null;
    let value: unknown = typeof raw === 'string' ? raw.trim() : raw;
    for (const filter of entity.template.filters) {
      const n = toReadingValue(value, 'number');
      if (typeof n !== 'number') return undefined;
      value = filter.name === 'int' ? Math.trunc(n) : filter.name === 'round' ? Number(n.toFixed(filter.digits)) : n;
    }
    if (entity.type === 'boolean') {
      const text = String(value);
      if (text === entity.payloadOn) return true;
      if (text === entity.payloadOff) return false;
      return toReadingValue(value, 'boolean');
    }
    if (entity.type === 'number') {
      const n = toReadingValue(value, 'number');
      // A sensor without a unit may report text (enum, timestamp sensors); with a unit it must be a number.
      if (n === undefined && entity.unit === null) return toReadingValue(value, 'string');
      return n;
    }
    return toReadingValue(value, entity.type);
  }
}

function expandBase(topic: unknown, base: string | undefined): string | undefined {
  if (typeof topic !== 'string' || topic === '') return undefined;
  if (base === undefined) return topic;
  if (topic.startsWith('~')) return base + topic.slice(1);
  if (topic.endsWith('~')) return topic.slice(0, -1) + base;
  return topic;
}

function deviceIdOf(device: Record<string, unknown> | undefined, config: Record<string, unknown>, objectId: string): string {
  const ids = device?.identifiers;
  const first = Array.isArray(ids) ? ids[0] : ids;
  if (typeof first === 'string' && first !== '') return first;
  if (typeof device?.name === 'string' && device.name !== '') return device.name;
  if (typeof config.unique_id === 'string' && config.unique_id !== '') return config.unique_id;
  return `ha:${objectId}`;
}

interface SimulatedEntityDevice {
  id: string;
  kind: 'weather' | 'boiler';
  walks: Record<string, Walk>;
  open: boolean;
}

/**
 * Simulated devices announcing themselves by discovery, in turn: a weather station by device-based discovery
 * (abbreviated keys, `cmps`, one JSON state read by templates) and a boiler room by one config per entity (a power
 * sensor and a door binary_sensor with its own payloads). Configs and states are retained, as many devices do.
 */
class HomeAssistantSimulator {
  readonly #prefix: string;
  readonly #random: () => number;
  readonly #devices: SimulatedEntityDevice[];

  constructor(setup: SimulationSetup) {
    this.#prefix = setup.base;
    this.#random = setup.random;
    this.#devices = setup.devices.map((id, i) => ({
      id,
      kind: i % 2 === 0 ? 'weather' : 'boiler',
      open: false,
      walks: { temperature: new Walk(12.5 + i, -10, 35, 0.3, 1), humidity: new Walk(71, 20, 100, 0.8, 0), power: new Walk(1450, 800, 2400, 60, 0) },
    }));
  }

  #stateTopic(id: string, entity: string): string {
    return `${this.#prefix}-devices/${id}/${entity}`;
  }

  #configs(d: SimulatedEntityDevice): SimulatedMessage[] {
    const device = { ids: [d.id], name: d.id.replace(/_/g, ' '), mf: 'edge-telemetry-gateway', mdl: 'simulated' };
    if (d.kind === 'weather') {
      const config = {
        dev: device,
        o: { name: 'telemetry-gateway simulate' },
        stat_t: this.#stateTopic(d.id, 'state'),
        cmps: {
          temperature: { p: 'sensor', dev_cla: 'temperature', unit_of_meas: '°C', val_tpl: '{{ value_json.temperature }}', uniq_id: `${d.id}_temperature` },
          humidity: { p: 'sensor', dev_cla: 'humidity', unit_of_meas: '%', val_tpl: '{{ value_json.humidity | int }}', uniq_id: `${d.id}_humidity` },
        },
      };
      return [{ topic: `${this.#prefix}/device/${d.id}/config`, payload: JSON.stringify(config), retain: true }];
    }
    return [
      {
        topic: `${this.#prefix}/sensor/${d.id}/power/config`,
        payload: JSON.stringify({ name: 'Power', stat_t: this.#stateTopic(d.id, 'power'), unit_of_meas: 'W', dev_cla: 'power', stat_cla: 'measurement', uniq_id: `${d.id}_power`, dev: device }),
        retain: true,
      },
      {
        topic: `${this.#prefix}/binary_sensor/${d.id}/door/config`,
        payload: JSON.stringify({ name: 'Door', stat_t: this.#stateTopic(d.id, 'door'), dev_cla: 'door', pl_on: 'OPEN', pl_off: 'CLOSED', uniq_id: `${d.id}_door`, dev: device }),
        retain: true,
      },
    ];
  }

  start(): SimulatedMessage[] {
    return [...this.#devices.flatMap((d) => this.#configs(d)), ...this.round()];
  }

  round(): SimulatedMessage[] {
    const r = this.#random;
    return this.#devices.flatMap((d): SimulatedMessage[] => {
      if (d.kind === 'weather') {
        return [{ topic: this.#stateTopic(d.id, 'state'), payload: JSON.stringify({ temperature: d.walks.temperature?.next(r), humidity: d.walks.humidity?.next(r) }), retain: true }];
      }
      if (r() < 0.1) d.open = !d.open;
      return [
        { topic: this.#stateTopic(d.id, 'power'), payload: String(d.walks.power?.next(r)), retain: true },
        { topic: this.#stateTopic(d.id, 'door'), payload: d.open ? 'OPEN' : 'CLOSED', retain: true },
      ];
    });
  }

  stop(): SimulatedMessage[] {
    // A device going away keeps its discovery configs (Home Assistant would otherwise delete its entities).
    return [];
  }
}

export const homeAssistantDiscoveryFormat = defineMqttFormat<HomeAssistantDiscoveryDriverT, object>({
  name: 'homeassistant-discovery',
  driver: HomeAssistantDiscoveryDriver,
  options: {},
  check: (subscription) => topicsEndInHash(subscription.topics, 'homeassistant-discovery'),
  create: (driver, options) => new HomeAssistantDiscoveryDecoder(driver, options),
  simulation: {
    defaultDevices: ['garden_weather', 'boiler_room'],
    defaultBase: 'homeassistant',
    baseMeans: 'the discovery prefix (states go to <base>-devices/…)',
    subscription: (base) => ({ topic: `${base}/#` }),
    create: (_driver, setup) => new HomeAssistantSimulator(setup),
  },
});
