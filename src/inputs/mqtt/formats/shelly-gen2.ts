/**
 * Shelly Gen2/Gen3 (Plus, Pro) over MQTT: `<id>/events/rpc` carries JSON-RPC notifications. NotifyStatus holds
 * only the keys that changed (merged onto the last known state; a key sent as null disappeared, e.g. a removed
 * add-on sensor), NotifyFullStatus the whole state. `params.ts` is Unix seconds. `<id>/online` is true/false and
 * `<id>/status/<component>` (when "generic status update" is on) the full status of one component.
 * Components are `type:index` (switch:0, temperature:100); the driver maps their fields (apower, aenergy.total).
 */
import { z } from 'zod';
import type { EventDraft } from '../../../events/schema.js';
import { isMissing, readFieldPath, type FieldPath } from '../../../util/field-path.js';
import { BoundedMap, compileKeyedPaths, epochToIso, isRecord, parseJson, reading, rejected, StatusTracker, ucum } from './common.js';
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

export const ShellyGen2Driver = z
  .object({
    ...commonDriverKeys('shelly-gen2'),
    components: z
      .record(z.string(), z.record(z.string(), FieldMapping))
      .describe('Component type (switch, temperature, …) → field path (apower, aenergy.total) → reading'),
  })
  .strict();
export type ShellyGen2DriverT = z.infer<typeof ShellyGen2Driver>;

type State = Record<string, unknown>;
interface CompiledField {
  key: string;
  path: FieldPath;
  mapping: FieldMappingT;
}

export class ShellyGen2Decoder implements FormatDecoder {
  readonly format = 'shelly-gen2';
  readonly #driver: ShellyGen2DriverT;
  readonly #states: BoundedMap<string, State>;
  readonly #status: StatusTracker;
  readonly #fields: ReadonlyMap<string, readonly CompiledField[]>;

