/**
 * The JSON behind the status page (/api/status). Only figures, names and states: never a secret, a URL with
 * credentials or a config value beyond input and device names.
 */
import type { Quality, ReadingValue } from '../events/schema.js';
import { unitDisplay } from '../events/units.js';
import type { InputConnection } from '../inputs/input.js';
import type { BufferFigures, Figures, HistoryPoint } from './figures.js';
import type { Liveness, Readiness } from './health.js';
import type { ActiveAlarm, DeadLetterSource, DeviceState } from './observer.js';

/** The latest value of one metric of a device. */
export interface StatusMetric {
  metric: string;
  value: ReadingValue;
  /** UCUM code as the event carries it (null: none); how people write and name it: Status.units. */
  unit: string | null;
  quality: Quality;
  ageSeconds: number;
}

export interface StatusDevice {
  deviceId: string;
  input: string;
  state: DeviceState;
  reason: string;
  stateSinceSeconds: number;
  lastReadingAgeSeconds: number | null;
  /** Latest value of each metric, in the order they first arrived. */
  metrics: StatusMetric[];
  /** Metrics beyond the number kept per device. */
  metricsNotListed: number;
  activeAlarms: number;
  events: number;
  eventsPerSecond: number;
  deadLetters: number;
  badReadings: number;
}

export interface StatusInputMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels: Record<string, string>;
  value: number;
}

export interface StatusInput {
  name: string;
  /** From the input's connection(), else its `*_connected` gauge; null when it reports neither. */
  connected: boolean | null;
  connection: (Omit<InputConnection, 'since'> & { sinceSeconds: number | null }) | null;
  eventsIngested: number;
  deadLetters: number;
  commitFailures: number;
  metrics: StatusInputMetric[];
}

/** An active alarm as the page shows it: how long it has been active instead of since when. */
export type StatusAlarm = Omit<ActiveAlarm, 'since' | 'lastSeen'> & { activeSeconds: number };

/** Where dead letters came from (topic, serial port, Modbus request or MLLP peer), with how long since the last. */
export type StatusDeadLetterSource = Omit<DeadLetterSource, 'firstSeen' | 'lastSeen'> & { lastSeenAgeSeconds: number };

export interface Status {
  gatewayId: string;
  time: string;
  uptimeSeconds: number;
  live: Liveness;
  ready: Readiness;
  buffer: BufferFigures;
  kafka: { connected: boolean; lastError: string | null; sentEvents: number; sentBatches: number; failedSends: number };
  /** null without kafka.schemaRegistry; ready false while delivery waits for the registry (events stay buffered). */
  schemaRegistry: { ready: boolean; lastError: string | null; lastErrorCode: string | null; subjects: { subject: string; id: number }[] } | null;
  rates: { inPerSecond: number; outPerSecond: number };
  inputs: StatusInput[];
  devices: StatusDevice[];
  /** Every unit code of `devices[].metrics`: its symbol ('°C' for Cel; '' for dimensionless) and name, once each. */
  units: Record<string, { symbol: string; name: string | null }>;
  /** Active alarms, most severe first. */
  alarms: StatusAlarm[];
  /** Alarm activations not kept since start because that many alarms were active already. */
  alarmsNotListed: number;
  /** Every dead letter since start, and where the recent ones came from (most recent first). */
  deadLetters: { total: number; sources: StatusDeadLetterSource[]; sourcesNotListed: number };
  devicesUntracked: number;
  maxDevices: number;
  history: readonly HistoryPoint[];
}

const round = (n: number): number => Math.round(n * 100) / 100;

