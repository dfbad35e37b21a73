/**
 * The contract of an MQTT format: what one file in this folder defines so that a subscription can name a driver
 * of that format. A format is the schema of its driver files (devices/<name>.yaml with `kind: mqtt` and
 * `format: <name>`), the subscription options it takes, the checks config validation makes beyond the schema,
 * its decoder, and the simulation of its devices that `telemetry-gateway simulate --driver <name>` publishes.
 * formats/registry.ts lists the formats; everything else (the driver union, the option schema, option checks,
 * the golden tests' list, the simulator) is derived from that list, so the compiler asks for all of it.
 * How to add one: src/inputs/mqtt/README.md, "Adding a format".
 */
import { z } from 'zod';
import type { ConfigProblem } from '../../../config/problems.js';
import type { EventDraft } from '../../../events/schema.js';
import type { DecodeContext } from '../dead-letter.js';

export type { DecodeContext } from '../dead-letter.js';

export interface FormatMessage {
  topic: string;
  payload: Buffer;
  /**
   * Topic levels after the literal prefix of the matching filter (the levels before its first wildcard): for
   * `site-a/tele/+/SENSOR` and topic `site-a/tele/kitchen/SENSOR` that is [kitchen, SENSOR]. Formats read device
   * names from these, so a user-chosen prefix never ends up in a device id.
   * Undefined for topics the decoder subscribed to itself (Home Assistant state topics).
   */
  relativeLevels: readonly string[] | undefined;
}

export interface FormatResult {
  drafts: EventDraft[];
  /** Topic filters the input should subscribe to now (Home Assistant state topics). */
  subscribe?: string[];
  /** Topic filters no longer needed. */
  unsubscribe?: string[];
}

/** A format decoder: deterministic given its inputs and its own bounded state; never throws on bad input. */
export interface FormatDecoder {
  readonly format: string;
  /** Filters to subscribe to at connect, besides the subscription's own (e.g. discovered state topics). */
  dynamicTopics(): string[];
  /** True for topics this decoder subscribed to itself. */
  claims(topic: string): boolean;
  decode(message: FormatMessage, ctx: DecodeContext): FormatResult;
}

const ucumUnit = z.string().min(1).describe('UCUM unit code, e.g. Cel, %, W, kW.h');

/** How one device key becomes a reading (driver tables of several formats). */
export const FieldMapping = z
  .object({
    metric: z.string().min(1).optional().describe('Metric name; default: the key itself'),
    unit: ucumUnit.optional(),
    type: z.enum(['number', 'boolean', 'string']).default('number'),
  })
  .strict();
export type FieldMappingT = z.infer<typeof FieldMapping>;

/** The keys every MQTT driver file has; a format's driver schema spreads them next to its own. */
export function commonDriverKeys<const F extends string>(format: F) {
  return {
    kind: z.literal('mqtt'),
    format: z.literal(format),
    description: z.string().optional(),
    topics: z.array(z.string().min(1)).min(1).describe('Topic filters subscribed when the subscription names none'),
    units: z.record(z.string(), ucumUnit).default({}).describe('Device unit text → UCUM code (e.g. "°C": Cel); others pass through'),
    maxDevices: z.number().int().min(1).default(10_000).describe('Per-device state kept at most (least recently seen forgotten first)'),
  };
}

/** What every driver of every format has after parsing. */
export interface CommonDriver {
  kind: 'mqtt';
  format: string;
  description?: string | undefined;
  topics: string[];
  units: Record<string, string>;
  maxDevices: number;
}

/** The subscription option every format takes. */
export const MAX_DEVICES_OPTION = z.number().int().min(1).optional().describe('Per-device state kept at most (default: the driver\'s)');

/** A driver subscription as a format's check sees it: its topic filters (own or the driver's) and options. */
export interface FormatSubscription<O> {
  topics: readonly string[];
  options: Partial<O> & { maxDevices?: number | undefined };
}

/** One message a simulated device publishes. */
export interface SimulatedMessage {
  topic: string;
  payload: string | Buffer;
  /** Retained (availability, births are not: Sparkplug forbids it; discovery configs are). */
  retain?: boolean;
}

export interface SimulationSetup {
  /** Device names (topic levels, Sparkplug node, friendly names); the format's defaults when empty. */
  devices: readonly string[];
  /** The namespace of this run (Zigbee2MQTT base topic, discovery prefix, Sparkplug group, topic prefix). */
  base: string;
  /** Deterministic random numbers in [0, 1). */
  random: () => number;
}

/** The devices of one simulation run: each call returns the messages to publish, in order. */
export interface FormatSimulator {
  /** Coming online: availability, births, discovery configs, a first full state. */
  start(nowMs: number): SimulatedMessage[];
  /** One round of telemetry; values move plausibly from round to round. */
  round(nowMs: number): SimulatedMessage[];
  /** Going away cleanly: availability offline, deaths. */
  stop(nowMs: number): SimulatedMessage[];
}

export interface FormatSimulation<D> {
  /** Device names used when none are given. */
  readonly defaultDevices: readonly string[];
  /** Namespace used when none is given. */
  readonly defaultBase: string;
  /** What `base` means for this format (for --help and errors). */
  readonly baseMeans: string;
  /** The subscription (besides `driver`) with which a gateway reads what a simulation under `base` publishes. */
  subscription(base: string): { topic?: string; topics?: string[] };
  create(driver: D, setup: SimulationSetup): FormatSimulator;
}

/**
 * One MQTT format. `D` is its parsed driver file, `O` its subscription options (besides maxDevices).
 * Methods (not function properties) on purpose: the registry holds formats of different D and O side by side.
 */
export interface MqttFormat<D extends CommonDriver, O extends object> {
  /** The `format:` value of its driver files, and its key in the registry. */
  readonly name: D['format'];
  /** Schema of its driver files (spread commonDriverKeys(name) into it). */
  readonly driver: z.ZodType<D>;
  /** Its subscription options and their schemas; every option is optional. */
  readonly options: { readonly [K in keyof O]-?: z.ZodType<O[K] | undefined> };
  /** Problems of one subscription beyond the schema, with paths relative to the subscription (`['options', 'timeZone']`). */
  check?(subscription: FormatSubscription<O>, driver: D): ConfigProblem[];
  create(driver: D, options: FormatSubscription<O>['options']): FormatDecoder;
  readonly simulation: FormatSimulation<D>;
}

/** Identity with the types checked: `export const tasmotaFormat = defineMqttFormat<TasmotaDriverT, { timeZone: string }>({ … })`. */
export function defineMqttFormat<D extends CommonDriver, O extends object>(format: MqttFormat<D, O>): MqttFormat<D, O> {
  return format;
}

/** A random walk within bounds, for simulated values. */
export class Walk {
  #value: number;
  constructor(
    start: number,
    readonly min: number,
    readonly max: number,
    readonly step: number,
    readonly decimals: number,
  ) {
    this.#value = start;
  }
  get value(): number {
    return this.#value;
  }
  next(random: () => number): number {
    const moved = this.#value + (random() * 2 - 1) * this.step;
    this.#value = Number(Math.min(this.max, Math.max(this.min, moved)).toFixed(this.decimals));
    return this.#value;
  }
}
