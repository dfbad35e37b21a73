/**
 * Sparkplug B (spBv1.0): protobuf payloads on `spBv1.0/<group>/<type>/<node>[/<device>]`, decoded with the
 * protobuf schema shipped in eclipse/tahu's `sparkplug-payload` package.
 *
 * Session rules kept per edge node (bounded state): NBIRTH/DBIRTH define metric names, aliases and datatypes
 * (re-learned on every birth); NDATA/DDATA may carry only aliases; every message after NBIRTH increments the
 * node's `seq` by one modulo 256 (a repeat is a duplicate, not a gap; a jump is published as a `gap` event);
 * NDEATH is the MQTT will and counts only when its `bdSeq` equals the one of the current NBIRTH (an NDEATH with
 * another bdSeq is a stale will of an earlier session and is ignored); NDEATH/DDEATH publish `device-status`
 * offline. `spBv1.0/STATE/<host>` is JSON from host applications, never protobuf: it is skipped, as are commands.
 *
 * Values: signed Int8/16/32 are read as two's complement from the 32-bit field; 64-bit integers (Int64, UInt64)
 * are exact: a JSON number when within ±(2^53−1), else the decimal string; DateTime becomes an ISO time string;
 * Float is the shortest decimal that round-trips the 32-bit value. DataSet, Template, Bytes, File and arrays are
 * not readings: such metrics are reported in a dead letter.
 */
import { createRequire } from 'node:module';
import { z } from 'zod';
import type { EventDraft, ReadingValue } from '../../../events/schema.js';
import { BoundedMap, reading, rejected, StatusTracker, ucum } from './common.js';
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

export const SparkplugDriver = z
  .object({
    ...commonDriverKeys('sparkplug-b'),
    ignoreMetrics: z
      .array(z.string().min(1))
      .default([])
      .describe('Metric names not published as readings; a trailing * matches a prefix (e.g. "Node Control/*")'),
  })
  .strict();
export type SparkplugDriverT = z.infer<typeof SparkplugDriver>;

type ProtoRoot = typeof import('sparkplug-payload/lib/sparkplugPayloadProto.js');
type ProtoPayload = import('sparkplug-payload/lib/sparkplugPayloadProto.js').org.eclipse.tahu.protobuf.IPayload;
type ProtoMetric = import('sparkplug-payload/lib/sparkplugPayloadProto.js').org.eclipse.tahu.protobuf.Payload.IMetric;
type LongLike = { low: number; high: number; unsigned: boolean };

const require = createRequire(import.meta.url);
type PayloadCodec = ProtoRoot['org']['eclipse']['tahu']['protobuf']['Payload'];
let payloadCodec: PayloadCodec | undefined;
/**
 * The Sparkplug protobuf codec, loaded on first use: protobufjs and the Tahu schema cost ~9 MB resident, which
 * gateways that never see a Sparkplug message should not carry (#14: load only the modules the config uses).
 */
function sparkplugPayload(): PayloadCodec {
  payloadCodec ??= (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as ProtoRoot).org.eclipse.tahu.protobuf.Payload;
  return payloadCodec;
}

export const NAMESPACE = 'spBv1.0';

export const DATATYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'Unknown', 1: 'Int8', 2: 'Int16', 3: 'Int32', 4: 'Int64', 5: 'UInt8', 6: 'UInt16', 7: 'UInt32', 8: 'UInt64',
  9: 'Float', 10: 'Double', 11: 'Boolean', 12: 'String', 13: 'DateTime', 14: 'Text', 15: 'UUID', 16: 'DataSet',
  17: 'Bytes', 18: 'File', 19: 'Template', 20: 'PropertySet', 21: 'PropertySetList',
};

interface MetricInfo {
  name: string;
  datatype: number | undefined;
  unit: string | null;
}

interface Aliases {
  /** alias (decimal text) → metric; `null` when a birth bound one alias to several names. */
  byAlias: Map<string, MetricInfo | null>;
  byName: Map<string, MetricInfo>;
}

interface NodeSession {
  bdSeq: string | undefined;
  lastSeq: number | undefined;
  lastReceivedAt: string;
  node: Aliases;
  /** Devices born on this node (bounded like the nodes: device names come from the publisher). */
  devices: BoundedMap<string, Aliases>;
}

function emptyAliases(): Aliases {
  return { byAlias: new Map(), byName: new Map() };
}

/** A protobuf uint64/int64 (number or Long) as BigInt; undefined when absent. */
function toBigInt(value: number | LongLike | null | undefined): bigint | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
}