export function buildStatus(figures: Figures, live: Liveness, ready: Readiness): Status {
  const now = figures.now();
  const observer = figures.observer;
  const f = figures.forwarder();
  const last = figures.history.at(-1);
  const seconds = (since: number): number => round(Math.max(0, now - since) / 1000);
  const inputs: StatusInput[] = figures.view.inputs().map((input) => {
    const counters = observer.inputs.get(input.name);
    let metrics: StatusInputMetric[] = [];
    try {
      metrics = (input.metrics?.() ?? []).map((m) => ({ name: m.name, help: m.help, type: m.type, labels: { ...m.labels }, value: m.value }));
    } catch {
      // reported by /metrics; the page shows the input without them
    }
    let connection: StatusInput['connection'] = null;
    try {
      const c = input.connection?.();
      if (c) connection = { state: c.state, endpoint: c.endpoint, ...(c.detail === undefined ? {} : { detail: c.detail }), sinceSeconds: c.since === undefined ? null : seconds(c.since) };
    } catch {
      // an input whose connection() throws shows its gauge, if any
    }
    const connectedMetric = metrics.find((m) => m.name.endsWith('_connected') && Object.keys(m.labels).length === 0);
    let eventsIngested = 0;
    for (const n of counters?.eventsByType.values() ?? []) eventsIngested += n;
    return {
      name: input.name,
      connected: connection ? connection.state === 'connected' || connection.state === 'listening' : connectedMetric ? connectedMetric.value > 0 : null,
      connection,
      eventsIngested,
      deadLetters: counters?.deadLetters ?? 0,
      commitFailures: counters?.commitFailures ?? 0,
      metrics,
    };
  });
  const units: Status['units'] = {};
  const alarmsByDevice = new Map<string, number>();
  for (const a of observer.activeAlarms) alarmsByDevice.set(a.deviceId, (alarmsByDevice.get(a.deviceId) ?? 0) + 1);
  const devices: StatusDevice[] = observer.devices
    .map((d) => ({
      deviceId: d.deviceId,
      input: d.input,
      state: d.state,
      reason: d.reason,
      stateSinceSeconds: round((now - d.stateSince) / 1000),
      lastReadingAgeSeconds: d.lastReadingAt === null ? null : seconds(d.lastReadingAt),
      metrics: [...d.metrics].map(([metric, v]) => {
        if (v.unit !== null && !(v.unit in units)) units[v.unit] = unitDisplay(v.unit);
        return { metric, value: v.value, unit: v.unit, quality: v.quality, ageSeconds: seconds(v.at) };
      }),
      metricsNotListed: d.metricsUntracked,
      activeAlarms: alarmsByDevice.get(d.deviceId) ?? 0,
      events: d.events,
      eventsPerSecond: round(d.eventsPerSecond),
      deadLetters: d.deadLetters,
      badReadings: d.badReadings,
    }))
    .sort((a, b) => a.input.localeCompare(b.input) || a.deviceId.localeCompare(b.deviceId, undefined, { numeric: true }));
  return {
    gatewayId: figures.view.gatewayId,
    time: new Date(now).toISOString(),
    uptimeSeconds: Math.round(figures.uptimeSeconds),
    live,
    ready,
    buffer: figures.buffer(),
    kafka: {
      connected: f?.connected ?? false,
      lastError: f?.lastError ?? null,
      sentEvents: f?.sentEvents ?? 0,
      sentBatches: f?.sentBatches ?? 0,
      failedSends: f?.failedSends ?? 0,
    },
    schemaRegistry: registryStatus(figures),
    rates: { inPerSecond: round(last?.inPerSecond ?? 0), outPerSecond: round(last?.outPerSecond ?? 0) },
    inputs,
    devices,
    units,
    alarms: observer.activeAlarms.map((a) => ({
      input: a.input,
      deviceId: a.deviceId,
      alarm: a.alarm,
      severity: a.severity,
      message: a.message,
      metric: a.metric,
      value: a.value,
      activeSeconds: seconds(a.since),
    })),
    alarmsNotListed: observer.alarmsUntracked,
    deadLetters: {
      total: [...observer.inputs.values()].reduce((n, c) => n + c.deadLetters, 0),
      sources: observer.deadLetterSources.map((d) => ({
        input: d.input,
        source: d.source,
        deviceId: d.deviceId,
        count: d.count,
        lastReason: d.lastReason,
        lastSeenAgeSeconds: seconds(d.lastSeen),
      })),
      sourcesNotListed: observer.deadLetterSourcesDropped,
    },
    devicesUntracked: observer.untrackedDevices,
    maxDevices: observer.maxDevices,
    history: figures.history,
  };
}

function registryStatus(figures: Figures): Status['schemaRegistry'] {
  const state = figures.view.schemaRegistry?.();
  if (!state?.configured) return null;
  return { ready: state.ready, lastError: state.lastError, lastErrorCode: state.lastErrorCode, subjects: state.subjects };
}
