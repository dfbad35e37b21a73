/**
 * Tasmota telemetry: `tele/<topic>/SENSOR` (sensor objects keyed by driver name: AM2301, DS18B20-1, ENERGY, …),
 * `tele/<topic>/STATE` (uptime, Wi-Fi, relay state), `tele/<topic>/LWT` (Online/Offline), also in the swapped
 * `<topic>/tele/…` layout. `Time` is device local time without a zone; `Epoch` (newer firmware) is UTC and wins.
 * `TempUnit` (C/F) applies to every temperature in the message. Multi-phase meters send arrays (Power: [p1,p2,p3]).
 * Older firmware (4.x/5.x) also put numeric fields at the top level of SENSOR (`"Analog0": 6`, no sensor object) and
 * sent `Uptime` without `UptimeSec`: as "1T02:03:04" (days T hh:mm:ss), or before that as whole hours (`"Uptime": 19`).
 */
import { z } from 'zod';
import { configProblem } from '../../../config/problems.js';
import type { EventDraft } from '../../../events/schema.js';
import { isMissing, readFieldPath, type FieldPath } from '../../../util/field-path.js';
import { compileKeyedPaths, epochToIso, isRecord, parseJson, reading, rejected, StatusTracker, ucum } from './common.js';
import {
  commonDriverKeys,
  defineMqttFormat,
  FieldMapping,
  Walk,
  type DecodeContext,
  type FieldMappingT,
  type FormatDecoder,
  type FormatMessage,
  type FormatResult,
  type FormatSubscription,
  type SimulatedMessage,
  type SimulationSetup,
} from './format.js';
import { describeValue, expectedText, toReadingValue } from '../../values.js';
import { formatWallTime, isKnownTimeZone, localIsoTimeToUtc } from '../../../util/time-zone.js';

export const TasmotaDriver = z
  .object({
    ...commonDriverKeys('tasmota'),
    timeZone: z.string().default('UTC').describe('IANA zone of the device clock (Time carries no zone); a subscription option overrides it'),
    temperatureFields: z.array(z.string()).default([]).describe('Sensor fields whose unit follows TempUnit (C → Cel, F → [degF])'),
    fields: z.record(z.string(), FieldMapping).describe('Sensor field (in any sensor object, e.g. AM2301.Humidity) → reading'),
    unknownFields: z
      .enum(['skip', 'unitless'])
      .default('unitless')
      .describe('Numeric sensor fields not in the table: skip them, or publish them with unit null'),
    state: z.record(z.string(), FieldMapping).default({}).describe('STATE message path (e.g. Wifi.RSSI) → reading'),
    phaseNames: z.array(z.string().min(1)).default(['L1', 'L2', 'L3']).describe('Suffixes of per-phase array values'),
  })
  .strict();
export type TasmotaDriverT = z.infer<typeof TasmotaDriver>;

export interface TasmotaOptions {
  timeZone: string;
}

const PREFIX = 'tele';
const TEMP_UNITS: Readonly<Record<string, string>> = { C: 'Cel', F: '[degF]' };
/** Top-level SENSOR keys that describe the message, not a measurement. */
const MESSAGE_KEYS: ReadonlySet<string> = new Set(['Time', 'Epoch', 'TempUnit', 'PressureUnit', 'SpeedUnit', 'StatusSNS']);
/** Uptime of older firmware: days, then T and hh:mm:ss. */
const UPTIME_TEXT = /^(\d+)T(\d\d):(\d\d):(\d\d)$/;

export class TasmotaDecoder implements FormatDecoder {
  readonly format = 'tasmota';
  readonly #driver: TasmotaDriverT;
  readonly #zone: string;
  readonly #status: StatusTracker;
  readonly #statePaths: { path: FieldPath; key: string; mapping: FieldMappingT }[];

  constructor(driver: TasmotaDriverT, options: FormatSubscription<TasmotaOptions>['options'] = {}) {
    this.#driver = driver;
    this.#zone = options.timeZone ?? driver.timeZone;
    this.#status = new StatusTracker(options.maxDevices ?? driver.maxDevices);
    this.#statePaths = compileKeyedPaths(driver.state);
  }

  dynamicTopics(): string[] {
    return [];
  }

  claims(): boolean {
    return false;
  }