  constructor(driver: ShellyGen2DriverT, options: FormatSubscription<object>['options'] = {}) {
    this.#driver = driver;
    const limit = options.maxDevices ?? driver.maxDevices;
    this.#states = new BoundedMap(limit);
    this.#status = new StatusTracker(limit);
    this.#fields = new Map(
      Object.entries(driver.components).map(([type, fields]) => [type, compileKeyedPaths(fields)]),
    );
  }

  dynamicTopics(): string[] {
    return [];
  }

  claims(): boolean {
    return false;
  }

  decode(message: FormatMessage, ctx: DecodeContext): FormatResult {
    const levels = message.relativeLevels ?? message.topic.split('/');
    const n = levels.length;
    if (n >= 3 && levels[n - 2] === 'events' && levels[n - 1] === 'rpc') return this.#rpc(levels.slice(0, -2).join('/'), message, ctx);
    if (n >= 2 && levels[n - 1] === 'online') return this.#online(levels.slice(0, -1).join('/'), message, ctx);
    if (n >= 3 && levels[n - 2] === 'status') {
      const deviceId = levels.slice(0, -2).join('/');
      const component = levels[n - 1] ?? '';
      const parsed = parseJson(message.payload);
      if (!parsed.ok) return rejected(ctx, deviceId, message, parsed.problem);
      if (!isRecord(parsed.value)) return rejected(ctx, deviceId, message, `status/${component}: expected a JSON object, got ${describeValue(parsed.value)}`);
      return { drafts: this.#apply(deviceId, { [component]: parsed.value }, 'component', null, message, ctx) };
    }
    // <id>/rpc (replies), <id>/events/… other than rpc, <id>/command: not telemetry.
    return { drafts: [] };
  }

  #online(deviceId: string, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const text = message.payload.toString('utf8').trim();
    if (text !== 'true' && text !== 'false') return rejected(ctx, deviceId, message, `online: expected true or false, got ${describeValue(text)}`);
    const status = text === 'true' ? 'online' : 'offline';
    const draft = this.#status.transition(deviceId, status, `shelly online: ${text}`, ctx);
    return { drafts: draft ? [draft] : [] };
  }

  #rpc(deviceId: string, message: FormatMessage, ctx: DecodeContext): FormatResult {
    const parsed = parseJson(message.payload);
    if (!parsed.ok) return rejected(ctx, deviceId, message, parsed.problem);
    const rpc = parsed.value;
    if (!isRecord(rpc) || typeof rpc.method !== 'string') return rejected(ctx, deviceId, message, 'expected a JSON-RPC notification with a method');
    if (rpc.method !== 'NotifyStatus' && rpc.method !== 'NotifyFullStatus') return { drafts: [] }; // NotifyEvent: button pushes etc.
    if (!isRecord(rpc.params)) return rejected(ctx, deviceId, message, `${rpc.method}: expected params to be an object`);
    const { ts, ...components } = rpc.params;
    const sourceTime = epochToIso(ts) ?? null;
    return { drafts: this.#apply(deviceId, components, rpc.method === 'NotifyFullStatus' ? 'full' : 'delta', sourceTime, message, ctx) };
  }

  /** Only the mapped fields of mapped components are remembered: what a device sends besides cannot grow the state. */
  #keepMapped(state: State): State {
    const kept: State = {};
    let components = 0;
    for (const [componentKey, component] of Object.entries(state)) {
      const fields = this.#fields.get(componentKey.split(':')[0] ?? '');
      if (fields === undefined || !isRecord(component)) continue;
      if (++components > MAX_COMPONENTS) break;
      const slim: State = {};
      for (const { path } of fields) {
        const value = readFieldPath(component, path);
        if (!isMissing(value)) setPath(slim, path, value);
      }
      kept[componentKey] = slim;
    }
    return kept;
  }

  /**
   * Merges a change onto the device's state and publishes every mapped field the change touched: its new value,
   * or a bad reading when the field disappeared. `full` replaces the whole state, `component` one component.
   */
  #apply(deviceId: string, change: State, mode: 'delta' | 'full' | 'component', sourceTime: string | null, message: FormatMessage, ctx: DecodeContext): EventDraft[] {
    const before = this.#states.get(deviceId) ?? {};
    const after: State = mode === 'full' ? structuredClone(change) : structuredClone(before);
    if (mode === 'delta') mergeInto(after, change);
    if (mode === 'component') for (const [k, v] of Object.entries(change)) after[k] = structuredClone(v);
    this.#states.set(deviceId, this.#keepMapped(after));

    const drafts: EventDraft[] = [];
    const problems: string[] = [];
    const componentKeys = new Set([...Object.keys(change), ...(mode === 'full' ? Object.keys(before) : [])]);
    for (const componentKey of componentKeys) {
      const fields = this.#fields.get(componentKey.split(':')[0] ?? '');
      if (fields === undefined) continue;
      for (const { key, path, mapping } of fields) {
        const fullPath = [componentKey, ...path];
        if (mode === 'delta' && !touches(change, fullPath)) continue;
        const previous = readFieldPath(before, fullPath);
        const current = readFieldPath(after, fullPath);
        const metric = `${componentKey}.${mapping.metric ?? key}`;
        const unit = ucum(mapping.unit, this.#driver.units);
        if (isMissing(current)) {
          // Gone from the state (sent as null, or absent from a full status): say so once.
          if (!isMissing(previous) && previous !== null) drafts.push(reading({ deviceId, metric, value: null, unit, sourceTime, source: message.topic }, ctx));
          continue;
        }
        const value = toReadingValue(current, mapping.type);
        if (value === undefined) {
          problems.push(`${componentKey}.${key}: expected ${expectedText(mapping.type)}, got ${describeValue(current)}`);
          continue;
        }
        drafts.push(reading({ deviceId, metric, value, unit, sourceTime, source: message.topic }, ctx));
      }
    }
    if (problems.length > 0) drafts.push(...rejected(ctx, deviceId, message, problems.join('; ')).drafts);
    return drafts;
  }
}

/** Components kept per device at most (a device chooses its component keys; state must stay bounded). */
const MAX_COMPONENTS = 64;

/** Sets a value at a path of string keys, creating objects on the way. */
function setPath(target: State, path: FieldPath, value: unknown): void {
  let current = target;
  for (const [i, part] of path.entries()) {
    const key = String(part);
    if (i === path.length - 1) {
      current[key] = value;
      return;
    }
    const next = current[key];
    if (!isRecord(next)) current[key] = {};
    current = current[key] as State;
  }
}

/** Deep merge of a NotifyStatus change: objects merge, null deletes, anything else replaces. */
function mergeInto(target: State, change: State): void {
  for (const [key, value] of Object.entries(change)) {
    if (value === null) delete target[key];
    else if (isRecord(value) && isRecord(target[key])) mergeInto(target[key], value);
    else target[key] = structuredClone(value);
  }
}

/** Whether a change sets or deletes the value at `path` (or one of its parents). */
function touches(change: State, path: readonly (string | number)[]): boolean {
  let current: unknown = change;
  for (const part of path) {
    if (!isRecord(current) || typeof part !== 'string' || !Object.prototype.hasOwnProperty.call(current, part)) return false;
    current = current[part];
    if (current === null) return true;
  }
  return true;
}