/** Exact integer: a number when it is a safe integer, else its decimal string. */
function exactInteger(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** The shortest decimal that reads back as the same 32-bit float (21.5, 0.1 — not 0.10000000149011612). */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === Math.fround(value)) return candidate;
  }
  return value;
}

function has(metric: ProtoMetric, field: keyof ProtoMetric): boolean {
  return Object.prototype.hasOwnProperty.call(metric, field) && metric[field] !== null && metric[field] !== undefined;
}

type Converted = { ok: true; value: ReadingValue } | { ok: false; problem: string };

/** A metric's value by its datatype, reading whichever value field is present (stacks differ for UInt32). */
export function metricValue(metric: ProtoMetric, datatype: number | undefined): Converted {
  if (metric.isNull === true) return { ok: true, value: null };
  const int = has(metric, 'intValue') ? BigInt((metric.intValue ?? 0) >>> 0) : has(metric, 'longValue') ? toBigInt(metric.longValue as number | LongLike) : undefined;
  const typeName = datatype === undefined ? 'unknown datatype' : (DATATYPE_NAMES[datatype] ?? `datatype ${datatype}`);
  const missing: Converted = { ok: false, problem: `${typeName} without a value` };
  switch (datatype) {
    case 1:
    case 2:
    case 3:
      return int === undefined ? missing : { ok: true, value: Number(BigInt.asIntN(32, int)) };
    case 5:
    case 6:
    case 7:
      return int === undefined ? missing : { ok: true, value: Number(BigInt.asUintN(32, int)) };
    case 4:
      return int === undefined ? missing : { ok: true, value: exactInteger(BigInt.asIntN(64, int)) };
    case 8:
      return int === undefined ? missing : { ok: true, value: exactInteger(BigInt.asUintN(64, int)) };
    case 13: {
      if (int === undefined) return missing;
      const date = new Date(Number(int));
      return Number.isNaN(date.getTime()) ? { ok: false, problem: `DateTime ${int} out of range` } : { ok: true, value: date.toISOString() };
    }
    case 9:
      if (has(metric, 'floatValue')) return { ok: true, value: shortestFloat32(metric.floatValue ?? 0) };
      return has(metric, 'doubleValue') ? { ok: true, value: metric.doubleValue ?? 0 } : missing;
    case 10:
      if (has(metric, 'doubleValue')) return { ok: true, value: metric.doubleValue ?? 0 };
      return has(metric, 'floatValue') ? { ok: true, value: shortestFloat32(metric.floatValue ?? 0) } : missing;
    case 11:
      if (has(metric, 'booleanValue')) return { ok: true, value: metric.booleanValue === true };
      return int === undefined ? missing : { ok: true, value: int !== 0n };
    case 12:
    case 14:
    case 15:
      return has(metric, 'stringValue') ? { ok: true, value: metric.stringValue ?? '' } : missing;
    case undefined:
      return { ok: false, problem: 'no datatype (neither in the metric nor in a birth)' };
    default:
      return { ok: false, problem: `${typeName} is not supported as a reading` };
  }
}

/** The metric's own datatype; undefined when absent (protobufjs shows an absent proto2 field as its default, 0). */
function datatypeOf(metric: ProtoMetric): number | undefined {
  return has(metric, 'datatype') ? (metric.datatype ?? undefined) : undefined;
}

function engUnit(metric: ProtoMetric): string | undefined {
  const props = metric.properties;
  if (!props?.keys || !props.values) return undefined;
  const i = props.keys.findIndex((k) => k === 'engUnit' || k === 'EngUnit');
  const value = i >= 0 ? props.values[i] : undefined;
  return typeof value?.stringValue === 'string' ? value.stringValue : undefined;
}