  decode(message: FormatMessage, ctx: DecodeContext): FormatResult {
    const levels = [...(message.relativeLevels ?? message.topic.split('/'))];
    const kind = levels.pop();
    // tele/<topic>/KIND (default FullTopic) or <topic>/tele/KIND (FullTopic %topic%/%prefix%/).
    if (levels[levels.length - 1] === PREFIX) levels.pop();
    else if (levels[0] === PREFIX) levels.shift();
    const deviceId = levels.join('/');
    if (deviceId === '' || kind === undefined) return rejected(ctx, `mqtt:${ctx.inputName}`, message, 'tasmota: cannot find the device topic in this topic');
    switch (kind) {
      case 'LWT':
        return this.#lwt(deviceId, message, ctx);
      case 'SENSOR':
      case 'STATE':
      case 'STATUS8':
      case 'STATUS10': {
        const parsed = parseJson(message.payload);
        if (!parsed.ok) return rejected(ctx, deviceId, message, parsed.problem);
        if (!isRecord(parsed.value)) return rejected(ctx, deviceId, message, `expected a JSON object, got ${describeValue(parsed.value)}`);
        // Status 8/10 replies wrap the SENSOR object in {"StatusSNS": {…}}.
        const root = isRecord(parsed.value.StatusSNS) ? parsed.value.StatusSNS : parsed.value;
        return kind === 'STATE' ? this.#state(deviceId, root, message, ctx) : this.#sensor(deviceId, root, message, ctx);
      }
      default:
        // RESULT, INFO1, UPTIME, MARGINS, …: not telemetry.
        return { drafts: [] };
    }
  }