interface SimulatedShelly {
  id: string;
  kind: 'switch' | 'ht';
  walks: Record<string, Walk>;
  energy: number;
  on: boolean;
}

/** Simulated Shelly Gen2 devices: a Plus 1PM (switch:0 with power metering) and a Plus H&T, in turn. */
class ShellyGen2Simulator {
  readonly #prefix: string;
  readonly #random: () => number;
  readonly #devices: SimulatedShelly[];

  constructor(setup: SimulationSetup) {
    this.#prefix = setup.base === '' ? '' : `${setup.base}/`;
    this.#random = setup.random;
    this.#devices = setup.devices.map((id, i) => ({
      id,
      kind: i % 2 === 0 ? 'switch' : 'ht',
      energy: 1520.4 + i * 100,
      on: true,
      walks: {
        apower: new Walk(42, 30, 60, 1.5, 1),
        voltage: new Walk(231.2, 225, 236, 0.3, 1),
        tC: new Walk(22.4 - i, 16, 30, 0.1, 1),
        rh: new Walk(51, 30, 80, 0.4, 1),
        device: new Walk(41, 30, 60, 0.2, 1),
      },
    }));
  }

  #notify(id: string, method: 'NotifyStatus' | 'NotifyFullStatus', nowMs: number, params: Record<string, unknown>): SimulatedMessage {
    const payload = { src: id, dst: `${this.#prefix}${id}/events`, method, params: { ts: Math.round(nowMs / 10) / 100, ...params } };
    return { topic: `${this.#prefix}${id}/events/rpc`, payload: JSON.stringify(payload) };
  }

  #components(d: SimulatedShelly, full: boolean): Record<string, unknown> {
    const r = this.#random;
    const w = d.walks;
    if (d.kind === 'switch') {
      if (r() < 0.05) d.on = !d.on;
      const apower = d.on ? (w.apower?.next(r) ?? 0) : 0;
      const voltage = w.voltage?.next(r) ?? 230;
      d.energy = Number((d.energy + apower / 3600).toFixed(3));
      const tC = w.device?.next(r) ?? 40;
      const sw = {
        id: 0,
        ...(full ? { source: 'init', output: d.on } : { output: d.on }),
        apower,
        voltage,
        current: Number((apower / voltage).toFixed(3)),
        ...(full ? { freq: 50, pf: 0.93 } : {}),
        aenergy: { total: d.energy, by_minute: [0, 0, 0], minute_ts: 0 },
        temperature: { tC, tF: Number((tC * 1.8 + 32).toFixed(1)) },
      };
      return full ? { 'switch:0': sw, sys: { mac: d.id.split('-').pop()?.toUpperCase() ?? '', restart_required: false, uptime: 3600 } } : { 'switch:0': sw };
    }
    const tC = w.tC?.next(r) ?? 21;
    const rh = w.rh?.next(r) ?? 50;
    return {
      'temperature:0': { id: 0, tC, tF: Number((tC * 1.8 + 32).toFixed(1)) },
      'humidity:0': { id: 0, rh },
      ...(full ? { 'devicepower:0': { id: 0, battery: { V: 5.92, percent: 88 }, external: { present: false } } } : {}),
    };
  }

  start(nowMs: number): SimulatedMessage[] {
    return this.#devices.flatMap((d) => [
      { topic: `${this.#prefix}${d.id}/online`, payload: 'true', retain: true },
      this.#notify(d.id, 'NotifyFullStatus', nowMs, this.#components(d, true)),
    ]);
  }

  round(nowMs: number): SimulatedMessage[] {
    return this.#devices.map((d) => this.#notify(d.id, 'NotifyStatus', nowMs, this.#components(d, false)));
  }

  stop(): SimulatedMessage[] {
    return this.#devices.map((d) => ({ topic: `${this.#prefix}${d.id}/online`, payload: 'false', retain: true }));
  }
}

export const shellyGen2Format = defineMqttFormat<ShellyGen2DriverT, object>({
  name: 'shelly-gen2',
  driver: ShellyGen2Driver,
  options: {},
  create: (driver, options) => new ShellyGen2Decoder(driver, options),
  simulation: {
    defaultDevices: ['shellyplus1pm-a8032ab1c2d4', 'shellyplusht-c4d8d5e1f2a3'],
    defaultBase: '',
    baseMeans: 'a topic prefix before the device ids (none by default)',
    subscription: (base) => (base === '' ? {} : { topics: [`${base}/+/events/rpc`, `${base}/+/online`] }),
    create: (_driver, setup) => new ShellyGen2Simulator(setup),
  },
});