function timeOf(value: number | LongLike | null | undefined): string | null {
  const ms = toBigInt(value);
  if (ms === undefined || ms <= 0n) return null;
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export class SparkplugBDecoder implements FormatDecoder {
  readonly format = 'sparkplug-b';
  readonly #driver: SparkplugDriverT;
  readonly #sessions: BoundedMap<string, NodeSession>;
  readonly #status: StatusTracker;
  readonly #deviceLimit: number;

  constructor(driver: SparkplugDriverT, options: FormatSubscription<object>['options'] = {}) {
    this.#driver = driver;
    const limit = options.maxDevices ?? driver.maxDevices;
    this.#deviceLimit = limit;
    this.#sessions = new BoundedMap(limit);
    this.#status = new StatusTracker(limit);
  }

  dynamicTopics(): string[] {
    return [];
  }

  claims(): boolean {
    return false;
  }

  #ignored(name: string): boolean {
    return this.#driver.ignoreMetrics.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
  }

  decode(message: FormatMessage, ctx: DecodeContext): FormatResult {
    const levels = message.topic.split('/');
    const [namespace, group, type, node, device, ...extra] = levels;
    if (namespace !== NAMESPACE) return rejected(ctx, `mqtt:${ctx.inputName}`, message, `not a Sparkplug B topic (expected ${NAMESPACE}/<group>/<type>/<node>[/<device>])`);
    if (group === 'STATE') return { drafts: [] }; // host application state: JSON, not protobuf
    if (type === 'NCMD' || type === 'DCMD') return { drafts: [] }; // commands to the edge, not telemetry
    const nodeKey = `${group}/${node}`;
    const isDeviceType = type === 'DBIRTH' || type === 'DDATA' || type === 'DDEATH';
    const isNodeType = type === 'NBIRTH' || type === 'NDATA' || type === 'NDEATH';
    if (group === undefined || node === undefined || node === '' || extra.length > 0 || (!isDeviceType && !isNodeType) || (isDeviceType && !device) || (isNodeType && device !== undefined)) {
      return rejected(ctx, `mqtt:${ctx.inputName}`, message, `unexpected Sparkplug B topic "${message.topic}" (expected ${NAMESPACE}/<group>/<NBIRTH|NDATA|NDEATH>/<node> or …/<DBIRTH|DDATA|DDEATH>/<node>/<device>)`);
    }
    const deviceId = isDeviceType ? `${nodeKey}/${device}` : nodeKey;
    let payload: ProtoPayload;
    try {
      payload = sparkplugPayload().decode(message.payload);
    } catch (err) {
      return rejected(ctx, deviceId, message, `invalid Sparkplug B protobuf payload: ${(err as Error).message}`);
    }
    const seqBig = toBigInt(payload.seq as number | LongLike | null | undefined);
    const seq = seqBig === undefined ? undefined : Number(seqBig);
    const payloadTime = timeOf(payload.timestamp as number | LongLike | null | undefined);
    const metrics = payload.metrics ?? [];
    const drafts: EventDraft[] = [];
    const problems: string[] = [];

    if (type === 'NDEATH') return { drafts: this.#nodeDeath(nodeKey, metrics, payloadTime, ctx) };

    let session = this.#sessions.get(nodeKey);
    if (type === 'NBIRTH') {
      const bdSeqMetric = metrics.find((m) => m.name === 'bdSeq');
      const bdSeq = bdSeqMetric ? toBigInt(bdSeqMetric.longValue as number | LongLike | null | undefined) ?? (bdSeqMetric.intValue ?? undefined) : undefined;
      session = { bdSeq: bdSeq === undefined ? undefined : String(bdSeq), lastSeq: seq, lastReceivedAt: ctx.receivedAt, node: emptyAliases(), devices: new BoundedMap(this.#deviceLimit) };
      this.#sessions.set(nodeKey, session);
      const status = this.#status.transition(nodeKey, 'online', `NBIRTH${session.bdSeq === undefined ? '' : ` bdSeq ${session.bdSeq}`}`, ctx, payloadTime);
      if (status) drafts.push(status);
    } else if (session !== undefined) {
      const gap = this.#checkSeq(session, nodeKey, seq, ctx);
      if (gap) drafts.push(gap);
    }

    if (type === 'DDEATH') {
      if (session && device !== undefined) session.devices.delete(device);
      const status = this.#status.transition(deviceId, 'offline', 'DDEATH', ctx, payloadTime);
      return { drafts: status ? [...drafts, status] : drafts };
    }

    let aliases: Aliases | undefined;
    if (type === 'DBIRTH') {
      if (session === undefined) {
        // A device birth without its node's birth (the gateway started mid-session): learn it, no seq check yet.
        session = { bdSeq: undefined, lastSeq: seq, lastReceivedAt: ctx.receivedAt, node: emptyAliases(), devices: new BoundedMap(this.#deviceLimit) };
        this.#sessions.set(nodeKey, session);
      }
      aliases = emptyAliases();
      session.devices.set(device ?? '', aliases);
      const status = this.#status.transition(deviceId, 'online', 'DBIRTH', ctx, payloadTime);
      if (status) drafts.push(status);
    } else if (type === 'NBIRTH') aliases = session?.node;
    else aliases = isDeviceType ? session?.devices.get(device ?? '') : session?.node;
    const isBirth = type === 'NBIRTH' || type === 'DBIRTH';

    for (const [index, metric] of metrics.entries()) {
      // An absent alias reads as protobufjs's default 0: only a present one is an alias (births mix both).
      const alias = has(metric, 'alias') ? toBigInt(metric.alias as number | LongLike | null | undefined)?.toString() : undefined;
      let info: MetricInfo | undefined;
      if (isBirth && aliases) {
        if (!metric.name) {
          problems.push(`metrics[${index}]: a birth metric without a name`);
          continue;
        }
        info = { name: metric.name, datatype: datatypeOf(metric), unit: ucum(engUnit(metric), this.#driver.units) };
        aliases.byName.set(info.name, info);
        if (alias !== undefined) {
          const earlier = aliases.byAlias.get(alias);
          if (earlier !== undefined && earlier !== null && earlier.name !== info.name) {
            problems.push(`alias ${alias} is bound to both "${earlier.name}" and "${info.name}" in this birth; data by this alias cannot be attributed`);
            aliases.byAlias.set(alias, null);
          } else if (earlier !== null) aliases.byAlias.set(alias, info);
        }
      } else if (metric.name) {
        info = aliases?.byName.get(metric.name) ?? { name: metric.name, datatype: datatypeOf(metric), unit: null };
      } else if (alias !== undefined) {
        const known = aliases?.byAlias.get(alias);
        if (known === null) {
          problems.push(`alias ${alias}: bound to several metrics by the birth; value dropped`);
          continue;
        }
        if (known === undefined) {
          const birth = isDeviceType ? 'DBIRTH' : 'NBIRTH';
          problems.push(aliases === undefined ? `alias ${alias}: unknown (no ${birth} seen in this session; the edge node must rebirth)` : `alias ${alias}: not defined by the last ${birth}`);
          continue;
        }
        info = known;
      } else {
        problems.push(`metrics[${index}]: neither a name nor an alias`);
        continue;
      }
      if (this.#ignored(info.name)) continue;
      const converted = metricValue(metric, datatypeOf(metric) ?? info.datatype);
      if (!converted.ok) {
        problems.push(`${info.name}: ${converted.problem}`);
        continue;
      }
      const sourceTime = timeOf(metric.timestamp as number | LongLike | null | undefined) ?? payloadTime;
      drafts.push(reading({ deviceId, metric: info.name, value: converted.value, unit: info.unit, sourceTime, source: message.topic }, ctx));
    }
    if (problems.length > 0) drafts.push(...rejected(ctx, deviceId, message, problems.join('; ')).drafts);
    return { drafts };
  }

  /** A gap draft when `seq` is not the next of the node's counter; a repeated seq is a duplicate, not a gap. */
  #checkSeq(session: NodeSession, nodeKey: string, seq: number | undefined, ctx: DecodeContext): EventDraft | undefined {
    const last = session.lastSeq;
    const previousAt = session.lastReceivedAt;
    session.lastReceivedAt = ctx.receivedAt;
    if (seq === undefined) return undefined;
    session.lastSeq = seq;
    if (last === undefined || seq === last) return undefined;
    const expected = (last + 1) % 256;
    if (seq === expected) return undefined;
    return {
      type: 'gap',
      deviceId: nodeKey,
      sourceTime: null,
      receivedAt: ctx.receivedAt,
      reason: `sparkplug-seq-jump: expected seq ${expected}, got ${seq}`,
      count: (seq - expected + 256) % 256,
      fromTime: previousAt,
      toTime: ctx.receivedAt,
    };
  }

  #nodeDeath(nodeKey: string, metrics: readonly ProtoMetric[], sourceTime: string | null, ctx: DecodeContext): EventDraft[] {
    const session = this.#sessions.get(nodeKey);
    const bdSeqMetric = metrics.find((m) => m.name === 'bdSeq');
    const bdSeq = bdSeqMetric ? toBigInt(bdSeqMetric.longValue as number | LongLike | null | undefined)?.toString() : undefined;
    // A will from an earlier session (its bdSeq differs from the current birth's) must not take the node down.
    if (session?.bdSeq !== undefined && bdSeq !== undefined && bdSeq !== session.bdSeq) return [];
    const drafts: EventDraft[] = [];
    const reason = `NDEATH${bdSeq === undefined ? '' : ` bdSeq ${bdSeq}`}`;
    const status = this.#status.transition(nodeKey, 'offline', reason, ctx, sourceTime);
    if (status) drafts.push(status);
    // The node's devices go with it.
    for (const device of session?.devices.keys() ?? []) {
      const deviceStatus = this.#status.transition(`${nodeKey}/${device}`, 'offline', `${reason} (edge node died)`, ctx, sourceTime);
      if (deviceStatus) drafts.push(deviceStatus);
    }
    this.#sessions.delete(nodeKey);
    return drafts;
  }
}

/** Sparkplug datatypes the simulation uses. */
const UINT16 = 6;
const UINT64 = 8;
const FLOAT = 9;
const DOUBLE = 10;
const BOOLEAN = 11;

interface SimulatedNode {
  node: string;
  device: string;
  seq: number;
  walks: Record<string, Walk>;
  running: boolean;
}

/**
 * Simulated Sparkplug B edge nodes, one per device name, each with one device (Pump1): NBIRTH (bdSeq, Node
 * Control/Rebirth, a Double temperature with engUnit), DBIRTH (UInt16 speed, Float flow, Boolean running, with
 * aliases), then NDATA/DDATA by alias only, seq counting modulo 256; DDEATH and NDEATH (same bdSeq) on stop.
 */
class SparkplugSimulator {
  readonly #group: string;
  readonly #random: () => number;
  readonly #nodes: SimulatedNode[];
  readonly #bdSeq = 0;

  constructor(setup: SimulationSetup) {
    this.#group = setup.base;
    this.#random = setup.random;
    this.#nodes = setup.devices.map((node, i) => ({
      node,
      device: 'Pump1',
      seq: 0,
      running: true,
      walks: { temperature: new Walk(38.5 + i, 20, 80, 0.4, 2), speed: new Walk(1450, 0, 3000, 30, 0), flow: new Walk(12.5, 0, 40, 0.3, 2) },
    }));
  }

  #message(type: string, n: SimulatedNode, nowMs: number, metrics: object[], withSeq = true): SimulatedMessage {
    const onDevice = type.startsWith('D');
    const topic = `${NAMESPACE}/${this.#group}/${type}/${n.node}${onDevice ? `/${n.device}` : ''}`;
    const payload = { timestamp: nowMs, metrics, ...(withSeq ? { seq: n.seq } : {}) };
    if (withSeq) n.seq = (n.seq + 1) % 256;
    const codec = sparkplugPayload();
    return { topic, payload: Buffer.from(codec.encode(codec.fromObject(payload)).finish()) };
  }

  start(nowMs: number): SimulatedMessage[] {
    const unit = (u: string) => ({ properties: { keys: ['engUnit'], values: [{ type: 12, stringValue: u }] } });
    return this.#nodes.flatMap((n) => {
      n.seq = 0;
      return [
        this.#message('NBIRTH', n, nowMs, [
          { name: 'bdSeq', datatype: UINT64, longValue: this.#bdSeq },
          { name: 'Node Control/Rebirth', datatype: BOOLEAN, booleanValue: false },
          { name: 'Cabinet Temperature', alias: 1, datatype: DOUBLE, doubleValue: n.walks.temperature?.value, ...unit('Cel') },
        ]),
        this.#message('DBIRTH', n, nowMs, [
          { name: 'Speed', alias: 2, datatype: UINT16, intValue: n.walks.speed?.value, ...unit('rpm') },
          { name: 'Flow', alias: 3, datatype: FLOAT, floatValue: n.walks.flow?.value, ...unit('m3/h') },
          { name: 'Running', alias: 4, datatype: BOOLEAN, booleanValue: n.running },
        ]),
      ];
    });
  }

  round(nowMs: number): SimulatedMessage[] {
    const r = this.#random;
    return this.#nodes.flatMap((n) => {
      const metrics: object[] = [
        { alias: 2, intValue: n.walks.speed?.next(r) },
        { alias: 3, floatValue: n.walks.flow?.next(r) },
      ];
      if (r() < 0.05) {
        n.running = !n.running;
        metrics.push({ alias: 4, booleanValue: n.running });
      }
      return [this.#message('NDATA', n, nowMs, [{ alias: 1, doubleValue: n.walks.temperature?.next(r) }]), this.#message('DDATA', n, nowMs, metrics)];
    });
  }

  stop(nowMs: number): SimulatedMessage[] {
    // NDEATH is normally the MQTT will; a node shutting down cleanly publishes it itself. It carries no seq.
    return this.#nodes.flatMap((n) => [this.#message('DDEATH', n, nowMs, []), this.#message('NDEATH', n, nowMs, [{ name: 'bdSeq', datatype: UINT64, longValue: this.#bdSeq }], false)]);
  }
}

export const sparkplugBFormat = defineMqttFormat<SparkplugDriverT, object>({
  name: 'sparkplug-b',
  driver: SparkplugDriver,
  options: {},
  create: (driver, options) => new SparkplugBDecoder(driver, options),
  simulation: {
    defaultDevices: ['Edge1'],
    defaultBase: 'Simulated',
    baseMeans: 'the Sparkplug group id',
    subscription: (base) => ({ topics: [`${NAMESPACE}/${base}/#`] }),
    create: (_driver, setup) => new SparkplugSimulator(setup),
  },
});