  #lwt(deviceId: string, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const text = message.payload.toString('utf8').trim();
    const status = text === 'Online' ? 'online' : text === 'Offline' ? 'offline' : undefined;
    if (status === undefined) return rejected(ctx, deviceId, message, `LWT: expected Online or Offline, got ${describeValue(text)}`);
    const draft = this.#status.transition(deviceId, status, `tasmota LWT: ${text}`, ctx);
    return { drafts: draft ? [draft] : [] };
  }

  #sourceTime(root: Record<string, unknown>, problems: string[]): string | null {
    const epoch = epochToIso(root.Epoch);
    if (epoch !== undefined) return epoch;
    if (typeof root.Time !== 'string') return null;
    const time = localIsoTimeToUtc(root.Time, this.#zone);
    if (time === undefined) problems.push(`Time: unusable timestamp ${describeValue(root.Time)}`);
    return time ?? null;
  }

  #sensor(deviceId: string, root: Record<string, unknown>, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const problems: string[] = [];
    const sourceTime = this.#sourceTime(root, problems);
    const tempUnitText = typeof root.TempUnit === 'string' ? root.TempUnit : 'C';
    const tempUnit = TEMP_UNITS[tempUnitText];
    if (tempUnit === undefined) problems.push(`TempUnit: expected C or F, got ${describeValue(root.TempUnit)}`);
    const drafts: EventDraft[] = [];
    // Sensor objects (AM2301: {…}) give `<sensor>.<metric>`; legacy top-level fields ("Analog0": 6) give `<metric>`.
    const groups: [prefix: string, fields: Record<string, unknown>][] = [['', Object.fromEntries(Object.entries(root).filter(([k, v]) => !isRecord(v) && !MESSAGE_KEYS.has(k)))]];
    for (const [sensor, fields] of Object.entries(root)) if (isRecord(fields)) groups.push([`${sensor}.`, fields]);
    for (const [prefix, fields] of groups) {
      const topLevel = prefix === '';
      for (const [field, raw] of Object.entries(fields)) {
        const mapping = this.#driver.fields[field];
        const isTemperature = this.#driver.temperatureFields.includes(field);
        // Top level: only numbers are measurements (text such as "Switch1": "ON" was never published here).
        if (topLevel && !(typeof raw === 'number' || isNumberArray(raw))) continue;
        if (mapping === undefined && !isTemperature) {
          if (this.#driver.unknownFields === 'skip' || !(typeof raw === 'number' || raw === null || isNumberArray(raw))) continue;
        }
        const type = mapping?.type ?? 'number';
        const unit = isTemperature ? (tempUnit ?? null) : ucum(mapping?.unit, this.#driver.units);
        const metric = `${prefix}${mapping?.metric ?? field}`;
        const values = Array.isArray(raw) ? raw.map((v, i) => [`${metric}.${this.#driver.phaseNames[i] ?? i + 1}`, v] as const) : [[metric, raw] as const];
        for (const [name, rawValue] of values) {
          const value = toReadingValue(rawValue, type);
          if (value === undefined) {
            problems.push(`${prefix}${field}: expected ${expectedText(type)}, got ${describeValue(rawValue)}`);
            continue;
          }
          drafts.push(reading({ deviceId, metric: name, value, unit, sourceTime, source: message.topic }, ctx));
        }
      }
    }
    if (problems.length > 0) drafts.push(...rejected(ctx, deviceId, message, problems.join('; ')).drafts);
    return { drafts };
  }

  #state(deviceId: string, root: Record<string, unknown>, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const problems: string[] = [];
    const sourceTime = this.#sourceTime(root, problems);
    const drafts: EventDraft[] = [];
    for (const { path, key, mapping } of this.#statePaths) {
      const raw = readFieldPath(root, path);
      if (isMissing(raw)) continue;
      const value = toReadingValue(raw, mapping.type);
      if (value === undefined) {
        problems.push(`${key}: expected ${expectedText(mapping.type)}, got ${describeValue(raw)}`);
        continue;
      }
      drafts.push(reading({ deviceId, metric: mapping.metric ?? key, value, unit: ucum(mapping.unit, this.#driver.units), sourceTime, source: message.topic }, ctx));
    }
    const legacyUptime = this.#legacyUptime(root, problems);
    const uptimeMapping = this.#driver.state.UptimeSec;
    if (legacyUptime !== undefined && uptimeMapping !== undefined) {
      drafts.push(reading({ deviceId, metric: uptimeMapping.metric ?? 'UptimeSec', value: legacyUptime, unit: ucum(uptimeMapping.unit, this.#driver.units), sourceTime, source: message.topic }, ctx));
    }
    if (problems.length > 0) drafts.push(...rejected(ctx, deviceId, message, problems.join('; ')).drafts);
    return { drafts };
  }

  /**
   * Seconds of uptime from the `Uptime` of firmware that sent no `UptimeSec`: "1T02:03:04" (5.x/6.x) or whole
   * hours (4.x), published as the reading the driver maps `UptimeSec` to. Undefined when UptimeSec is there.
   */
  #legacyUptime(root: Record<string, unknown>, problems: string[]): number | undefined {
    if (root.UptimeSec !== undefined || root.Uptime === undefined) return undefined;
    const raw = root.Uptime;
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw * 3600;
    const m = typeof raw === 'string' ? UPTIME_TEXT.exec(raw.trim()) : null;
    if (m !== null) return ((Number(m[1]) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4]);
    problems.push(`Uptime: expected "<days>T<hh:mm:ss>" or whole hours, got ${describeValue(raw)}`);
    return undefined;
  }
}

function isNumberArray(raw: unknown): boolean {
  return Array.isArray(raw) && raw.length > 0 && raw.every((v) => typeof v === 'number' || v === null);
}

interface SimulatedTasmota {
  topic: string;
  kind: 'pow' | 'th';
  walks: Record<string, Walk>;
  total: number;
  on: boolean;
}

/** Simulated Tasmota devices: a Sonoff POW (ENERGY) and a Wemos with AM2301 and DS18B20 sensors, in turn. */
class TasmotaSimulator {
  readonly #prefix: string;
  readonly #zone: string;
  readonly #random: () => number;
  readonly #devices: SimulatedTasmota[];
  #rounds = 0;

  constructor(driver: TasmotaDriverT, setup: SimulationSetup) {
    this.#prefix = setup.base === '' ? '' : `${setup.base}/`;
    this.#zone = driver.timeZone;
    this.#random = setup.random;
    this.#devices = setup.devices.map((topic, i) => ({
      topic,
      kind: i % 2 === 0 ? 'pow' : 'th',
      total: 91.135 + i,
      on: true,
      walks: {
        power: new Walk(180, 120, 220, 8, 3),
        voltage: new Walk(228, 220, 236, 1, 0),
        temperature: new Walk(19.5 + i, 10, 30, 0.2, 1),
        humidity: new Walk(58, 30, 90, 0.6, 1),
        soil: new Walk(17.8, 10, 25, 0.1, 1),
        rssi: new Walk(80, 30, 100, 3, 0),
      },
    }));
  }

  #topic(d: SimulatedTasmota, kind: string): string {
    return `${this.#prefix}tele/${d.topic}/${kind}`;
  }

  #sensor(d: SimulatedTasmota, nowMs: number): SimulatedMessage {
    const r = this.#random;
    const w = d.walks;
    const time = formatWallTime(nowMs, 'YYYY-MM-DDTHH:mm:ss', this.#zone);
    let body: Record<string, unknown>;
    if (d.kind === 'pow') {
      const power = d.on ? (w.power?.next(r) ?? 0) : 0;
      const voltage = w.voltage?.next(r) ?? 230;
      d.total = Number((d.total + power / 3_600_000).toFixed(3));
      body = {
        ENERGY: { TotalStartTime: '2024-11-19T12:02:10', Total: d.total, Yesterday: 4.845, Today: 0.24, Period: 0.55, Power: power, ApparentPower: power, ReactivePower: 0, Factor: 1, Voltage: voltage, Current: Number((power / voltage).toFixed(3)) },
      };
    } else {
      body = { AM2301: { Temperature: w.temperature?.next(r), Humidity: w.humidity?.next(r), DewPoint: 9.1 }, DS18B20: { Id: '01144A0CB2AA', Temperature: w.soil?.next(r) }, TempUnit: 'C' };
    }
    return { topic: this.#topic(d, 'SENSOR'), payload: JSON.stringify({ Time: time, ...body }) };
  }

  #state(d: SimulatedTasmota, nowMs: number): SimulatedMessage {
    const uptime = 3600 + this.#rounds * 10;
    const time = formatWallTime(nowMs, 'YYYY-MM-DDTHH:mm:ss', this.#zone);
    const state = {
      Time: time,
      Uptime: `0T${String(Math.floor(uptime / 3600)).padStart(2, '0')}:${String(Math.floor((uptime % 3600) / 60)).padStart(2, '0')}:${String(uptime % 60).padStart(2, '0')}`,
      UptimeSec: uptime,
      Heap: 26,
      SleepMode: 'Dynamic',
      Sleep: 50,
      LoadAvg: 19,
      MqttCount: 1,
      ...(d.kind === 'pow' ? { POWER: d.on ? 'ON' : 'OFF' } : {}),
      Wifi: { AP: 1, SSId: 'plant-iot', BSSId: '30:23:03:AA:BB:CC', Channel: 6, RSSI: d.walks.rssi?.next(this.#random), Signal: -62, LinkCount: 1, Downtime: '0T00:00:04' },
    };
    return { topic: this.#topic(d, 'STATE'), payload: JSON.stringify(state) };
  }

  start(nowMs: number): SimulatedMessage[] {
    return this.#devices.flatMap((d) => [{ topic: this.#topic(d, 'LWT'), payload: 'Online', retain: true }, this.#state(d, nowMs), this.#sensor(d, nowMs)]);
  }

  round(nowMs: number): SimulatedMessage[] {
    this.#rounds += 1;
    // STATE comes less often than SENSOR (both every TelePeriod on a real device; a relay change sends one at once).
    return this.#devices.flatMap((d) => (this.#rounds % 5 === 0 ? [this.#sensor(d, nowMs), this.#state(d, nowMs)] : [this.#sensor(d, nowMs)]));
  }

  stop(): SimulatedMessage[] {
    return this.#devices.map((d) => ({ topic: this.#topic(d, 'LWT'), payload: 'Offline', retain: true }));
  }
}

export const tasmotaFormat = defineMqttFormat<TasmotaDriverT, TasmotaOptions>({
  name: 'tasmota',
  driver: TasmotaDriver,
  options: {
    timeZone: z.string().optional().describe('tasmota: IANA zone of the device clock, e.g. Europe/Berlin (default: the driver\'s, UTC)'),
  },
  check(subscription, driver) {
    const zone = subscription.options.timeZone ?? driver.timeZone;
    return isKnownTimeZone(zone) ? [] : [configProblem(['options', 'timeZone'], `unknown time zone "${zone}" (use an IANA name like Europe/Berlin or UTC)`)];
  },
  create: (driver, options) => new TasmotaDecoder(driver, options),
  simulation: {
    defaultDevices: ['sonoff_pow_kitchen', 'wemos_greenhouse'],
    defaultBase: '',
    baseMeans: 'a topic prefix before tele/ (none by default)',
    subscription: (base) => (base === '' ? {} : { topics: ['SENSOR', 'STATE', 'LWT'].map((kind) => `${base}/tele/+/${kind}`) }),
    create: (driver, setup) => new TasmotaSimulator(driver, setup),
  },
});
